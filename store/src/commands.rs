//! `sandbox_commands`: commands run in container sandboxes, through the database. The API
//! writes one and announces it; the runner that holds the sandbox, on whatever host, runs it
//! and writes its outcome; the API, woken by a note, takes the outcome and the row with it.
//! API and runners need to share nothing but the database.

use sbx_core::exec::CommandOutcome;
use serde::{Deserialize, Serialize};

use sbx_core::ids::{CommandId, SandboxId};
use sbx_core::notes::{Note, SandboxNote};

use crate::{Db, Result, StoreError};

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
    pub command_id: CommandId,
    /// In which sandbox.
    pub sandbox_id: SandboxId,
    /// The argument vector.
    pub argv: Vec<String>,
    /// Its time limit.
    pub timeout_ms: i64,
    /// Bytes kept per stream.
    pub output_cap: i64,
}

/// Ask for `argv` to run in sandbox `sandbox` and tell the runners
/// ([`SandboxNote::Command`]): the command's id.
#[tracing::instrument(level = "debug", skip_all, fields(sandbox = %sandbox))]
pub async fn submit(
    db: &impl Db,
    sandbox: SandboxId,
    argv: &[String],
    timeout_ms: i64,
    output_cap: i64,
) -> Result<CommandId> {
    let id = CommandId::new();
    let note = Note::Sandbox(SandboxNote::Command {
        sandbox,
        command: id,
    });
    db.execute(
        "with ins as (
                 insert into sandbox_commands (command_id, sandbox_id, argv, timeout_ms, output_cap)
                 values ($1, $2, $3, $4, $5)
             )
             select pg_notify($6, $7)",
        &[
            &id.0,
            &sandbox.0,
            &argv,
            &timeout_ms,
            &output_cap,
            &note.channel(),
            &note.payload(),
        ],
    )
    .await?;
    Ok(id)
}

/// How long past its own time limit a command nobody took may still be taken: its caller
/// has given up by then (the API waits the limit and 15 s).
pub const TAKE_GRACE_SECS: f64 = 10.0;

/// Take command `id` to run it: `None` if it is gone, another runner took it, or its caller
/// has given up on it (older than its time limit and [`TAKE_GRACE_SECS`]).
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn take(db: &impl Db, id: CommandId) -> Result<Option<Command>> {
    let row = db
        .query_opt(
            "update sandbox_commands set started_at = now()
             where command_id = $1 and started_at is null
               and created_at > now() - make_interval(secs => $2::float8 + timeout_ms::float8 / 1000)
             returning command_id, sandbox_id, argv, timeout_ms, output_cap",
            &[&id.0, &TAKE_GRACE_SECS],
        )
        .await?;
    row.map(|r| {
        Ok(Command {
            command_id: CommandId(r.try_get("command_id")?),
            sandbox_id: SandboxId(r.try_get("sandbox_id")?),
            argv: r.try_get("argv")?,
            timeout_ms: r.try_get("timeout_ms")?,
            output_cap: r.try_get("output_cap")?,
        })
    })
    .transpose()
}

/// Commands for `sandboxes` nobody took within `secs` of being written (their note was lost):
/// (sandbox, command).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn overlooked(
    db: &impl Db,
    sandboxes: &[uuid::Uuid],
    secs: f64,
) -> Result<Vec<(SandboxId, CommandId)>> {
    if sandboxes.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .query(
            "select sandbox_id, command_id from sandbox_commands
             where started_at is null and sandbox_id = any($1)
               and created_at < now() - make_interval(secs => $2)",
            &[&sandboxes, &secs],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                SandboxId(r.try_get("sandbox_id")?),
                CommandId(r.try_get("command_id")?),
            ))
        })
        .collect()
}

/// Record what came of command `id` and wake its caller ([`SandboxNote::CommandDone`]).
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn finish(db: &impl Db, id: CommandId, recorded: &Recorded) -> Result<()> {
    let value = serde_json::to_value(recorded).expect("a recorded command serialises");
    let note = Note::Sandbox(SandboxNote::CommandDone(id));
    db.execute(
        "with upd as (
                 update sandbox_commands set outcome = $2 where command_id = $1
             )
             select pg_notify($3, $4)",
        &[&id.0, &value, &note.channel(), &note.payload()],
    )
    .await?;
    Ok(())
}

/// What came of command `id`, once recorded; the row goes with it.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn collect(db: &impl Db, id: CommandId) -> Result<Option<Recorded>> {
    let row = db
        .query_opt(
            "delete from sandbox_commands where command_id = $1 and outcome is not null
             returning outcome",
            &[&id.0],
        )
        .await?;
    row.map(|r| {
        serde_json::from_value(r.try_get("outcome")?)
            .map_err(|e| StoreError::Corrupt(format!("a command's outcome: {e}")))
    })
    .transpose()
}

/// Withdraw command `id` if no runner took it yet: whether it was withdrawn.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn withdraw(db: &impl Db, id: CommandId) -> Result<bool> {
    let n = db
        .execute(
            "delete from sandbox_commands where command_id = $1 and started_at is null",
            &[&id.0],
        )
        .await?;
    Ok(n == 1)
}

/// Forget command `id` (its caller gave up waiting); a runner that has not taken it never will.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn abandon(db: &impl Db, id: CommandId) -> Result<()> {
    db.execute(
        "delete from sandbox_commands where command_id = $1",
        &[&id.0],
    )
    .await?;
    Ok(())
}
