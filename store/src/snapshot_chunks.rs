//! Container pauses: a paused container's folders stay on the host that paused it, and a copy
//! of them is written here in rows (`sandbox_snapshot_chunks`) so that any runner can resume it.

use sbx_core::ids::SandboxId;
use sbx_core::notes::{SANDBOXES as CHANNEL, SandboxNote};
use sbx_core::sandbox::StateReason;

use crate::{Db, GenericClient, Result};

/// The number container sandbox `id`'s next pause will have ([`pause_container`]'s `nth`),
/// if it runs in `holder`; `None` otherwise (ended or moved).
#[tracing::instrument(level = "debug", skip_all, fields(id = %id, holder = %holder))]
pub async fn next_pause(db: &impl Db, id: SandboxId, holder: uuid::Uuid) -> Result<Option<i32>> {
    let row = db
        .query_opt(
            "select snapshot_gen + 1 from sandboxes
             where sandbox_id = $1 and state = 'running' and holder = $2",
            &[&id.0, &holder],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Pause container sandbox `id`, live in `holder`, whose folders host `host` now keeps
/// (`bytes` of files), as its pause `nth` ([`next_pause`]): `nth`, or `None` if it is no
/// longer running there (ended or moved meanwhile) or another pause took that number. Copies
/// of earlier pauses are dropped.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id, holder = %holder))]
pub async fn pause_container(
    db: &impl Db,
    id: SandboxId,
    holder: uuid::Uuid,
    reason: StateReason,
    host: &str,
    bytes: i64,
    nth: i32,
) -> Result<Option<i32>> {
    let row = db
        .query_opt(
            "with paused as (
                 update sandboxes set state = 'paused', state_reason = $3, state_detail = null,
                     holder = null, holder_seen_at = null, snapshot_bytes = $5, last_active_at = now(),
                     container_id = null, gpu_alloc = null, snapshot_gen = $6,
                     snapshot_host = $4, snapshot_stored = null
                 where sandbox_id = $1 and state = 'running' and holder = $2
                   and snapshot_gen = $6 - 1
                 returning snapshot_gen
             ), stale as (
                 delete from sandbox_snapshot_chunks where sandbox_id = $1 and exists (select 1 from paused)
             ), legacy as (
                 delete from sandbox_snapshots where sandbox_id = $1 and exists (select 1 from paused)
             )
             select snapshot_gen from paused",
            &[&id.0, &holder, &reason.as_str(), &host, &bytes, &nth],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Whether sandbox `id`'s pause `nth` was recorded as kept on `host` (by a
/// [`pause_container`] whose answer was lost, say).
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn pause_recorded(db: &impl Db, id: SandboxId, nth: i32, host: &str) -> Result<bool> {
    let row = db
        .query_opt(
            "select 1 from sandboxes
             where sandbox_id = $1 and snapshot_gen = $2 and snapshot_host = $3",
            &[&id.0, &nth, &host],
        )
        .await?;
    Ok(row.is_some())
}

/// Store row `seq` of the copy of sandbox `id`'s pause `nth`: `false` (nothing stored) if
/// the sandbox is no longer paused from that pause (resumed, paused again, ended).
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn put_chunk(
    db: &impl Db,
    id: SandboxId,
    nth: i32,
    seq: i32,
    data: &[u8],
) -> Result<bool> {
    let n = db
        .execute(
            "insert into sandbox_snapshot_chunks (sandbox_id, nth, seq, data)
             select $1, $2, $3, $4 from sandboxes
             where sandbox_id = $1 and snapshot_gen = $2 and state in ('paused', 'pending')",
            &[&id.0, &nth, &seq, &data],
        )
        .await?;
    Ok(n == 1)
}

/// The copy of sandbox `id`'s pause `nth` is complete: any runner may resume it from now.
/// `false` if it was paused again or ended meanwhile.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn chunks_stored(db: &impl Db, id: SandboxId, nth: i32) -> Result<bool> {
    let n = db
        .execute(
            &format!(
                "with stored as (
                     update sandboxes set snapshot_stored = $2
                     where sandbox_id = $1 and snapshot_gen = $2 and state in ('paused', 'pending', 'running')
                     returning sandbox_id
                 )
                 select pg_notify('{CHANNEL}', '{PENDING}:' || sandbox_id) from stored",
                PENDING = SandboxNote::PENDING,
            ),
            &[&id.0, &nth],
        )
        .await?;
    Ok(n > 0)
}

/// Start the copy of sandbox `id`'s pause `nth` afresh: drop what an earlier try stored.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn restart_chunks(db: &impl Db, id: SandboxId, nth: i32) -> Result<()> {
    db.execute(
        "delete from sandbox_snapshot_chunks where sandbox_id = $1 and nth = $2",
        &[&id.0, &nth],
    )
    .await?;
    Ok(())
}

/// Drop what races left behind: copies of sandboxes that ended (a row stored while the end was
/// recorded), and commands older than `command_secs` that nobody collected. Returns the rows
/// dropped.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn purge(db: &impl Db, command_secs: f64) -> Result<u64> {
    let client = db.client().await?;
    let chunks = client
        .execute(
            "delete from sandbox_snapshot_chunks c using sandboxes s
             where c.sandbox_id = s.sandbox_id and s.state in ('terminated', 'failed')",
            &[],
        )
        .await?;
    let commands = client
        .execute(
            "delete from sandbox_commands where created_at < now() - make_interval(secs => $1)",
            &[&command_secs],
        )
        .await?;
    Ok(chunks + commands)
}

/// Hand the rows of the copy of sandbox `id`'s pause `nth` to `tx`, in order, as they come.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn send_chunks(
    db: &impl Db,
    id: SandboxId,
    nth: i32,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<()> {
    use futures_util::StreamExt as _;
    let client = db.client().await?;
    let rows = client
        .query_raw(
            "select data from sandbox_snapshot_chunks where sandbox_id = $1 and nth = $2 order by seq",
            [&id.0 as &(dyn tokio_postgres::types::ToSql + Sync), &nth],
        )
        .await?;
    futures_util::pin_mut!(rows);
    while let Some(row) = rows.next().await {
        if tx.send(row?.get(0)).await.is_err() {
            // The reader stopped; its error says why.
            break;
        }
    }
    Ok(())
}

/// A sandbox whose folders a host may keep, as the database sees it.
#[derive(Debug, Clone)]
pub struct KeptRow {
    /// The sandbox.
    pub sandbox_id: SandboxId,
    /// Paused or pending (resumed, not placed yet): its folders are still needed.
    pub waiting: bool,
    /// Its last pause's number.
    pub nth: i32,
    /// The host keeping that pause's folders.
    pub host: Option<String>,
    /// The pause whose copy in the database is complete.
    pub stored: Option<i32>,
}

/// Of `ids`, those this database knows: (id, whether it is paused or pending, pause number,
/// keeping host, the pause whose copy is complete).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn kept_where(db: &impl Db, ids: &[uuid::Uuid]) -> Result<Vec<KeptRow>> {
    let rows = db
        .query(
            "select sandbox_id, state in ('paused', 'pending') as waiting, snapshot_gen,
                 snapshot_host, snapshot_stored
             from sandboxes where sandbox_id = any($1)",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| KeptRow {
            sandbox_id: SandboxId(r.get("sandbox_id")),
            waiting: r.get("waiting"),
            nth: r.get("snapshot_gen"),
            host: r.get("snapshot_host"),
            stored: r.get("snapshot_stored"),
        })
        .collect())
}
