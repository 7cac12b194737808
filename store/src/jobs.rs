//! `jobs`: every exec is recorded here with what it asked for and what came of it.

use chrono::{DateTime, Utc};

use crate::{Db, GenericClient, Result};
use sbx_core::exec::ExecOutcome;
use sbx_core::ids::{ApiKeyId, JobId, ProjectId};

/// A job row.
#[derive(Debug, Clone)]
pub struct Job {
    /// The id.
    pub job_id: JobId,
    /// `exec`.
    pub kind: String,
    /// `queued`, `running`, or an exec status.
    pub status: String,
    /// `python` or `wasi`.
    pub language: String,
    /// The request, less file contents and module bytes.
    pub request: serde_json::Value,
    /// The outcome, once finished.
    pub result: Option<serde_json::Value>,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A finished synchronous exec, to record.
pub struct FinishedExec<'a> {
    /// Its id (already returned to the caller).
    pub job_id: JobId,
    /// The caller's project.
    pub project_id: ProjectId,
    /// The caller's key.
    pub api_key_id: Option<ApiKeyId>,
    /// `python` or `wasi`.
    pub language: &'a str,
    /// The request as recorded.
    pub request: &'a serde_json::Value,
    /// The outcome.
    pub outcome: &'a ExecOutcome,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// Record a finished synchronous exec: one insert, after the run, so the exec path pays one
/// round trip.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert_finished_exec(db: &impl Db, job: FinishedExec<'_>) -> Result<()> {
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "insert into jobs (job_id, project_id, api_key_id, kind, status, language, request, result,
                               exit_code, duration_ms, wall_ms, memory_peak_bytes, created_at, started_at,
                               finished_at)
             values ($1, $2, $3, 'exec', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, now())",
        )
        .await?;
    let result = serde_json::to_value(job.outcome).expect("an outcome serializes");
    client
        .execute(
            &stmt,
            &[
                &job.job_id.0,
                &job.project_id.0,
                &job.api_key_id.map(|k| k.0),
                &job.outcome.status.as_str(),
                &job.language,
                job.request,
                &result,
                &job.outcome.exit_code,
                &job.outcome.duration_ms,
                &job.outcome.usage.wall_ms,
                &(job.outcome.usage.memory_peak_bytes as i64),
                &job.started_at,
            ],
        )
        .await?;
    Ok(())
}

const JOB_COLUMNS: &str =
    "job_id, kind, status, language, request, result, created_at, started_at, finished_at";

fn job(r: &tokio_postgres::Row) -> Job {
    Job {
        job_id: JobId(r.get("job_id")),
        kind: r.get("kind"),
        status: r.get("status"),
        language: r.get("language"),
        request: r.get("request"),
        result: r.get("result"),
        created_at: r.get("created_at"),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
    }
}

/// The job `id` of `project`; `None` for another project's job, as for one that does not exist.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, id = %id))]
pub async fn get(db: &impl Db, project: ProjectId, id: JobId) -> Result<Option<Job>> {
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(&format!(
            "select {JOB_COLUMNS} from jobs where job_id = $1 and project_id = $2"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id.0, &project.0])
        .await?
        .as_ref()
        .map(job))
}

/// Up to `limit` jobs of `project`, newest first, older than `before` when given, with
/// `status` when given.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn list(
    db: &impl Db,
    project: ProjectId,
    status: Option<&str>,
    before: Option<JobId>,
    limit: i64,
) -> Result<Vec<Job>> {
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(&format!(
            "select {JOB_COLUMNS} from jobs
             where project_id = $1 and ($2::text is null or status = $2) and ($3::uuid is null or job_id < $3)
             order by job_id desc limit $4"
        ))
        .await?;
    let rows = client
        .query(&stmt, &[&project.0, &status, &before.map(|b| b.0), &limit])
        .await?;
    Ok(rows.iter().map(job).collect())
}

/// The job `project` created with Idempotency-Key `key`, with the hash of that request's body.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn by_idempotency_key(
    db: &impl Db,
    project: ProjectId,
    key: &str,
) -> Result<Option<(Job, Option<Vec<u8>>)>> {
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(&format!(
            "select {JOB_COLUMNS}, request_hash from jobs where project_id = $1 and idempotency_key = $2"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&project.0, &key])
        .await?
        .map(|r| (job(&r), r.get("request_hash"))))
}

/// Jobs of `project` waiting or running, and of everyone: what admission control checks.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn pending_counts(db: &impl Db, project: ProjectId) -> Result<(i64, i64)> {
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "select count(*) filter (where project_id = $1) as project, count(*) as everyone from queue",
        )
        .await?;
    let row = client.query_one(&stmt, &[&project.0]).await?;
    Ok((row.get("project"), row.get("everyone")))
}
