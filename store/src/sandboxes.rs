//! `sandboxes`, their events and snapshots. Every state change goes through [`transition`] (or
//! [`pause`], which stores the snapshot in the same transaction); a trigger records each as an
//! event. Changes a holder must act on (ended, asked to pause) are announced on [`CHANNEL`].

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::ids::{ApiKeyId, ProjectId, SandboxId};
use crate::{Pool, Result};

/// NOTIFY channel: `end:<id>` (a sandbox ended: its holder lets it go) and
/// `pause:<id>:<reason>` (its holder is asked to pause it).
pub const CHANNEL: &str = "sbx_sandboxes";

/// States a sandbox may still leave.
pub const OPEN_STATES: &[&str] = &["pending", "running", "paused"];

/// A sandbox row.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The id.
    pub sandbox_id: SandboxId,
    /// Its project.
    pub project_id: ProjectId,
    /// Catalog name or image reference.
    pub image: String,
    /// `interpreter` or `container`.
    pub kind: String,
    /// `pending`, `running`, `paused`, `terminated` or `failed`.
    pub state: String,
    /// Why it is in its state.
    pub state_reason: String,
    /// A person-readable account, for failures.
    pub state_detail: Option<String>,
    /// Memory limit in bytes.
    pub memory_bytes: i64,
    /// CPU in thousandths of a core.
    pub cpu_millis: i32,
    /// The GPU request.
    pub gpu: Option<serde_json::Value>,
    /// Names of its env vars.
    pub env_keys: Vec<String>,
    /// A container's command.
    pub command: Option<serde_json::Value>,
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
}

const COLUMNS: &str = "sandbox_id, project_id, image, kind, state, state_reason, state_detail,
    memory_bytes, cpu_millis, gpu, env_keys, command, timeout_s, expires_at, idle_pause_s, holder,
    snapshot_bytes, calls, created_at, started_at, last_active_at, ended_at";

fn sandbox(r: &Row) -> Sandbox {
    Sandbox {
        sandbox_id: SandboxId(r.get(0)),
        project_id: ProjectId(r.get(1)),
        image: r.get(2),
        kind: r.get(3),
        state: r.get(4),
        state_reason: r.get(5),
        state_detail: r.get(6),
        memory_bytes: r.get(7),
        cpu_millis: r.get(8),
        gpu: r.get(9),
        env_keys: r.get(10),
        command: r.get(11),
        timeout_s: r.get(12),
        expires_at: r.get(13),
        idle_pause_s: r.get(14),
        holder: r.get(15),
        snapshot_bytes: r.get(16),
        calls: r.get(17),
        created_at: r.get(18),
        started_at: r.get(19),
        last_active_at: r.get(20),
        ended_at: r.get(21),
    }
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
    /// `interpreter` or `container`.
    pub kind: &'static str,
    /// Memory limit in bytes.
    pub memory_bytes: i64,
    /// CPU in thousandths of a core.
    pub cpu_millis: i32,
    /// The GPU request.
    pub gpu: Option<serde_json::Value>,
    /// Names of its env vars.
    pub env_keys: Vec<String>,
    /// A container's command.
    pub command: Option<serde_json::Value>,
    /// Lifetime in seconds.
    pub timeout_s: i32,
    /// Idle seconds before an automatic pause.
    pub idle_pause_s: Option<i32>,
    /// The Idempotency-Key and the SHA-256 of its body.
    pub idempotency: Option<(String, Vec<u8>)>,
}

/// Insert `new` as `pending`. A repeated Idempotency-Key is a unique violation.
pub async fn create(pool: &Pool, new: &NewSandbox) -> Result<Sandbox> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            &format!(
                "insert into sandboxes (sandbox_id, project_id, api_key_id, image, kind, memory_bytes,
                     cpu_millis, gpu, env_keys, command, timeout_s, expires_at, idle_pause_s,
                     idempotency_key, request_hash)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                         now() + $11::int * interval '1 second', $12, $13, $14)
                 returning {COLUMNS}"
            ),
            &[
                &new.sandbox_id.0,
                &new.project_id.0,
                &new.api_key_id.0,
                &new.image,
                &new.kind,
                &new.memory_bytes,
                &new.cpu_millis,
                &new.gpu,
                &new.env_keys,
                &new.command,
                &new.timeout_s,
                &new.idle_pause_s,
                &new.idempotency.as_ref().map(|i| i.0.as_str()),
                &new.idempotency.as_ref().map(|i| i.1.as_slice()),
            ],
        )
        .await?;
    Ok(sandbox(&row))
}

/// Sandbox `id` of `project`; `None` for another project's, as for one that does not exist.
pub async fn get(pool: &Pool, project: ProjectId, id: SandboxId) -> Result<Option<Sandbox>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "select {COLUMNS} from sandboxes where sandbox_id = $1 and project_id = $2"
        ))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id.0, &project.0])
        .await?
        .as_ref()
        .map(sandbox))
}

/// Up to `limit` sandboxes of `project`, newest first, older than `before` when given, in
/// `state` when given.
pub async fn list(
    pool: &Pool,
    project: ProjectId,
    state: Option<&str>,
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
            &[&project.0, &state, &before.map(|b| b.0), &limit],
        )
        .await?;
    Ok(rows.iter().map(sandbox).collect())
}

/// The sandbox `project` created with Idempotency-Key `key`, with that request's body hash.
pub async fn by_idempotency_key(
    pool: &Pool,
    project: ProjectId,
    key: &str,
) -> Result<Option<(Sandbox, Option<Vec<u8>>)>> {
    let client = pool.get().await?;
    Ok(client
        .query_opt(
            &format!(
                "select {COLUMNS}, request_hash from sandboxes
                 where project_id = $1 and idempotency_key = $2"
            ),
            &[&project.0, &key],
        )
        .await?
        .map(|r| (sandbox(&r), r.get(22))))
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
    pub from: &'a [&'a str],
    /// The new state.
    pub to: &'a str,
    /// Why.
    pub reason: &'a str,
    /// A person-readable account, for failures.
    pub detail: Option<&'a str>,
    /// The process it is live in afterwards (`running`), or none.
    pub holder: Option<uuid::Uuid>,
}

/// Make `t` on sandbox `id` if it is in one of `t.from`: the sandbox as it is afterwards, or
/// `None` if it was not in one of those states. Ending it (terminated, failed) drops its
/// snapshot and announces the end on [`CHANNEL`]. A resume keeps the snapshot until the next
/// pause replaces it, so a resume that fails on our side can be tried again.
pub async fn transition(pool: &Pool, id: SandboxId, t: Transition<'_>) -> Result<Option<Sandbox>> {
    let client = pool.get().await?;
    let from: Vec<&str> = t.from.to_vec();
    let row = client
        .query_opt(
            &format!(
                "with changed as (
                     update sandboxes set state = $2, state_reason = $3, state_detail = $4,
                         holder = $5, holder_seen_at = case when $5::uuid is null then null else now() end,
                         started_at = coalesce(started_at, case when $2 = 'running' then now() end),
                         ended_at = case when $2 in ('terminated', 'failed') then now() end,
                         snapshot_bytes = case when $2 = 'paused' then snapshot_bytes end,
                         last_active_at = now()
                     where sandbox_id = $1 and state = any($6)
                     returning {COLUMNS}
                 ), dropped as (
                     delete from sandbox_snapshots
                     where sandbox_id in (select sandbox_id from changed where state in ('terminated', 'failed'))
                 ), announced as (
                     select pg_notify('{CHANNEL}', 'end:' || sandbox_id) from changed
                     where state in ('terminated', 'failed')
                 )
                 select changed.*, (select count(*) from announced) from changed"
            ),
            &[&id.0, &t.to, &t.reason, &t.detail, &t.holder, &from],
        )
        .await?;
    Ok(row.as_ref().map(sandbox))
}

/// Pause sandbox `id`, live in `holder`, keeping `snapshot`, in one transaction: `false` if it
/// is no longer running there (ended or moved meanwhile), and then nothing is kept.
pub async fn pause(
    pool: &Pool,
    id: SandboxId,
    holder: uuid::Uuid,
    reason: &str,
    snapshot: &[u8],
) -> Result<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let paused = tx
        .execute(
            "update sandboxes set state = 'paused', state_reason = $3, state_detail = null,
                 holder = null, holder_seen_at = null, snapshot_bytes = $4, last_active_at = now()
             where sandbox_id = $1 and state = 'running' and holder = $2",
            &[&id.0, &holder, &reason, &(snapshot.len() as i64)],
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
    Ok(row.as_ref().map(sandbox))
}

/// Terminate every open sandbox whose lifetime has passed, with reason `timeout`; returns their
/// ids. Their holders hear of it on [`CHANNEL`].
pub async fn expire(pool: &Pool) -> Result<Vec<SandboxId>> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "with ended as (
                 update sandboxes set state = 'terminated', state_reason = 'timeout',
                     state_detail = 'its timeout passed', holder = null, holder_seen_at = null,
                     ended_at = now(), last_active_at = now()
                 where state in ('pending', 'running', 'paused') and expires_at <= now()
                 returning sandbox_id
             ), dropped as (
                 delete from sandbox_snapshots where sandbox_id in (select sandbox_id from ended)
             ), announced as (
                 select pg_notify('{CHANNEL}', 'end:' || sandbox_id) from ended
             )
             select sandbox_id, (select count(*) from announced) from ended"
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
             where s.sandbox_id = u.id and s.holder = $1 and s.state = 'running'",
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
                 update sandboxes set state = 'failed', state_reason = 'runner_lost',
                     state_detail = 'the process it ran in stopped without pausing it; its live state is lost',
                     holder = null, holder_seen_at = null, ended_at = now(), last_active_at = now()
                 where state = 'running' and holder_seen_at < now() - make_interval(secs => $1)
                 returning sandbox_id
             ), announced as (
                 select pg_notify('{CHANNEL}', 'end:' || sandbox_id) from lost
             )
             select sandbox_id, (select count(*) from announced) from lost"
        ))
        .await?;
    let rows = client.query(&stmt, &[&stale_s]).await?;
    Ok(rows.iter().map(|r| SandboxId(r.get(0))).collect())
}

/// Ask the holder of sandbox `id` to pause it, with `reason`.
pub async fn request_pause(pool: &Pool, id: SandboxId, reason: &str) -> Result<()> {
    let client = pool.get().await?;
    client
        .execute(
            "select pg_notify($1, 'pause:' || $2::text || ':' || $3::text)",
            &[&CHANNEL, &id.0.to_string(), &reason],
        )
        .await?;
    Ok(())
}

/// A state change as recorded.
#[derive(Debug, Clone)]
pub struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// The new state.
    pub state: String,
    /// Why.
    pub reason: String,
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
    Ok(rows
        .iter()
        .map(|r| Event {
            at: r.get(0),
            state: r.get(1),
            reason: r.get(2),
            detail: r.get(3),
        })
        .collect())
}
