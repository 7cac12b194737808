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

use crate::{Db, Pool, Result, named};

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
    /// Disk cap in bytes (`/workspace` with `/tmp` or `/outputs`).
    pub disk_bytes: i64,
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
    /// A network interface besides loopback (containers).
    pub network: bool,
    /// Its egress rules' entries, when its network goes only where they allow.
    pub egress: Option<Vec<String>>,
    /// Its declared ports, ascending (containers).
    pub ports: Vec<i32>,
}

pub(crate) const COLUMNS: &str = "sandbox_id, project_id, image, kind, state, state_reason, state_detail,
    memory_bytes, disk_bytes, cpu_millis, gpu, env_keys, command, timeout_s, expires_at, idle_pause_s, holder,
    snapshot_bytes, calls, created_at, started_at, last_active_at, ended_at, container_id, gpu_alloc,
    waiting_for, job_id, network, egress, ports";

pub(crate) fn sandbox(r: &Row) -> Result<Sandbox> {
    Ok(Sandbox {
        sandbox_id: SandboxId(r.try_get("sandbox_id")?),
        project_id: ProjectId(r.try_get("project_id")?),
        image: r.try_get("image")?,
        kind: named(r, "kind")?,
        state: named(r, "state")?,
        state_reason: named(r, "state_reason")?,
        state_detail: r.try_get("state_detail")?,
        memory_bytes: r.try_get("memory_bytes")?,
        disk_bytes: r.try_get("disk_bytes")?,
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
        network: r.try_get("network")?,
        egress: r.try_get("egress")?,
        ports: r.try_get("ports")?,
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
    pub api_key_id: Option<ApiKeyId>,
    /// Catalog name or image reference.
    pub image: String,
    /// What runs it.
    pub kind: SandboxKind,
    /// Memory limit in bytes.
    pub memory_bytes: i64,
    /// Disk cap in bytes (`/workspace` with `/tmp` or `/outputs`).
    pub disk_bytes: i64,
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
    /// Egress rules' entries, checked (`sbx_limits::egress`): the network goes only where
    /// they allow (containers; `network` is true with them).
    pub egress: Option<Vec<String>>,
    /// Declared ports, distinct and ascending, at most [`crate::ports::MAX_PORTS`] (containers).
    pub ports: Vec<i32>,
    /// The image reference runners run (containers).
    pub docker_image: Option<String>,
    /// Registry credentials, sealed.
    pub registry_auth: Option<Vec<u8>>,
    /// The env values, sealed (containers).
    pub env_sealed: Option<Vec<u8>>,
}

/// Insert `new` as `pending`. A repeated Idempotency-Key is a unique violation.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(db: &impl Db, new: &NewSandbox) -> Result<Sandbox> {
    let mut made = create_copies(db, new, &[new.sandbox_id], None).await?;
    made.pop()
        .ok_or_else(|| crate::StoreError::Corrupt("the insert returned no row".into()))
}

/// Insert one sandbox like `new` per id of `ids` (a fork's copies), in one statement: in the
/// order of `ids`. `pending`; or, with a `holder` (the process its session is already live
/// in), `running` there, started now.
#[tracing::instrument(level = "debug", skip_all, fields(n = ids.len()))]
pub async fn create_copies(
    db: &impl Db,
    new: &NewSandbox,
    ids: &[SandboxId],
    holder: Option<uuid::Uuid>,
) -> Result<Vec<Sandbox>> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.0).collect();
    let rows = db
        .query(
            &format!(
                "insert into sandboxes (sandbox_id, project_id, api_key_id, image, kind, memory_bytes,
                     cpu_millis, gpu, env_keys, command, timeout_s, expires_at, idle_pause_s,
                     idempotency_key, request_hash, network, docker_image, registry_auth, env_sealed,
                     disk_bytes, egress, ports, state, state_reason, holder, holder_seen_at,
                     started_at)
                 select id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                         now() + $11::int * interval '1 second', $12, $13, $14, $15, $16, $17, $18,
                         $19, $20, $21,
                         case when $22::uuid is null then 'pending' else 'running' end,
                         case when $22::uuid is null then 'created' else 'started' end,
                         $22, case when $22::uuid is null then null else now() end,
                         case when $22::uuid is null then null else now() end
                 from unnest($1::uuid[]) with ordinality as copies(id, n) order by n
                 returning {COLUMNS}"
            ),
            &[
                &ids,
                &new.project_id.0,
                &new.api_key_id.map(|k| k.0),
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
                &new.disk_bytes,
                &new.egress,
                &new.ports,
                &holder,
            ],
        )
        .await?;
    let mut made = rows.iter().map(sandbox).collect::<Result<Vec<_>>>()?;
    made.sort_by_key(|s| ids.iter().position(|i| *i == s.sandbox_id.0));
    Ok(made)
}

/// Sandbox `id` of `project`; `None` for another project's, as for one that does not exist.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, id = %id))]
pub async fn get(db: &impl Db, project: ProjectId, id: SandboxId) -> Result<Option<Sandbox>> {
    use crate::GenericClient as _;
    let client = db.client().await?;
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

/// The project sandbox `id` belongs to, whatever its state; `None` if there is no such
/// sandbox. For requests that name a sandbox by a credential of its own (a preview URL).
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn project_of(db: &impl Db, id: SandboxId) -> Result<Option<ProjectId>> {
    use crate::GenericClient as _;
    let client = db.client().await?;
    let stmt = client
        .prepare_cached("select project_id from sandboxes where sandbox_id = $1")
        .await?;
    Ok(client
        .query_opt(&stmt, &[&id.0])
        .await?
        .map(|r| ProjectId(r.get(0))))
}

/// Up to `limit` sandboxes of `project`, newest first, older than `before` when given, in
/// `state` when given.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn list(
    db: &impl Db,
    project: ProjectId,
    state: Option<SandboxState>,
    before: Option<SandboxId>,
    limit: i64,
) -> Result<Vec<Sandbox>> {
    let rows = db
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
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn by_idempotency_key(
    db: &impl Db,
    project: ProjectId,
    key: &str,
) -> Result<Option<(Sandbox, Option<Vec<u8>>)>> {
    db.query_opt(
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
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn open_count(db: &impl Db, project: ProjectId) -> Result<i64> {
    let row = db
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

impl<'a> Transition<'a> {
    /// From one of `from` to `to`, for `reason`, with no account and no holder afterwards.
    pub fn new(from: &'a [SandboxState], to: SandboxState, reason: StateReason) -> Self {
        Self {
            from,
            to,
            reason,
            detail: None,
            holder: None,
        }
    }

    /// With the person-readable account `detail`.
    pub fn detail(self, detail: &'a str) -> Self {
        Self {
            detail: Some(detail),
            ..self
        }
    }

    /// Live in process `holder` afterwards.
    pub fn holder(self, holder: uuid::Uuid) -> Self {
        Self {
            holder: Some(holder),
            ..self
        }
    }
}

/// Make `t` on sandbox `id` if it is in one of `t.from`: the sandbox as it is afterwards, or
/// `None` if it was not in one of those states. Ending it (terminated, failed) drops its
/// snapshot and announces the end on [`SandboxNote`]. A resume keeps the snapshot until the next
/// pause replaces it, so a resume that fails on our side can be tried again.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn transition(db: &impl Db, id: SandboxId, t: Transition<'_>) -> Result<Option<Sandbox>> {
    use crate::GenericClient as _;
    let client = db.client().await?;
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
#[tracing::instrument(level = "debug", skip_all, fields(id = %id, holder = %holder))]
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

/// The snapshot of sandbox `id`, if one is kept.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn snapshot(db: &impl Db, id: SandboxId) -> Result<Option<Vec<u8>>> {
    Ok(db
        .query_opt(
            "select data from sandbox_snapshots where sandbox_id = $1",
            &[&id.0],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Set sandbox `id`'s lifetime to end `timeout_s` from now, if it is still open; the sandbox
/// afterwards.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, id = %id))]
pub async fn extend(
    db: &impl Db,
    project: ProjectId,
    id: SandboxId,
    timeout_s: i32,
) -> Result<Option<Sandbox>> {
    let row = db
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
#[tracing::instrument(level = "debug", skip_all)]
pub async fn expire(db: &impl Db) -> Result<Vec<SandboxId>> {
    use crate::GenericClient as _;
    let client = db.client().await?;
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
#[tracing::instrument(level = "debug", skip_all, fields(holder = %holder))]
pub async fn heartbeat(db: &impl Db, holder: uuid::Uuid, live: &[(SandboxId, i64)]) -> Result<()> {
    use crate::GenericClient as _;
    if live.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = live.iter().map(|(id, _)| id.0).collect();
    let calls: Vec<i64> = live.iter().map(|(_, c)| *c).collect();
    let client = db.client().await?;
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
#[tracing::instrument(level = "debug", skip_all)]
pub async fn fail_lost(db: &impl Db, stale_s: f64) -> Result<Vec<SandboxId>> {
    use crate::GenericClient as _;
    let client = db.client().await?;
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
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn request_pause(db: &impl Db, id: SandboxId, reason: StateReason) -> Result<()> {
    crate::notify::send(
        db,
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
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn events(db: &impl Db, id: SandboxId) -> Result<Vec<Event>> {
    let rows = db
        .query(
            "select at, state, reason, detail from (
                 select event_id, at, state, reason, detail from sandbox_events
                 where sandbox_id = $1 and type <> 'sandbox.egress_denied'
                 order by event_id desc limit 100
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
