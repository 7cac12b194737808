//! `webhook_endpoints`: where a project wants its sandbox events sent (`POST /v1/webhooks`).
//! The `sandbox_events` trigger queues a delivery in the webhook outbox for every endpoint whose
//! filter takes an event; deliveries are signed with the project's secret.

use chrono::{DateTime, Utc};
use sbx_core::ids::ProjectId;

use crate::{Db, Result};

/// Endpoints one project may have.
pub const MAX_PER_PROJECT: i64 = 16;

/// One endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its id.
    pub endpoint_id: uuid::Uuid,
    /// Where deliveries go.
    pub url: String,
    /// The event types it takes (`sandbox.*`: all).
    pub events: Vec<String>,
    /// What the project calls it.
    pub description: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

fn endpoint(r: &tokio_postgres::Row) -> Result<Endpoint> {
    Ok(Endpoint {
        endpoint_id: r.try_get("endpoint_id")?,
        url: r.try_get("url")?,
        events: r.try_get("events")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Register an endpoint of `project`; `None` when the project has [`MAX_PER_PROJECT`]
/// already.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn create(
    db: &impl Db,
    project: ProjectId,
    url: &str,
    events: &[String],
    description: Option<&str>,
) -> Result<Option<Endpoint>> {
    // One statement: two creates at once cannot both pass the count.
    let row = db
        .query_opt(
            "insert into webhook_endpoints (endpoint_id, project_id, url, events, description)
             select $1, $2, $3, $4, $5
             where (select count(*) from webhook_endpoints where project_id = $2) < $6
             returning endpoint_id, url, events, description, created_at",
            &[
                &uuid::Uuid::now_v7(),
                &project.0,
                &url,
                &events,
                &description,
                &MAX_PER_PROJECT,
            ],
        )
        .await?;
    row.as_ref().map(endpoint).transpose()
}

/// `project`'s endpoints, oldest first.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn list(db: &impl Db, project: ProjectId) -> Result<Vec<Endpoint>> {
    db.query(
        "select endpoint_id, url, events, description, created_at from webhook_endpoints
         where project_id = $1 order by endpoint_id",
        &[&project.0],
    )
    .await?
    .iter()
    .map(endpoint)
    .collect()
}

/// Remove endpoint `id` of `project`; whether there was one. Deliveries already queued are
/// still sent.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn delete(db: &impl Db, project: ProjectId, id: uuid::Uuid) -> Result<bool> {
    Ok(db
        .execute(
            "delete from webhook_endpoints where project_id = $1 and endpoint_id = $2",
            &[&project.0, &id],
        )
        .await?
        > 0)
}
