//! `batches`: many exec items submitted at once (an eval), each item a job with a verdict.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;

use crate::{Db, Pool, Result};
use sbx_core::ids::{ApiKeyId, BatchId, JobId, ProjectId};
use sbx_core::notes::CANCEL as CHANNEL_CANCEL;

/// Insert the batch row (its items are queued with [`crate::queue::enqueue`] in the same `tx`),
/// with the request's Idempotency-Key and the SHA-256 of its body when it has one. A key this
/// project used already is [`crate::StoreError::Duplicate`].
#[tracing::instrument(level = "debug", skip_all, fields(batch = %batch, project = %project))]
pub async fn create(
    tx: &Transaction<'_>,
    batch: BatchId,
    project: ProjectId,
    key: Option<ApiKeyId>,
    total: i32,
    idempotency: Option<&(String, Vec<u8>)>,
) -> Result<()> {
    tx.execute(
        "insert into batches (batch_id, project_id, api_key_id, total, idempotency_key, request_hash)
         values ($1, $2, $3, $4, $5, $6)",
        &[
            &batch.0,
            &project.0,
            &key.map(|k| k.0),
            &total,
            &idempotency.map(|i| i.0.as_str()),
            &idempotency.map(|i| i.1.as_slice()),
        ],
    )
    .await?;
    Ok(())
}

/// The batch `project` created with Idempotency-Key `key`, with that request's body hash.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn by_idempotency_key(
    db: &impl Db,
    project: ProjectId,
    key: &str,
) -> Result<Option<(BatchId, Option<Vec<u8>>)>> {
    let row = db
        .query_opt(
            "select batch_id, request_hash from batches
             where project_id = $1 and idempotency_key = $2",
            &[&project.0, &key],
        )
        .await?;
    row.map(|r| Ok((BatchId(r.try_get("batch_id")?), r.try_get("request_hash")?)))
        .transpose()
}

/// Whether `project` has a batch `batch`.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, batch = %batch))]
pub async fn exists(db: &impl Db, project: ProjectId, batch: BatchId) -> Result<bool> {
    let row = db
        .query_opt(
            "select 1 from batches where batch_id = $1 and project_id = $2",
            &[&batch.0, &project.0],
        )
        .await?;
    Ok(row.is_some())
}

/// The ids of `project`'s batches older than `before` (all when `None`), newest first.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn list(
    db: &impl Db,
    project: ProjectId,
    before: Option<BatchId>,
    limit: i64,
) -> Result<Vec<BatchId>> {
    let rows = db
        .query(
            "select batch_id from batches
             where project_id = $1 and ($2::uuid is null or batch_id < $2)
             order by batch_id desc limit $3",
            &[&project.0, &before.map(|b| b.0), &limit],
        )
        .await?;
    Ok(rows.iter().map(|r| BatchId(r.get("batch_id"))).collect())
}

/// Where a batch stands.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Items in it.
    pub total: i32,
    /// Items by verdict, or by status for those not ended (`queued`, `running`).
    pub counts: BTreeMap<String, i64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When its last item ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The summary of `batch` of `project`; `None` if there is none.
///
/// Counting reads every item (about 8 ms for 10 000) and clients poll running batches, so a
/// running batch's counts are reused for up to [`COUNTS_FRESH_FOR`] in this process. A cancel
/// or the end is seen at once: counts are taken again when either is first read. An ended
/// batch's counts are then kept, since they no longer change.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, batch = %batch))]
pub async fn summary(db: &impl Db, project: ProjectId, batch: BatchId) -> Result<Option<Summary>> {
    use crate::GenericClient as _;
    let client = db.client().await?;
    let Some(row) = client
        .query_opt(
            "select total, created_at, cancelled_at, finished_at from batches where batch_id = $1 and project_id = $2",
            &[&batch.0, &project.0],
        )
        .await?
    else {
        return Ok(None);
    };
    let (cancelled_at, finished_at): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        (row.get("cancelled_at"), row.get("finished_at"));
    let state = (cancelled_at, finished_at);
    let cached = COUNTS
        .lock()
        .expect("counts lock")
        .get(&batch.0)
        .and_then(|c| {
            let fresh =
                c.state == state && (c.state.1.is_some() || c.at.elapsed() < COUNTS_FRESH_FOR);
            fresh.then(|| c.counts.clone())
        });
    let counts = match cached {
        Some(c) => c,
        None => {
            let counts: BTreeMap<String, i64> = client
                .query(
                    "select coalesce(verdict, status) as verdict, count(*) as n
                     from jobs where batch_id = $1 group by 1",
                    &[&batch.0],
                )
                .await?
                .iter()
                .map(|r| (r.get::<_, String>("verdict"), r.get::<_, i64>("n")))
                .collect();
            let mut cache = COUNTS.lock().expect("counts lock");
            if cache.len() >= COUNTS_KEPT {
                cache.retain(|_, c| c.at.elapsed() < COUNTS_FRESH_FOR);
            }
            cache.insert(
                batch.0,
                CachedCounts {
                    at: std::time::Instant::now(),
                    state,
                    counts: counts.clone(),
                },
            );
            counts
        }
    };
    Ok(Some(Summary {
        total: row.get("total"),
        counts,
        created_at: row.get("created_at"),
        cancelled_at,
        finished_at,
    }))
}

/// How long a running batch's counts are reused.
pub const COUNTS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);
/// Batches whose counts are kept; past it, the stale ones are dropped.
const COUNTS_KEPT: usize = 1024;

struct CachedCounts {
    at: std::time::Instant,
    /// The batch's (cancelled_at, finished_at) when counted: counts are reused only while
    /// these stay the same, so an end or a cancel is seen at once.
    state: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    counts: BTreeMap<String, i64>,
}

static COUNTS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<uuid::Uuid, CachedCounts>>,
> = std::sync::LazyLock::new(Default::default);

/// One item's result.
#[derive(Debug, Clone)]
pub struct ItemResult {
    /// The job.
    pub job_id: JobId,
    /// The caller's item id.
    pub item_id: String,
    /// `queued`, `running` or an exec status.
    pub status: String,
    /// The verdict once ended.
    pub verdict: Option<String>,
    /// The outcome once ended.
    pub result: Option<serde_json::Value>,
}

/// Up to `limit` item results of `batch` of `project` after `after`, in submission order.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, batch = %batch))]
pub async fn results(
    db: &impl Db,
    project: ProjectId,
    batch: BatchId,
    after: Option<JobId>,
    limit: i64,
) -> Result<Vec<ItemResult>> {
    use crate::GenericClient as _;
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "select job_id, item_id, status, verdict, result from jobs
             where batch_id = $1 and project_id = $2 and ($3::uuid is null or job_id > $3)
             order by job_id limit $4",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&batch.0, &project.0, &after.map(|a| a.0), &limit])
        .await?;
    Ok(rows
        .iter()
        .map(|r| ItemResult {
            job_id: JobId(r.get("job_id")),
            item_id: r.get("item_id"),
            status: r.get("status"),
            verdict: r.get("verdict"),
            result: r.get("result"),
        })
        .collect())
}

/// Cancel `batch`: its queued items end `cancelled` now, its running ones are told to stop.
/// `false` if there is no such batch.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, batch = %batch))]
pub async fn cancel(pool: &Pool, project: ProjectId, batch: BatchId) -> Result<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let found = tx
        .execute(
            "update batches set cancelled_at = coalesce(cancelled_at, now()) where batch_id = $1 and project_id = $2",
            &[&batch.0, &project.0],
        )
        .await?;
    if found == 0 {
        return Ok(false);
    }
    let result = serde_json::json!({"status": "cancelled", "message": "its batch was cancelled before it ran"});
    tx.execute(
        "with gone as (
             delete from queue q using jobs j
             where q.job_id = j.job_id and j.batch_id = $1 and q.state = 'queued' returning q.job_id
         )
         update jobs j set status = 'cancelled', verdict = 'cancelled', finished_at = now(), result = $2
         from gone where j.job_id = gone.job_id",
        &[&batch.0, &result],
    )
    .await?;
    let running = tx
        .query(
            "update queue q set cancel_requested = true from jobs j
             where q.job_id = j.job_id and j.batch_id = $1 and q.state = 'running' returning q.job_id",
            &[&batch.0],
        )
        .await?;
    for r in &running {
        tx.execute(
            "select pg_notify($1, $2)",
            &[&CHANNEL_CANCEL, &r.get::<_, uuid::Uuid>(0).to_string()],
        )
        .await?;
    }
    tx.execute(
        "update batches set finished_at = now()
         where batch_id = $1 and finished_at is null
           and not exists (select 1 from jobs where batch_id = $1 and finished_at is null)",
        &[&batch.0],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
