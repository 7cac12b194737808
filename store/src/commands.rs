//! `sandbox_commands`: commands run in container sandboxes, through the database. The API
//! writes one and announces it; the runner that holds the sandbox, on whatever host, runs it
//! and writes its outcome; the API, woken by a note, takes the outcome and the row with it.
//! API and runners need to share nothing but the database.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::SandboxId;
use crate::sandboxes::CHANNEL;
use crate::{Pool, Result};

/// A command's result inside a container sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CommandOutcome {
    /// `succeeded` (exit 0), `failed`, `timeout` or `output_limit`.
    pub status: String,
    /// The exit code, when the command exited.
    pub exit_code: Option<i64>,
    /// Standard output, cut at the cap.
    pub stdout: String,
    /// Standard error, cut at the cap.
    pub stderr: String,
    /// Whether output was cut.
    pub truncated: bool,
    /// Wall time in milliseconds, as the runner measured it.
    pub duration_ms: f64,
}

/// What the runner recorded: the outcome, or why the command could not run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    /// It ran.
    Ran(CommandOutcome),
    /// It could not run (the container was gone, Docker refused it).
    Error(String),
}

/// A command a runner is to run.
#[derive(Debug, Clone)]
pub struct Command {
    /// Its id.
    pub command_id: uuid::Uuid,
    /// In which sandbox.
    pub sandbox_id: SandboxId,
    /// The argument vector.
    pub argv: Vec<String>,
    /// Its time limit.
    pub timeout_ms: i64,
    /// Bytes kept per stream.
    pub output_cap: i64,
}

/// Ask for `argv` to run in sandbox `sandbox` and tell the runners (`exec:<sandbox>:<command>`
/// on [`CHANNEL`]): the command's id.
pub async fn submit(
    pool: &Pool,
    sandbox: SandboxId,
    argv: &[String],
    timeout_ms: i64,
    output_cap: i64,
) -> Result<uuid::Uuid> {
    let id = uuid::Uuid::now_v7();
    let client = pool.get().await?;
    client
        .execute(
            "with ins as (
                 insert into sandbox_commands (command_id, sandbox_id, argv, timeout_ms, output_cap)
                 values ($1, $2, $3, $4, $5)
             )
             select pg_notify($6, 'exec:' || $2::text || ':' || $1::text)",
            &[&id, &sandbox.0, &argv, &timeout_ms, &output_cap, &CHANNEL],
        )
        .await?;
    Ok(id)
}

/// How long past its own time limit a command nobody took may still be taken: its caller
/// has given up by then (the API waits the limit and 15 s).
pub const TAKE_GRACE_SECS: f64 = 10.0;

/// Take command `id` to run it: `None` if it is gone, another runner took it, or its caller
/// has given up on it (older than its time limit and [`TAKE_GRACE_SECS`]).
pub async fn take(pool: &Pool, id: uuid::Uuid) -> Result<Option<Command>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "update sandbox_commands set started_at = now()
             where command_id = $1 and started_at is null
               and created_at > now() - make_interval(secs => $2::float8 + timeout_ms::float8 / 1000)
             returning command_id, sandbox_id, argv, timeout_ms, output_cap",
            &[&id, &TAKE_GRACE_SECS],
        )
        .await?;
    Ok(row.map(|r| Command {
        command_id: r.get(0),
        sandbox_id: SandboxId(r.get(1)),
        argv: r.get(2),
        timeout_ms: r.get(3),
        output_cap: r.get(4),
    }))
}

/// Commands for `sandboxes` nobody took within `secs` of being written (their note was lost):
/// (sandbox, command).
pub async fn overlooked(
    pool: &Pool,
    sandboxes: &[uuid::Uuid],
    secs: f64,
) -> Result<Vec<(SandboxId, uuid::Uuid)>> {
    if sandboxes.is_empty() {
        return Ok(Vec::new());
    }
    let client = pool.get().await?;
    let rows = client
        .query(
            "select sandbox_id, command_id from sandbox_commands
             where started_at is null and sandbox_id = any($1)
               and created_at < now() - make_interval(secs => $2)",
            &[&sandboxes, &secs],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (SandboxId(r.get(0)), r.get(1)))
        .collect())
}

/// Record what came of command `id` and wake its caller (`done:<command>` on [`CHANNEL`]).
pub async fn finish(pool: &Pool, id: uuid::Uuid, recorded: &Recorded) -> Result<()> {
    let value = serde_json::to_value(recorded).expect("a recorded command serialises");
    let client = pool.get().await?;
    client
        .execute(
            "with upd as (
                 update sandbox_commands set outcome = $2 where command_id = $1
             )
             select pg_notify($3, 'done:' || $1::text)",
            &[&id, &value, &CHANNEL],
        )
        .await?;
    Ok(())
}

/// What came of command `id`, once recorded; the row goes with it.
pub async fn collect(pool: &Pool, id: uuid::Uuid) -> Result<Option<Recorded>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "delete from sandbox_commands where command_id = $1 and outcome is not null
             returning outcome",
            &[&id],
        )
        .await?;
    Ok(row.and_then(|r| serde_json::from_value(r.get(0)).ok()))
}

/// Withdraw command `id` if no runner took it yet: whether it was withdrawn.
pub async fn withdraw(pool: &Pool, id: uuid::Uuid) -> Result<bool> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "delete from sandbox_commands where command_id = $1 and started_at is null",
            &[&id],
        )
        .await?;
    Ok(n == 1)
}

/// Forget command `id` (its caller gave up waiting); a runner that has not taken it never will.
pub async fn abandon(pool: &Pool, id: uuid::Uuid) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute("delete from sandbox_commands where command_id = $1", &[&id])
        .await?;
    Ok(())
}
