//! Container jobs: a job row and the container sandbox that runs it, made in one transaction;
//! started, ended with the command's result and its artifacts (files under `/outputs`).

use sbx_core::exec::ExecStatus;
use sbx_core::ids::{ApiKeyId, JobId, ProjectId};
use sbx_core::sandbox::{SandboxKind, StateReason};
use tokio_postgres::types::Json;

use crate::sandboxes::NewSandbox;
use crate::{Db, Pool, Result};

/// A container job to create.
pub struct NewContainerJob<'a> {
    /// Its id.
    pub job_id: JobId,
    /// The request as recorded (no secrets).
    pub request: &'a serde_json::Value,
    /// Where to announce its end.
    pub callback_url: Option<&'a str>,
    /// The sandbox that runs it.
    pub sandbox: &'a NewSandbox,
}

/// Insert `job` (queued) and its sandbox (pending) together.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn create(
    pool: &Pool,
    project: ProjectId,
    key: Option<ApiKeyId>,
    job: &NewContainerJob<'_>,
) -> Result<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "insert into jobs (job_id, project_id, api_key_id, kind, status, language, request,
                           callback_url, idempotency_key, request_hash)
         values ($1, $2, $3, 'container', 'queued', 'container', $4, $5, $6, $7)",
        &[
            &job.job_id.0,
            &project.0,
            &key.map(|k| k.0),
            job.request,
            &job.callback_url,
            &job.sandbox.idempotency.as_ref().map(|i| i.0.as_str()),
            &job.sandbox.idempotency.as_ref().map(|i| i.1.as_slice()),
        ],
    )
    .await?;
    let s = job.sandbox;
    tx.execute(
        "insert into sandboxes (sandbox_id, project_id, api_key_id, image, kind, memory_bytes,
             cpu_millis, gpu, env_keys, command, timeout_s, expires_at, network, docker_image,
             registry_auth, env_sealed, job_id, disk_bytes, egress, ports)
         values ($1, $2, $3, $4, $16, $5, $6, $7, $8, $9, $10,
                 now() + $10::int * interval '1 second', $11, $12, $13, $14, $15, $17, $18, $19)",
        &[
            &s.sandbox_id.0,
            &project.0,
            &key.map(|k| k.0),
            &s.image,
            &s.memory_bytes,
            &s.cpu_millis,
            &s.gpu.as_ref().map(Json),
            &s.env_keys,
            &s.command.as_ref().map(Json),
            &s.timeout_s,
            &s.network,
            &s.docker_image,
            &s.registry_auth,
            &s.env_sealed,
            &job.job_id.0,
            &SandboxKind::Container.as_str(),
            &s.disk_bytes,
            &s.egress,
            &s.ports,
        ],
    )
    .await?;
    tx.execute(
        "update jobs set sandbox_id = $2 where job_id = $1",
        &[&job.job_id.0, &s.sandbox_id.0],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Job `job`'s container runs.
#[tracing::instrument(level = "debug", skip_all, fields(job = %job))]
pub async fn started(db: &impl Db, job: JobId) -> Result<()> {
    db.execute(
        "update jobs set status = 'running', started_at = coalesce(started_at, now())
             where job_id = $1 and finished_at is null",
        &[&job.0],
    )
    .await?;
    Ok(())
}

/// How a container job ended.
pub struct Ending<'a> {
    /// How the job ended: `succeeded`, `failed`, `timeout`, `memory_limit`, `cancelled`,
    /// `error`.
    pub status: ExecStatus,
    /// The command's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The result document.
    pub result: &'a serde_json::Value,
    /// Files under `/outputs`: (path, bytes).
    pub artifacts: &'a [(String, Vec<u8>)],
}

/// End job `job` with `ending`, keeping its artifacts; nothing if it has ended already.
#[tracing::instrument(level = "debug", skip_all, fields(job = %job))]
pub async fn finish(pool: &Pool, job: JobId, ending: &Ending<'_>) -> Result<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let updated = tx
        .execute(
            "update jobs set status = $2, exit_code = $3, result = $4, finished_at = now(),
                 started_at = coalesce(started_at, now()),
                 duration_ms = extract(epoch from now() - coalesce(started_at, created_at)) * 1000,
                 wall_ms = extract(epoch from now() - coalesce(started_at, now())) * 1000
             where job_id = $1 and finished_at is null",
            &[
                &job.0,
                &ending.status.as_str(),
                &ending.exit_code,
                ending.result,
            ],
        )
        .await?;
    if updated == 0 {
        return Ok(false);
    }
    for (path, data) in ending.artifacts {
        tx.execute(
            "insert into job_artifacts (job_id, path, size, data) values ($1, $2, $3, $4)
             on conflict (job_id, path) do update set size = excluded.size, data = excluded.data",
            &[&job.0, path, &(data.len() as i64), data],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Artifact `path` of job `job` of `project`.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, job = %job))]
pub async fn artifact(
    db: &impl Db,
    project: ProjectId,
    job: JobId,
    path: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(db
        .query_opt(
            "select a.data from job_artifacts a join jobs j using (job_id)
             where a.job_id = $1 and j.project_id = $2 and a.path = $3",
            &[&job.0, &project.0, &path],
        )
        .await?
        .map(|r| r.get(0)))
}

/// The sandbox running container job `job` of `project`.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, job = %job))]
pub async fn sandbox_of(
    db: &impl Db,
    project: ProjectId,
    job: JobId,
) -> Result<Option<sbx_core::ids::SandboxId>> {
    Ok(db
        .query_opt(
            "select sandbox_id from jobs where job_id = $1 and project_id = $2 and kind = 'container'",
            &[&job.0, &project.0],
        )
        .await?
        .and_then(|r| r.get::<_, Option<uuid::Uuid>>(0))
        .map(sbx_core::ids::SandboxId))
}

/// End the container jobs whose sandbox ended `grace_s` seconds ago or more without its runner
/// ending the job (never placed, failed to start, its runner lost): `timeout` when the sandbox
/// timed out, `cancelled` when its owner ended it, else `error`. Returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn finish_orphans(db: &impl Db, grace_s: f64) -> Result<u64> {
    // The status each reason ends a job with, as `StateReason::ended_job_status` says.
    let status = format!(
        "case s.state_reason {} else '{}' end",
        StateReason::ALL
            .iter()
            .map(|r| format!("when '{r}' then '{}'", r.ended_job_status()))
            .collect::<Vec<_>>()
            .join(" "),
        ExecStatus::Error
    );
    db.execute(
        &format!(
            "update jobs j set
                 status = {status},
                 finished_at = now(),
                 result = jsonb_build_object(
                     'status', {status},
                     'sandbox_id', s.sandbox_id, 'reason', s.state_reason,
                     'detail', s.state_detail, 'artifacts', '[]'::jsonb)
             from sandboxes s
             where s.job_id = j.job_id and j.finished_at is null
               and s.state in ('terminated', 'failed')
               and s.ended_at < now() - make_interval(secs => $1)"
        ),
        &[&grace_s],
    )
    .await
}
