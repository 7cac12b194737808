//! Placement of container sandboxes: runners claim the pending ones that fit them
//! (`FOR UPDATE SKIP LOCKED`), record their containers running, and hand back what they cannot
//! start; the API announces a sandbox waiting for a place.

use sbx_core::ids::{ProjectId, SandboxId};
use sbx_core::notes::{Note, SANDBOXES as CHANNEL, SandboxNote};
use sbx_core::sandbox::StateReason;

use crate::{Db, Pool, Result};

use crate::sandboxes::{COLUMNS, Sandbox, sandbox};

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
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
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
                "select {COLUMNS}, docker_image, registry_auth, env_sealed,
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
#[tracing::instrument(level = "debug", skip_all, fields(id = %id, runner = %runner))]
pub async fn container_started(
    db: &impl Db,
    id: SandboxId,
    runner: uuid::Uuid,
    container_id: &str,
    reason: StateReason,
) -> Result<Option<Sandbox>> {
    let row = db
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
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, id = %id))]
pub async fn container_of(
    db: &impl Db,
    project: ProjectId,
    id: SandboxId,
) -> Result<Option<(String, Option<uuid::Uuid>)>> {
    Ok(db
        .query_opt(
            "select container_id, holder from sandboxes
             where sandbox_id = $1 and project_id = $2 and state = 'running' and container_id is not null",
            &[&id.0, &project.0],
        )
        .await?
        .map(|r| (r.get("container_id"), r.get("holder"))))
}

/// The runner that runs container sandbox `id` of `project`, and its internal endpoint
/// (`http://host:port`): none if the sandbox is not running, or its runner stopped or records
/// no endpoint.
#[tracing::instrument(level = "debug", skip_all, fields(sandbox = %id))]
pub async fn endpoint_of(
    db: &impl Db,
    project: ProjectId,
    id: SandboxId,
) -> Result<Option<(uuid::Uuid, String)>> {
    Ok(db
        .query_opt(
            "select r.runner_id, r.internal_url from sandboxes s join runners r on r.runner_id = s.holder
             where s.sandbox_id = $1 and s.project_id = $2 and s.state = 'running'
               and s.container_id is not null and r.internal_url is not null
               and r.stopped_at is null",
            &[&id.0, &project.0],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// Sandboxes `runner` holds (placing or running), with their GPU allocations: what it
/// rebuilds its books from.
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn held_by(db: &impl Db, runner: uuid::Uuid) -> Result<Vec<Sandbox>> {
    let rows = db
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
#[tracing::instrument(level = "debug", skip_all)]
pub async fn release_stale_placements(db: &impl Db, stale_s: f64) -> Result<u64> {
    db.execute(
        "update sandboxes set holder = null, holder_seen_at = null, gpu_alloc = null
             where state = 'pending' and holder is not null
               and holder_seen_at < now() - make_interval(secs => $1)",
        &[&stale_s],
    )
    .await
}

/// Tell runners that container sandbox `id` waits for a place.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub async fn announce_pending(db: &impl Db, id: SandboxId) -> Result<()> {
    crate::notify::send(db, &Note::Sandbox(SandboxNote::Pending(id))).await
}

/// New container sandboxes `ids`, copies of sandbox `source` (its project, image, limits, GPU
/// request, env, command, network, registry credentials, idle pause and lifetime, counted from
/// now), made by `key`, `pending`, in `ids`' order. Their files are the folders of a pause
/// (number 1) that `host` keeps: runners place them as they resume a paused sandbox (`host`
/// at once, others once the copy in the database is complete). Nothing is made (an empty list)
/// unless `source` is a running container.
#[tracing::instrument(level = "debug", skip_all, fields(source = %source))]
pub async fn fork_container(
    db: &impl Db,
    source: SandboxId,
    ids: &[SandboxId],
    key: Option<sbx_core::ids::ApiKeyId>,
    host: &str,
) -> Result<Vec<Sandbox>> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let rows = db
        .query(
            &format!(
                "insert into sandboxes (sandbox_id, project_id, api_key_id, image, kind,
                     memory_bytes, cpu_millis, gpu, env_keys, command, timeout_s, expires_at,
                     idle_pause_s, network, docker_image, registry_auth, env_sealed, disk_bytes,
                     snapshot_gen, snapshot_host, egress, ports)
                 select n.id, s.project_id, $3, s.image, s.kind, s.memory_bytes, s.cpu_millis,
                     s.gpu, s.env_keys, s.command, s.timeout_s,
                     now() + s.timeout_s * interval '1 second', s.idle_pause_s, s.network,
                     s.docker_image, s.registry_auth, s.env_sealed, s.disk_bytes, 1, $4, s.egress,
                     s.ports
                 from sandboxes s, unnest($2::uuid[]) with ordinality as n(id, i)
                 where s.sandbox_id = $1 and s.kind = 'container' and s.state = 'running'
                 order by n.i
                 returning {COLUMNS}"
            ),
            &[&source.0, &ids, &key.map(|k| k.0), &host],
        )
        .await?;
    let mut made = rows.iter().map(sandbox).collect::<Result<Vec<_>>>()?;
    made.sort_by_key(|s| ids.iter().position(|id| *id == s.sandbox_id.0));
    Ok(made)
}
