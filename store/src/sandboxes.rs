//! `sandboxes`, their events and snapshots. Every state change goes through [`transition`] (or
//! [`pause`], which stores a session's snapshot in the same transaction, or
//! [`pause_container`]); a trigger records each as an event. Changes a holder must act on
//! (ended, asked to pause) are announced as [`SandboxNote`]s.

use chrono::{DateTime, Utc};
use sbx_core::ids::{ApiKeyId, JobId, ProjectId, SandboxId};
use sbx_core::notes::{Note, SANDBOXES as CHANNEL, SandboxNote};
use sbx_core::sandbox::{SandboxKind, SandboxState, StateReason};
use sbx_limits::sandbox::GpuRequest;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use crate::{Pool, Result, named};

/// A sandbox row.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The id.
    pub sandbox_id: SandboxId,
    /// Its project.
    pub project_id: ProjectId,
    /// Catalog name or image reference.
    pub image: String,
    /// What runs it.
    pub kind: SandboxKind,
    /// Where it is in its life.
    pub state: SandboxState,
    /// Why it is in its state.
    pub state_reason: StateReason,
    /// A person-readable account, for failures.
    pub state_detail: Option<String>,
    /// Memory limit in bytes.
    pub memory_bytes: i64,
    /// CPU in thousandths of a core.
    pub cpu_millis: i32,
    /// The GPU request.
    pub gpu: Option<GpuRequest>,
    /// Names of its env vars.
    pub env_keys: Vec<String>,
    /// A container's command (argv).
    pub command: Option<Vec<String>>,
    /// Lifetime in seconds, as last set.
    pub timeout_s: i32,
    /// When it is terminated unless extended.
    pub expires_at: DateTime<Utc>,
    /// Idle seconds before an automatic pause.
    pub idle_pause_s: Option<i32>,
    /// The process it is live in.
    pub holder: Option<uuid::Uuid>,
    /// Size of its snapshot while paused.
    pub snapshot_bytes: Option<i64>,
    /// Exec calls made in it.
    pub calls: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// First time running.
    pub started_at: Option<DateTime<Utc>>,
    /// Last call or state change.
    pub last_active_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Its Docker container while running.
    pub container_id: Option<String>,
    /// Its GPU allocation while placed: `{cards: [uuid], quarters}`.
    pub gpu_alloc: Option<serde_json::Value>,
    /// Why a pending sandbox is not placed yet.
    pub waiting_for: Option<String>,
    /// The container job it runs, if it is one's.
    pub job_id: Option<JobId>,
}

const COLUMNS: &str = "sandbox_id, project_id, image, kind, state, state_reason, state_detail,
    memory_bytes, cpu_millis, gpu, env_keys, command, timeout_s, expires_at, idle_pause_s, holder,
    snapshot_bytes, calls, created_at, started_at, last_active_at, ended_at, container_id, gpu_alloc,
    waiting_for, job_id";

fn sandbox(r: &Row) -> Result<Sandbox> {
    Ok(Sandbox {
        sandbox_id: SandboxId(r.try_get("sandbox_id")?),
        project_id: ProjectId(r.try_get("project_id")?),
        image: r.try_get("image")?,
        kind: named(r, "kind")?,
        state: named(r, "state")?,
        state_reason: named(r, "state_reason")?,
        state_detail: r.try_get("state_detail")?,
        memory_bytes: r.try_get("memory_bytes")?,
        cpu_millis: r.try_get("cpu_millis")?,
        gpu: r.try_get::<_, Option<Json<_>>>("gpu")?.map(|j| j.0),
        env_keys: r.try_get("env_keys")?,
        command: r.try_get::<_, Option<Json<_>>>("command")?.map(|j| j.0),
        timeout_s: r.try_get("timeout_s")?,
        expires_at: r.try_get("expires_at")?,
        idle_pause_s: r.try_get("idle_pause_s")?,
        holder: r.try_get("holder")?,
        snapshot_bytes: r.try_get("snapshot_bytes")?,
        calls: r.try_get("calls")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        last_active_at: r.try_get("last_active_at")?,
        ended_at: r.try_get("ended_at")?,
        container_id: r.try_get("container_id")?,
        gpu_alloc: r.try_get("gpu_alloc")?,
        waiting_for: r.try_get("waiting_for")?,
        job_id: r.try_get::<_, Option<uuid::Uuid>>("job_id")?.map(JobId),
    })
}

/// A sandbox to create.
#[derive(Debug, Clone)]
pub struct NewSandbox {
    /// Its id.
    pub sandbox_id: SandboxId,
    /// Its project.
    pub project_id: ProjectId,
    /// The key creating it.
    pub api_key_id: ApiKeyId,
    /// Catalog name or image reference.
    pub image: String,
    /// What runs it.
    pub kind: SandboxKind,
    /// Memory limit in bytes.
    pub memory_bytes: i64,
    /// CPU in thousandths of a core.
    pub cpu_millis: i32,
    /// The GPU request.
    pub gpu: Option<GpuRequest>,
    /// Names of its env vars.
    pub env_keys: Vec<String>,
    /// A container's command (argv).
    pub command: Option<Vec<String>>,
    /// Lifetime in seconds.
    pub timeout_s: i32,
    /// Idle seconds before an automatic pause.
    pub idle_pause_s: Option<i32>,
    /// The Idempotency-Key and the SHA-256 of its body.
    pub idempotency: Option<(String, Vec<u8>)>,
    /// A network interface besides loopback (containers).
    pub network: bool,
    /// The image reference runners run (containers).
    pub docker_image: Option<String>,
    /// Registry credentials, sealed.
    pub registry_auth: Option<Vec<u8>>,
    /// The env values, sealed (containers).
    pub env_sealed: Option<Vec<u8>>,
}

/// Insert `new` as `pending`. A repeated Idempotency-Key is a unique violation.
pub async fn create(pool: &Pool, new: &NewSandbox) -> Result<Sandbox> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            &format!(
                "insert into sandboxes (sandbox_id, project_id, api_key_id, image, kind, memory_bytes,
                     cpu_millis, gpu, env_keys, command, timeout_s, expires_at, idle_pause_s,
                     idempotency_key, request_hash, network, docker_image, registry_auth, env_sealed)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                         now() + $11::int * interval '1 second', $12, $13, $14, $15, $16, $17, $18)
                 returning {COLUMNS}"
            ),
            &[
                &new.sandbox_id.0,
                &new.project_id.0,
                &new.api_key_id.0,
                &new.image,
                &new.kind.as_str(),
                &new.memory_bytes,
                &new.cpu_millis,
                &new.gpu.as_ref().map(Json),
                &new.env_keys,
                &new.command.as_ref().map(Json),
                &new.timeout_s,
                &new.idle_pause_s,
                &new.idempotency.as_ref().map(|i| i.0.as_str()),
                &new.idempotency.as_ref().map(|i| i.1.as_slice()),
                &new.network,
                &new.docker_image,
                &new.registry_auth,
                &new.env_sealed,
            ],
        )
        .await?;
    sandbox(&row)
}

/// Sandbox `id` of `project`; `None` for another project's, as for one that does not exist.
pub async fn get(pool: &Pool, project: ProjectId, id: SandboxId) -> Result<Option<Sandbox>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "select {COLUMNS} from sandboxes where sandbox_id = $1 and project_id = $2"
        ))
        .await?;
    client
        .query_opt(&stmt, &[&id.0, &project.0])
        .await?
        .as_ref()
        .map(sandbox)
        .transpose()
}

/// Up to `limit` sandboxes of `project`, newest first, older than `before` when given, in
/// `state` when given.
pub async fn list(
    pool: &Pool,
    project: ProjectId,
    state: Option<SandboxState>,
    before: Option<SandboxId>,
    limit: i64,
) -> Result<Vec<Sandbox>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "select {COLUMNS} from sandboxes
                 where project_id = $1 and ($2::text is null or state = $2)
                   and ($3::uuid is null or sandbox_id < $3)
                 order by sandbox_id desc limit $4"
            ),
            &[
                &project.0,
                &state.map(SandboxState::as_str),
                &before.map(|b| b.0),
                &limit,
            ],
        )
        .await?;
    rows.iter().map(sandbox).collect()
}

/// The sandbox `project` created with Idempotency-Key `key`, with that request's body hash.
pub async fn by_idempotency_key(
    pool: &Pool,
    project: ProjectId,
    key: &str,
) -> Result<Option<(Sandbox, Option<Vec<u8>>)>> {
    let client = pool.get().await?;
    client
        .query_opt(
            &format!(
                "select {COLUMNS}, request_hash from sandboxes
                 where project_id = $1 and idempotency_key = $2"
            ),
            &[&project.0, &key],
        )
        .await?
        .map(|r| Ok((sandbox(&r)?, r.try_get("request_hash")?)))
        .transpose()
}

/// Sandboxes of `project` that have not ended.
pub async fn open_count(pool: &Pool, project: ProjectId) -> Result<i64> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "select count(*) from sandboxes
             where project_id = $1 and state in ('pending', 'running', 'paused')",
            &[&project.0],
        )
        .await?;
    Ok(row.get(0))
}

/// A state change of one sandbox.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    /// The states it may be made from.
    pub from: &'a [SandboxState],
    /// The new state.
    pub to: SandboxState,
    /// Why.
    pub reason: StateReason,
    /// A person-readable account, for failures.
    pub detail: Option<&'a str>,
    /// The process it is live in afterwards (`running`), or none.
    pub holder: Option<uuid::Uuid>,
}

/// Make `t` on sandbox `id` if it is in one of `t.from`: the sandbox as it is afterwards, or
/// `None` if it was not in one of those states. Ending it (terminated, failed) drops its
/// snapshot and announces the end on [`SandboxNote`]. A resume keeps the snapshot until the next
/// pause replaces it, so a resume that fails on our side can be tried again.
pub async fn transition(pool: &Pool, id: SandboxId, t: Transition<'_>) -> Result<Option<Sandbox>> {
    let client = pool.get().await?;
    let from: Vec<&str> = t.from.iter().map(|s| s.as_str()).collect();
    let row = client
        .query_opt(
            &format!(
                "with changed as (
                     update sandboxes set state = $2, state_reason = $3, state_detail = $4,
                         holder = $5, holder_seen_at = case when $5::uuid is null then null else now() end,
                         started_at = coalesce(started_at, case when $2 = 'running' then now() end),
                         ended_at = case when $2 in ('terminated', 'failed') then now() end,
                         snapshot_bytes = case when $2 in ('paused', 'pending') then snapshot_bytes end,
                         container_id = case when $2 = 'running' then container_id end,
                         gpu_alloc = case when $2 = 'running' then gpu_alloc end,
                         waiting_for = null,
                         last_active_at = now()
                     where sandbox_id = $1 and state = any($6)
                     returning {COLUMNS}
                 ), dropped as (
                     delete from sandbox_snapshots
                     where sandbox_id in (select sandbox_id from changed where state in ('terminated', 'failed'))
                 ), dropped_chunks as (
                     delete from sandbox_snapshot_chunks
                     where sandbox_id in (select sandbox_id from changed where state in ('terminated', 'failed'))
                 ), announced as (
                     select pg_notify('{CHANNEL}', '{ENDED}:' || sandbox_id) from changed
                     where state in ('terminated', 'failed')
                 )
                 select changed.*, (select count(*) from announced) from changed",
                ENDED = SandboxNote::ENDED,
            ),
            &[
                &id.0,
                &t.to.as_str(),
                &t.reason.as_str(),
                &t.detail,
                &t.holder,
                &from,
            ],
        )
        .await?;
    row.as_ref().map(sandbox).transpose()
}

/// Pause sandbox `id`, live in `holder`, keeping `snapshot`, in one transaction: `false` if it
/// is no longer running there (ended or moved meanwhile), and then nothing is kept.
pub async fn pause(
    pool: &Pool,
    id: SandboxId,
    holder: uuid::Uuid,
    reason: StateReason,
    snapshot: &[u8],
) -> Result<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let paused = tx
        .execute(
            "update sandboxes set state = 'paused', state_reason = $3, state_detail = null,
                 holder = null, holder_seen_at = null, snapshot_bytes = $4, last_active_at = now(),
                 container_id = null, gpu_alloc = null
             where sandbox_id = $1 and state = 'running' and holder = $2",
            &[&id.0, &holder, &reason.as_str(), &(snapshot.len() as i64)],
        )
        .await?;
    if paused == 0 {
        return Ok(false);
    }
    tx.execute(
        "insert into sandbox_snapshots (sandbox_id, data) values ($1, $2)
         on conflict (sandbox_id) do update set data = excluded.data, created_at = now()",
        &[&id.0, &snapshot],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Pause container sandbox `id`, live in `holder`, whose folders host `host` now keeps
/// (`bytes` of files): its pause number, or `None` if it is no longer running there (ended or
/// moved meanwhile). Copies of earlier pauses are dropped.
pub async fn pause_container(
    pool: &Pool,
    id: SandboxId,
    holder: uuid::Uuid,
    reason: StateReason,
    host: &str,
    bytes: i64,
) -> Result<Option<i32>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "with paused as (
                 update sandboxes set state = 'paused', state_reason = $3, state_detail = null,
                     holder = null, holder_seen_at = null, snapshot_bytes = $5, last_active_at = now(),
                     container_id = null, gpu_alloc = null, snapshot_gen = snapshot_gen + 1,
                     snapshot_host = $4, snapshot_stored = null
                 where sandbox_id = $1 and state = 'running' and holder = $2
                 returning snapshot_gen
             ), stale as (
                 delete from sandbox_snapshot_chunks where sandbox_id = $1 and exists (select 1 from paused)
             ), legacy as (
                 delete from sandbox_snapshots where sandbox_id = $1 and exists (select 1 from paused)
             )
             select snapshot_gen from paused",
            &[&id.0, &holder, &reason.as_str(), &host, &bytes],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Store row `seq` of the copy of sandbox `id`'s pause `nth`: `false` (nothing stored) if
/// the sandbox is no longer paused from that pause (resumed, paused again, ended).
pub async fn put_chunk(
    pool: &Pool,
    id: SandboxId,
    nth: i32,
    seq: i32,
    data: &[u8],
) -> Result<bool> {
    let client = pool.get().await?;
    let n = client
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
pub async fn chunks_stored(pool: &Pool, id: SandboxId, nth: i32) -> Result<bool> {
    let client = pool.get().await?;
    let n = client
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
pub async fn restart_chunks(pool: &Pool, id: SandboxId, nth: i32) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute(
            "delete from sandbox_snapshot_chunks where sandbox_id = $1 and nth = $2",
            &[&id.0, &nth],
        )
        .await?;
    Ok(())
}

/// Drop what races left behind: copies of sandboxes that ended (a row stored while the end was
/// recorded), and commands older than `command_secs` that nobody collected. Returns the rows
/// dropped.
pub async fn purge(pool: &Pool, command_secs: f64) -> Result<u64> {
    let client = pool.get().await?;
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
pub async fn send_chunks(
    pool: &Pool,
    id: SandboxId,
    nth: i32,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<()> {
    use futures_util::StreamExt as _;
    let client = pool.get().await?;
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
pub async fn kept_where(pool: &Pool, ids: &[uuid::Uuid]) -> Result<Vec<KeptRow>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "select sandbox_id, state in ('paused', 'pending'), snapshot_gen, snapshot_host,
                 snapshot_stored
             from sandboxes where sandbox_id = any($1)",
            &[&ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| KeptRow {
            sandbox_id: SandboxId(r.get(0)),
            waiting: r.get(1),
            nth: r.get(2),
            host: r.get(3),
            stored: r.get(4),
        })
        .collect())
}

/// The snapshot of sandbox `id`, if one is kept.
pub async fn snapshot(pool: &Pool, id: SandboxId) -> Result<Option<Vec<u8>>> {
    let client = pool.get().await?;
    Ok(client
        .query_opt(
            "select data from sandbox_snapshots where sandbox_id = $1",
            &[&id.0],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Set sandbox `id`'s lifetime to end `timeout_s` from now, if it is still open; the sandbox
/// afterwards.
pub async fn extend(
    pool: &Pool,
    project: ProjectId,
    id: SandboxId,
    timeout_s: i32,
) -> Result<Option<Sandbox>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "update sandboxes set timeout_s = $3, expires_at = now() + $3::int * interval '1 second'
                 where sandbox_id = $1 and project_id = $2 and state in ('pending', 'running', 'paused')
                 returning {COLUMNS}"
            ),
            &[&id.0, &project.0, &timeout_s],
        )
        .await?;
    row.as_ref().map(sandbox).transpose()
}

/// Terminate every open sandbox whose lifetime has passed, with reason `timeout`; returns their
/// ids. Their holders hear of it on [`SandboxNote`].
pub async fn expire(pool: &Pool) -> Result<Vec<SandboxId>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "with ended as (
                 update sandboxes set state = 'terminated', state_reason = '{TIMEOUT}',
                     state_detail = 'its timeout passed', holder = null, holder_seen_at = null,
                     ended_at = now(), last_active_at = now()
                 where state in ('pending', 'running', 'paused') and expires_at <= now()
                 returning sandbox_id
             ), dropped as (
                 delete from sandbox_snapshots where sandbox_id in (select sandbox_id from ended)
             ), dropped_chunks as (
                 delete from sandbox_snapshot_chunks where sandbox_id in (select sandbox_id from ended)
             ), announced as (
                 select pg_notify('{CHANNEL}', '{ENDED}:' || sandbox_id) from ended
             )
             select sandbox_id, (select count(*) from announced) from ended",
            TIMEOUT = StateReason::Timeout,
            ENDED = SandboxNote::ENDED,
        ))
        .await?;
    let rows = client.query(&stmt, &[]).await?;
    Ok(rows.iter().map(|r| SandboxId(r.get(0))).collect())
}

/// The holder `holder` still has `ids` live; `calls` more calls were made in each.
pub async fn heartbeat(pool: &Pool, holder: uuid::Uuid, live: &[(SandboxId, i64)]) -> Result<()> {
    if live.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = live.iter().map(|(id, _)| id.0).collect();
    let calls: Vec<i64> = live.iter().map(|(_, c)| *c).collect();
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "update sandboxes s set holder_seen_at = now(), calls = s.calls + u.calls,
                 last_active_at = case when u.calls > 0 then now() else s.last_active_at end
             from unnest($2::uuid[], $3::bigint[]) as u(id, calls)
             where s.sandbox_id = u.id and s.holder = $1 and s.state in ('running', 'pending')",
        )
        .await?;
    client.execute(&stmt, &[&holder, &ids, &calls]).await?;
    Ok(())
}

/// Fail running sandboxes whose holder has not been heard from for `stale_s` seconds: the
/// process that held them is gone, and their live state with it.
pub async fn fail_lost(pool: &Pool, stale_s: f64) -> Result<Vec<SandboxId>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "with lost as (
                 update sandboxes set state = 'failed', state_reason = '{RUNNER_LOST}',
                     state_detail = 'the process it ran in stopped without pausing it; its live state is lost',
                     holder = null, holder_seen_at = null, ended_at = now(), last_active_at = now()
                 where state = 'running' and holder_seen_at < now() - make_interval(secs => $1)
                 returning sandbox_id
             ), dropped as (
                 delete from sandbox_snapshots where sandbox_id in (select sandbox_id from lost)
             ), dropped_chunks as (
                 delete from sandbox_snapshot_chunks where sandbox_id in (select sandbox_id from lost)
             ), announced as (
                 select pg_notify('{CHANNEL}', '{ENDED}:' || sandbox_id) from lost
             )
             select sandbox_id, (select count(*) from announced) from lost",
            RUNNER_LOST = StateReason::RunnerLost,
            ENDED = SandboxNote::ENDED,
        ))
        .await?;
    let rows = client.query(&stmt, &[&stale_s]).await?;
    Ok(rows.iter().map(|r| SandboxId(r.get(0))).collect())
}

/// Ask the holder of sandbox `id` to pause it, with `reason`.
pub async fn request_pause(pool: &Pool, id: SandboxId, reason: StateReason) -> Result<()> {
    crate::notify::send(
        pool,
        &Note::Sandbox(SandboxNote::PauseRequested {
            sandbox: id,
            reason,
        }),
    )
    .await
}

/// A state change as recorded.
#[derive(Debug, Clone)]
pub struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// The new state.
    pub state: SandboxState,
    /// Why.
    pub reason: StateReason,
    /// An account, for failures.
    pub detail: Option<String>,
}

/// The state changes of sandbox `id`, oldest first (the last 100).
pub async fn events(pool: &Pool, id: SandboxId) -> Result<Vec<Event>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "select at, state, reason, detail from (
                 select event_id, at, state, reason, detail from sandbox_events
                 where sandbox_id = $1 order by event_id desc limit 100
             ) e order by event_id",
            &[&id.0],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Event {
                at: r.try_get("at")?,
                state: named(r, "state")?,
                reason: named(r, "reason")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// A resumed sandbox whose last pause's folders are kept on a host waits this long for that
/// host (where it resumes at once) before another runner takes it from the database's copy.
pub const LOCAL_FIRST_SECS: f64 = 2.0;

/// A pending container sandbox, as a runner placing it sees it.
#[derive(Debug, Clone)]
pub struct PendingContainer {
    /// The sandbox.
    pub sandbox: Sandbox,
    /// The image reference to run.
    pub docker_image: String,
    /// Sealed registry credentials.
    pub registry_auth: Option<Vec<u8>>,
    /// Sealed env values.
    pub env_sealed: Option<Vec<u8>>,
    /// Whether it has a network.
    pub network: bool,
    /// Where its last pause's folders are, when it is being resumed.
    pub kept: Option<Kept>,
    /// The snapshot of a pause made before folders were kept on hosts, if it has one.
    pub legacy_snapshot: Option<Vec<u8>>,
}

/// Where the folders of a container sandbox's last pause are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The pause's number.
    pub nth: i32,
    /// The host keeping them.
    pub host: Option<String>,
    /// Whether their copy in the database is complete.
    pub stored: bool,
}

/// Claim pending container sandboxes for `runner`: each candidate (oldest first, at most
/// `limit`, none another runner is placing) is offered to `place`, which answers the GPU
/// allocation to record (`Ok`), why it does not fit (`Err(Some(why))`, kept as `waiting_for`),
/// or that it cannot be placed there just now (`Err(None)`: nothing recorded). The
/// claimed ones are held by `runner`, still `pending` until their container runs. A resumed
/// sandbox whose folders host `host` does not keep is a candidate only once their copy in the
/// database is complete and their own host had [`LOCAL_FIRST_SECS`] to take it.
pub async fn claim_containers(
    pool: &Pool,
    runner: uuid::Uuid,
    host: &str,
    limit: i64,
    mut place: impl FnMut(&Sandbox) -> std::result::Result<Option<serde_json::Value>, Option<String>>,
) -> Result<Vec<PendingContainer>> {
    let mut client = pool.get().await?;
    // Resumed sandboxes this runner may not take: say what they wait for, once their own
    // host had its chance.
    client
        .execute(
            "update sandboxes set waiting_for = 'the host that keeps the files of its last pause: their copy in the database is not complete'
             where state = 'pending' and kind = 'container' and holder is null and waiting_for is null
               and snapshot_host <> $1 and snapshot_stored is distinct from snapshot_gen
               and last_active_at < now() - make_interval(secs => $2)",
            &[&host, &LOCAL_FIRST_SECS],
        )
        .await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            &format!(
                "select {COLUMNS}, docker_image, registry_auth, env_sealed, network,
                     snapshot_gen, snapshot_host, snapshot_stored from sandboxes
                 where state = 'pending' and kind = 'container' and holder is null
                   and (snapshot_host is null or snapshot_host = $2
                        or (snapshot_stored = snapshot_gen
                            and last_active_at < now() - make_interval(secs => $3)))
                 order by created_at limit $1 for update skip locked"
            ),
            &[&limit, &host, &LOCAL_FIRST_SECS],
        )
        .await?;
    let mut claimed = Vec::new();
    for r in &rows {
        let s = sandbox(r)?;
        match place(&s) {
            Ok(gpu_alloc) => {
                tx.execute(
                    "update sandboxes set holder = $2, holder_seen_at = now(), gpu_alloc = $3,
                         waiting_for = null
                     where sandbox_id = $1",
                    &[&s.sandbox_id.0, &runner, &gpu_alloc],
                )
                .await?;
                let nth: i32 = r.try_get("snapshot_gen")?;
                let legacy_snapshot = if nth == 0 {
                    tx.query_opt(
                        "select data from sandbox_snapshots where sandbox_id = $1",
                        &[&s.sandbox_id.0],
                    )
                    .await?
                    .map(|r| r.get(0))
                } else {
                    None
                };
                let kept = if nth > 0 {
                    Some(Kept {
                        nth,
                        host: r.try_get("snapshot_host")?,
                        stored: r.try_get::<_, Option<i32>>("snapshot_stored")? == Some(nth),
                    })
                } else {
                    None
                };
                claimed.push(PendingContainer {
                    docker_image: r
                        .try_get::<_, Option<String>>("docker_image")?
                        .unwrap_or_else(|| s.image.clone()),
                    registry_auth: r.try_get("registry_auth")?,
                    env_sealed: r.try_get("env_sealed")?,
                    network: r.try_get("network")?,
                    kept,
                    legacy_snapshot,
                    sandbox: s,
                });
            }
            Err(None) => {}
            Err(Some(why)) => {
                tx.execute(
                    "update sandboxes set waiting_for = $2 where sandbox_id = $1",
                    &[&s.sandbox_id.0, &why],
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Container sandbox `id`, placed by `runner`, now runs as `container_id`: `running`. `None`
/// if it ended or was let go meanwhile.
pub async fn container_started(
    pool: &Pool,
    id: SandboxId,
    runner: uuid::Uuid,
    container_id: &str,
    reason: StateReason,
) -> Result<Option<Sandbox>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "with started as (
                     update sandboxes set state = 'running', state_reason = $4, container_id = $3,
                         holder_seen_at = now(), started_at = coalesce(started_at, now()),
                         last_active_at = now()
                     where sandbox_id = $1 and holder = $2 and state = 'pending'
                     returning {COLUMNS}
                 ), announced as (
                     select pg_notify('{CHANNEL}', '{RUNNING}:' || sandbox_id) from started
                 )
                 select started.*, (select count(*) from announced) from started",
                RUNNING = SandboxNote::RUNNING,
            ),
            &[&id.0, &runner, &container_id, &reason.as_str()],
        )
        .await?;
    row.as_ref().map(sandbox).transpose()
}

/// The container of running sandbox `id` of `project`, and the runner holding it.
pub async fn container_of(
    pool: &Pool,
    project: ProjectId,
    id: SandboxId,
) -> Result<Option<(String, Option<uuid::Uuid>)>> {
    let client = pool.get().await?;
    Ok(client
        .query_opt(
            "select container_id, holder from sandboxes
             where sandbox_id = $1 and project_id = $2 and state = 'running' and container_id is not null",
            &[&id.0, &project.0],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// Sandboxes `runner` holds (placing or running), with their GPU allocations: what it
/// rebuilds its books from.
pub async fn held_by(pool: &Pool, runner: uuid::Uuid) -> Result<Vec<Sandbox>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "select {COLUMNS} from sandboxes
                 where holder = $1 and state in ('pending', 'running')"
            ),
            &[&runner],
        )
        .await?;
    rows.iter().map(sandbox).collect()
}

/// Hand back pending sandboxes whose placing runner went quiet for `stale_s` seconds.
pub async fn release_stale_placements(pool: &Pool, stale_s: f64) -> Result<u64> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            "update sandboxes set holder = null, holder_seen_at = null, gpu_alloc = null
             where state = 'pending' and holder is not null
               and holder_seen_at < now() - make_interval(secs => $1)",
            &[&stale_s],
        )
        .await?)
}

/// Tell runners that container sandbox `id` waits for a place.
pub async fn announce_pending(pool: &Pool, id: SandboxId) -> Result<()> {
    crate::notify::send(pool, &Note::Sandbox(SandboxNote::Pending(id))).await
}
