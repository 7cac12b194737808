//! `runners`: each runner process registers at start, heartbeats while alive, and marks itself
//! stopped on a graceful shutdown.

use crate::ids::RunnerId;
use crate::{Pool, Result};

/// Register a runner; returns its id.
pub async fn register(pool: &Pool, hostname: &str, slots: i32) -> Result<RunnerId> {
    let id = RunnerId::new();
    let client = pool.get().await?;
    client
        .execute(
            "insert into runners (runner_id, hostname, pid, slots) values ($1, $2, $3, $4)",
            &[&id.0, &hostname, &(std::process::id() as i32), &slots],
        )
        .await?;
    Ok(id)
}

/// Say the runner is alive.
pub async fn heartbeat(pool: &Pool, runner: RunnerId) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute(
            "update runners set heartbeat_at = now() where runner_id = $1",
            &[&runner.0],
        )
        .await?;
    Ok(())
}

/// Mark the runner stopped.
pub async fn stopped(pool: &Pool, runner: RunnerId) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute(
            "update runners set stopped_at = now() where runner_id = $1",
            &[&runner.0],
        )
        .await?;
    Ok(())
}

/// Runners that heartbeat within the last `secs` seconds and have not stopped.
pub async fn live(pool: &Pool, secs: f64) -> Result<i64> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "select count(*) from runners where stopped_at is null and heartbeat_at > now() - make_interval(secs => $1)",
            &[&secs],
        )
        .await?;
    Ok(row.get(0))
}
