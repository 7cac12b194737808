//! The webhook outbox. A trigger (migration V3) writes a row when a job with a `callback_url`
//! ends, in the same transaction that ends it; senders lease due rows with
//! `FOR UPDATE SKIP LOCKED` (pushing `next_attempt_at` on by the lease), and record the answer:
//! delivered, retry later, or given up. A sender that dies mid-send loses nothing: its lease
//! runs out and another sends again, with the same `webhook-id`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{Db, GenericClient, Result};
use sbx_core::ids::{JobId, ProjectId};

/// An announcement a sender has leased.
#[derive(Debug, Clone)]
pub struct Due {
    /// The `webhook-id`: the same on every attempt.
    pub delivery_id: uuid::Uuid,
    /// The job that ended, for `job.ended`.
    pub job_id: Option<JobId>,
    /// The body of an event without a job (`budget.warning`, …), ready to send.
    pub payload: Option<serde_json::Value>,
    /// Its project.
    pub project_id: ProjectId,
    /// Where to send it.
    pub url: String,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// The project's signing secret (`whsec_…`).
    pub secret: String,
}

/// Lease up to `n` due announcements for `lease`: they are not due again before it runs out.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn lease_due(db: &impl Db, n: i64, lease: Duration) -> Result<Vec<Due>> {
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "with due as (
                 select delivery_id from webhook_deliveries
                 where delivered_at is null and failed_at is null and next_attempt_at <= now()
                 order by next_attempt_at
                 limit $1
                 for update skip locked
             )
             update webhook_deliveries d
             set attempts = d.attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond'
             from due, projects p
             where d.delivery_id = due.delivery_id and p.project_id = d.project_id
             returning d.delivery_id, d.job_id, d.payload, d.project_id, d.url, d.attempts,
                       p.webhook_secret",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&n, &(lease.as_millis() as f64)])
        .await?;
    Ok(rows
        .iter()
        .map(|r| Due {
            delivery_id: r.get("delivery_id"),
            job_id: r.get::<_, Option<uuid::Uuid>>("job_id").map(JobId),
            payload: r.get("payload"),
            project_id: ProjectId(r.get("project_id")),
            url: r.get("url"),
            attempts: r.get("attempts"),
            secret: r.get("webhook_secret"),
        })
        .collect())
}

/// When the next announcement falls due, if any is waiting.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn next_due(db: &impl Db) -> Result<Option<DateTime<Utc>>> {
    let row = db
        .query_one(
            "select min(next_attempt_at) from webhook_deliveries
             where delivered_at is null and failed_at is null",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// The receiver took `delivery`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delivered(db: &impl Db, delivery: uuid::Uuid) -> Result<()> {
    db.execute(
        "update webhook_deliveries set delivered_at = now(), last_error = null
             where delivery_id = $1",
        &[&delivery],
    )
    .await?;
    Ok(())
}

/// An attempt at `delivery` failed with `error`: try again after `retry_in`, or, with `None`,
/// give up.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn attempt_failed(
    db: &impl Db,
    delivery: uuid::Uuid,
    error: &str,
    retry_in: Option<Duration>,
) -> Result<()> {
    let client = db.client().await?;
    match retry_in {
        Some(wait) => {
            client
                .execute(
                    "update webhook_deliveries
                     set last_error = $2, next_attempt_at = now() + $3 * interval '1 millisecond'
                     where delivery_id = $1",
                    &[&delivery, &error, &(wait.as_millis() as f64)],
                )
                .await?
        }
        None => {
            client
                .execute(
                    "update webhook_deliveries set last_error = $2, failed_at = now()
                     where delivery_id = $1",
                    &[&delivery, &error],
                )
                .await?
        }
    };
    Ok(())
}

/// Queue event `payload` (its whole body) for `url`, signed with `project`'s secret like a
/// job's end, in `db`'s transaction; senders are woken by the `sbx_webhooks` notification.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn enqueue_event(
    db: &impl Db,
    project: ProjectId,
    url: &str,
    payload: &serde_json::Value,
) -> Result<()> {
    db.execute(
        "insert into webhook_deliveries (project_id, url, payload) values ($1, $2, $3)",
        &[&project.0, &url, payload],
    )
    .await?;
    db.execute(
        "select pg_notify('sbx_webhooks', $1)",
        &[&project.0.to_string()],
    )
    .await?;
    Ok(())
}

/// A project's signing secret.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn secret(db: &impl Db, project: ProjectId) -> Result<String> {
    let row = db
        .query_opt(
            "select webhook_secret from projects where project_id = $1",
            &[&project.0],
        )
        .await?
        .ok_or(crate::StoreError::NotFound("project"))?;
    Ok(row.get(0))
}
