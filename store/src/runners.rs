//! `runners`: each runner process registers at start, heartbeats while alive, and marks itself
//! stopped on a graceful shutdown.

use crate::{Db, Result};
use sbx_core::ids::RunnerId;

/// Register a runner; returns its id.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn register(db: &impl Db, hostname: &str, slots: i32) -> Result<RunnerId> {
    let id = RunnerId::new();
    db.execute(
        "insert into runners (runner_id, hostname, pid, slots) values ($1, $2, $3, $4)",
        &[&id.0, &hostname, &(std::process::id() as i32), &slots],
    )
    .await?;
    Ok(id)
}

/// Say the runner is alive.
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn heartbeat(db: &impl Db, runner: RunnerId) -> Result<()> {
    db.execute(
        "update runners set heartbeat_at = now() where runner_id = $1",
        &[&runner.0],
    )
    .await?;
    Ok(())
}

/// Record where runner `runner`'s internal endpoint answers (`http://host:port`).
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn set_internal_url(db: &impl Db, runner: RunnerId, url: &str) -> Result<()> {
    db.execute(
        "update runners set internal_url = $2 where runner_id = $1",
        &[&runner.0, &url],
    )
    .await?;
    Ok(())
}

/// Mark the runner stopped; its internal endpoint is no longer reached.
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn stopped(db: &impl Db, runner: RunnerId) -> Result<()> {
    db.execute(
        "update runners set stopped_at = now(), internal_url = null where runner_id = $1",
        &[&runner.0],
    )
    .await?;
    Ok(())
}

/// Runners that heartbeat within the last `secs` seconds and have not stopped.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn live(db: &impl Db, secs: f64) -> Result<i64> {
    let row = db
        .query_one(
            "select count(*) from runners where stopped_at is null and heartbeat_at > now() - make_interval(secs => $1)",
            &[&secs],
        )
        .await?;
    Ok(row.get(0))
}

/// What runner `runner` offers to container sandboxes: CPU, memory, its GPU cards, and the
/// runtime its containers run under (`runsc` or `runc`).
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn set_capacity(
    db: &impl Db,
    runner: RunnerId,
    cpu_millis: i32,
    memory_bytes: i64,
    gpus: &serde_json::Value,
    container_runtime: &str,
) -> Result<()> {
    db.execute(
        "update runners set cpu_millis = $2, memory_bytes = $3, gpus = $4, container_runtime = $5
             where runner_id = $1",
        &[
            &runner.0,
            &cpu_millis,
            &memory_bytes,
            gpus,
            &container_runtime,
        ],
    )
    .await?;
    Ok(())
}

/// The container runtimes of live runners (heartbeat within `secs` seconds), each once,
/// sorted: `["runsc"]` on a deployment whose runners all run gVisor.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn container_runtimes(db: &impl Db, secs: f64) -> Result<Vec<String>> {
    let rows = db
        .query(
            "select distinct container_runtime from runners
              where container_runtime is not null and stopped_at is null
                and heartbeat_at > now() - make_interval(secs => $1)
              order by 1",
            &[&secs],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The GPU cards of live runners (heartbeat within `secs` seconds), with the allocations of
/// the sandboxes they hold: `(runner, cards, [gpu_alloc])`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn gpu_books(
    db: &impl Db,
    secs: f64,
) -> Result<Vec<(uuid::Uuid, serde_json::Value, Vec<serde_json::Value>)>> {
    let rows = db
        .query(
            "select r.runner_id, r.gpus,
                    coalesce(array_agg(s.gpu_alloc) filter (where s.gpu_alloc is not null), '{}')
                        as allocations
             from runners r
             left join sandboxes s on s.holder = r.runner_id and s.state in ('pending', 'running')
             where r.stopped_at is null and r.gpus is not null
               and r.heartbeat_at > now() - make_interval(secs => $1)
             group by r.runner_id, r.gpus",
            &[&secs],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("runner_id"), r.get("gpus"), r.get("allocations")))
        .collect())
}

/// Which of `runners` this database knows, and whether each is alive (heartbeat within `secs`
/// seconds, not stopped). Runners it does not know are left out.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn liveness(
    db: &impl Db,
    runners: &[uuid::Uuid],
    secs: f64,
) -> Result<Vec<(uuid::Uuid, bool)>> {
    let rows = db
        .query(
            "select runner_id,
                    stopped_at is null and heartbeat_at > now() - make_interval(secs => $2) as alive
             from runners where runner_id = any($1)",
            &[&runners, &secs],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("runner_id"), r.get("alive")))
        .collect())
}
