//! Code-interpreter sandboxes: the database's view of each session and the live interpreters
//! this process holds, kept in step.
//!
//! A running session is live in exactly one process, its holder (`sandboxes.holder`). A call
//! that reaches the holder runs with no database round trip: the holder knows its sessions'
//! projects and deadlines. A call that reaches another process moves the session there: the
//! holder is asked (NOTIFY) to pause it, and this process resumes it from the snapshot. A paused
//! session resumes in whichever process next needs it.
//!
//! Once a second each process: terminates sandboxes whose timeout passed (in the database, so
//! this holds across restarts; holders hear of it by NOTIFY), pauses its sessions idle past
//! their idle time, reports its live sessions (so a crashed holder's sessions are failed, not
//! left "running"), and writes their call counts. At most `max_live` sessions are live per
//! process; opening one more pauses the least recently used. A graceful shutdown pauses every
//! live session, so a restart loses nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sbx_core::exec::{CellOutcome, CellSpec};
use sbx_core::ids::{ProjectId, SandboxId};
use sbx_core::notes::{Note, SandboxNote};
use sbx_core::sandbox::{SandboxKind, SandboxState, StateReason};
use sbx_store::Pool;
use sbx_store::sandboxes::{self, Sandbox, Transition};
use tokio_util::sync::CancellationToken;

use crate::{ApiError, BoxFuture};

/// Why the interpreter host could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The session is not live in this process.
    #[error("the session is not live here")]
    NotLive,
    /// The snapshot cannot be restored.
    #[error("{0}")]
    BadSnapshot(String),
    /// The host is shutting down, or cannot restore this snapshot (another runtime's).
    #[error("{0}")]
    Unavailable(String),
    /// The caller's input cannot be used.
    #[error("{0}")]
    BadInput(String),
    /// Our fault.
    #[error("{0}")]
    Internal(String),
}

/// What runs interpreters for this process: the embedded runner's wasm backend, wired in by the
/// binary.
pub trait SessionHost: Send + Sync {
    /// Start session `id`: fresh with `env`, or restored from `snapshot`.
    fn open(
        &self,
        id: uuid::Uuid,
        memory_bytes: u64,
        env: Vec<(String, String)>,
        snapshot: Option<Vec<u8>>,
    ) -> BoxFuture<'_, Result<(), HostError>>;
    /// Run a cell in live session `id`.
    fn cell(
        &self,
        id: uuid::Uuid,
        spec: CellSpec,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<CellOutcome, HostError>>;
    /// Pause live session `id` into a snapshot; it is no longer live.
    fn pause(&self, id: uuid::Uuid) -> BoxFuture<'_, Result<Vec<u8>, HostError>>;
    /// End live session `id`; whether it was live.
    fn close(&self, id: uuid::Uuid) -> bool;
    /// Live sessions, least recently used first: (id, idle for, running a call now).
    fn live(&self) -> Vec<(uuid::Uuid, Duration, bool)>;
}

/// Largest snapshot a pause keeps (PostgreSQL holds at most 1 GiB in one value).
const MAX_SNAPSHOT_BYTES: usize = 900 << 20;

/// Settings of the interpreter sandboxes.
#[derive(Debug, Clone, Copy)]
pub struct InterpreterConfig {
    /// Sessions live at once in this process; opening one more pauses the least recently used.
    pub max_live: usize,
    /// Sandboxes of one project that may be open (not ended) at once.
    pub max_open_per_project: i64,
    /// A holder not heard from for this long has lost its sessions.
    pub holder_stale: Duration,
}

impl Default for InterpreterConfig {
    fn default() -> Self {
        Self {
            max_live: 256,
            max_open_per_project: 2000,
            holder_stale: Duration::from_secs(30),
        }
    }
}

/// A session live here, as this process knows it.
struct Local {
    project: ProjectId,
    memory_bytes: u64,
    expires_at: DateTime<Utc>,
    idle_pause: Option<Duration>,
    /// Calls made since the last heartbeat.
    calls: i64,
}

/// The interpreter sandboxes of this process.
pub struct Interpreters {
    pool: Pool,
    notes: sbx_store::notify::Notes,
    host: Arc<dyn SessionHost>,
    holder: uuid::Uuid,
    config: InterpreterConfig,
    local: Mutex<HashMap<SandboxId, Local>>,
}

fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::State {
        code,
        detail: detail.into(),
    }
}

fn host_error(e: HostError) -> ApiError {
    match e {
        HostError::NotLive => ApiError::Unavailable("the session moved; retry".into()),
        HostError::BadSnapshot(m) => conflict("snapshot_corrupt", m),
        HostError::Unavailable(m) => ApiError::Unavailable(m),
        HostError::BadInput(m) => ApiError::invalid("invalid_path", "files", m),
        HostError::Internal(m) => ApiError::Internal(m),
    }
}

/// The answer about a sandbox that can take no more calls.
fn ended(s: &Sandbox) -> ApiError {
    conflict(
        "sandbox_ended",
        format!(
            "the sandbox is {} ({}){}",
            s.state,
            s.state_reason,
            s.state_detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
    )
}

impl Interpreters {
    /// The interpreters of a process, run by `host`.
    pub fn new(
        pool: Pool,
        notes: sbx_store::notify::Notes,
        host: Arc<dyn SessionHost>,
        config: InterpreterConfig,
    ) -> Self {
        Self {
            pool,
            notes,
            host,
            holder: uuid::Uuid::now_v7(),
            config,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn config(&self) -> InterpreterConfig {
        self.config
    }

    fn remember(&self, s: &Sandbox) {
        self.local.lock().expect("interpreters lock").insert(
            s.sandbox_id,
            Local {
                project: s.project_id,
                memory_bytes: s.memory_bytes as u64,
                expires_at: s.expires_at,
                idle_pause: s.idle_pause_s.map(|t| Duration::from_secs(t as u64)),
                calls: 0,
            },
        );
    }

    fn forget(&self, id: SandboxId) {
        self.local.lock().expect("interpreters lock").remove(&id);
    }

    /// Start the session of sandbox `s`, just created as `pending`, with `env`: it is running
    /// here afterwards, or failed with the reason.
    pub async fn start(&self, s: Sandbox, env: Vec<(String, String)>) -> Result<Sandbox, ApiError> {
        self.make_room().await;
        if let Err(e) = self
            .host
            .open(s.sandbox_id.0, s.memory_bytes as u64, env, None)
            .await
        {
            let detail = e.to_string();
            sandboxes::transition(
                &self.pool,
                s.sandbox_id,
                Transition {
                    from: &[SandboxState::Pending],
                    to: SandboxState::Failed,
                    reason: StateReason::StartFailed,
                    detail: Some(&detail),
                    holder: None,
                },
            )
            .await?;
            return Err(host_error(e));
        }
        let running = sandboxes::transition(
            &self.pool,
            s.sandbox_id,
            Transition {
                from: &[SandboxState::Pending],
                to: SandboxState::Running,
                reason: StateReason::Started,
                detail: None,
                holder: Some(self.holder),
            },
        )
        .await?;
        match running {
            Some(r) => {
                self.remember(&r);
                Ok(r)
            }
            None => {
                // Ended while starting (deleted, or its timeout passed).
                self.host.close(s.sandbox_id.0);
                let now = sandboxes::get(&self.pool, s.project_id, s.sandbox_id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
                Err(ended(&now))
            }
        }
    }

    /// Run `spec` in sandbox `id` of `project`: here if it is live here, else after moving or
    /// resuming it here.
    pub async fn exec(
        &self,
        project: ProjectId,
        id: SandboxId,
        spec: CellSpec,
        cancel: CancellationToken,
    ) -> Result<CellOutcome, ApiError> {
        for _ in 0..3 {
            let here = {
                let local = self.local.lock().expect("interpreters lock");
                local.get(&id).map(|l| (l.project, l.expires_at))
            };
            if let Some((owner, expires_at)) = here {
                if owner != project {
                    return Err(ApiError::NotFound("no such sandbox".into()));
                }
                if expires_at <= Utc::now() {
                    return Err(conflict(
                        "sandbox_ended",
                        "the sandbox's timeout has passed; it is being terminated",
                    ));
                }
                match self.host.cell(id.0, spec.clone(), cancel.clone()).await {
                    Ok(outcome) => {
                        if let Some(l) = self.local.lock().expect("interpreters lock").get_mut(&id)
                        {
                            l.calls += 1;
                        }
                        return Ok(outcome);
                    }
                    Err(HostError::NotLive) => {
                        self.forget(id);
                        continue;
                    }
                    Err(e) => return Err(host_error(e)),
                }
            }
            let s = self.own(project, id).await?;
            if s.kind != SandboxKind::Interpreter {
                return Err(ApiError::invalid(
                    "invalid_request",
                    "code",
                    "this sandbox is a container: send `command` (argv) to run in it",
                ));
            }
            match s.state {
                SandboxState::Running if s.holder == Some(self.holder) => {
                    // Being resumed or started here by another request: let it finish.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                SandboxState::Running => {
                    self.move_here(&s).await?;
                }
                SandboxState::Paused if s.state_reason == StateReason::User => {
                    return Err(conflict(
                        "sandbox_paused",
                        "the sandbox was paused by its owner; resume it first (POST …/resume)",
                    ));
                }
                SandboxState::Paused => {
                    self.resume_here(&s, StateReason::ResumedByExec).await?;
                }
                SandboxState::Pending => {
                    return Err(conflict("sandbox_pending", "the sandbox is still starting"));
                }
                SandboxState::Terminated | SandboxState::Failed => return Err(ended(&s)),
            }
        }
        Err(ApiError::Unavailable(
            "the session kept moving between processes; retry".into(),
        ))
    }

    /// Sandbox `id` of `project`, or 404.
    async fn own(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox, ApiError> {
        sandboxes::get(&self.pool, project, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))
    }

    /// Ask the holder of running sandbox `s` to pause it, and resume it here.
    async fn move_here(&self, s: &Sandbox) -> Result<(), ApiError> {
        let paused = self.pause_elsewhere(s, StateReason::Moved).await?;
        if paused.state == SandboxState::Paused {
            self.resume_here(&paused, StateReason::Moved).await?;
        }
        Ok(())
    }

    /// Ask the holder of running sandbox `s` to pause it with `reason`; the sandbox once it
    /// is no longer running there (or 503 if its holder does not answer).
    async fn pause_elsewhere(&self, s: &Sandbox, reason: StateReason) -> Result<Sandbox, ApiError> {
        sandboxes::request_pause(&self.pool, s.sandbox_id, reason).await?;
        let started = tokio::time::Instant::now();
        let deadline = started + Duration::from_secs(10);
        let mut asked = started;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            // A notification is not a queue: a holder busy or reconnecting may miss one.
            if asked.elapsed() >= Duration::from_secs(1) {
                sandboxes::request_pause(&self.pool, s.sandbox_id, reason).await?;
                asked = tokio::time::Instant::now();
            }
            let now = self.own(s.project_id, s.sandbox_id).await?;
            if now.state != SandboxState::Running || now.holder != s.holder {
                return Ok(now);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::Unavailable(
                    "the process holding the session did not pause it in time".into(),
                ));
            }
        }
    }

    /// Resume paused sandbox `s` here, from its snapshot. A snapshot that is missing or cannot
    /// be restored fails the sandbox, saying why.
    async fn resume_here(&self, s: &Sandbox, reason: StateReason) -> Result<Sandbox, ApiError> {
        self.make_room().await;
        let Some(claimed) = sandboxes::transition(
            &self.pool,
            s.sandbox_id,
            Transition {
                from: &[SandboxState::Paused],
                to: SandboxState::Running,
                reason,
                detail: None,
                holder: Some(self.holder),
            },
        )
        .await?
        else {
            // Resumed elsewhere, or ended, meanwhile.
            return self.own(s.project_id, s.sandbox_id).await;
        };
        // Read once the sandbox is ours: an earlier read could be overtaken by another
        // process's resume, call and pause.
        let Some(snapshot) = sandboxes::snapshot(&self.pool, s.sandbox_id).await? else {
            let detail = "its snapshot is missing; the session's state cannot be restored";
            self.fail(s.sandbox_id, StateReason::SnapshotMissing, detail)
                .await?;
            return Err(conflict("snapshot_missing", detail));
        };
        match self
            .host
            .open(
                s.sandbox_id.0,
                s.memory_bytes as u64,
                Vec::new(),
                Some(snapshot),
            )
            .await
        {
            Ok(()) => {
                self.remember(&claimed);
                Ok(claimed)
            }
            Err(HostError::BadSnapshot(m)) => {
                let detail = format!("its snapshot cannot be restored: {m}");
                self.fail(s.sandbox_id, StateReason::SnapshotCorrupt, &detail)
                    .await?;
                Err(conflict("snapshot_corrupt", detail))
            }
            Err(e) => {
                // Our side failed; the snapshot is intact: back to paused, to try again.
                sandboxes::transition(
                    &self.pool,
                    s.sandbox_id,
                    Transition {
                        from: &[SandboxState::Running],
                        to: SandboxState::Paused,
                        reason: s.state_reason,
                        detail: None,
                        holder: None,
                    },
                )
                .await?;
                Err(host_error(e))
            }
        }
    }

    /// Fail sandbox `id`, just resumed here, with `reason`.
    async fn fail(&self, id: SandboxId, reason: StateReason, detail: &str) -> Result<(), ApiError> {
        sandboxes::transition(
            &self.pool,
            id,
            Transition {
                from: &[SandboxState::Running],
                to: SandboxState::Failed,
                reason,
                detail: Some(detail),
                holder: None,
            },
        )
        .await?;
        Ok(())
    }

    /// Pause session `id`, live here, with `reason`. `false` if it was not live here.
    async fn pause_local(&self, id: SandboxId, reason: StateReason) -> Result<bool, ApiError> {
        if !self
            .local
            .lock()
            .expect("interpreters lock")
            .contains_key(&id)
        {
            return Ok(false);
        }
        let snapshot = match self.host.pause(id.0).await {
            Ok(s) => s,
            Err(HostError::NotLive) => {
                self.forget(id);
                return Ok(false);
            }
            Err(e) => return Err(host_error(e)),
        };
        let stored = if snapshot.len() > MAX_SNAPSHOT_BYTES {
            Err(conflict(
                "snapshot_too_large",
                format!(
                    "the session's state is {} MiB, over the {} MiB a pause can keep; free some \
                     memory or files first",
                    snapshot.len() >> 20,
                    MAX_SNAPSHOT_BYTES >> 20
                ),
            ))
        } else {
            sandboxes::pause(&self.pool, id, self.holder, reason, &snapshot)
                .await
                .map_err(ApiError::from)
        };
        match stored {
            Ok(kept) => {
                self.forget(id);
                if !kept {
                    tracing::info!(sandbox = %id, "a session ended while it was being paused");
                }
                Ok(true)
            }
            Err(e) => {
                // Not kept: the session goes on here, from the snapshot just taken, rather than
                // be lost. An idle pause is not tried again for it.
                let memory = self
                    .local
                    .lock()
                    .expect("interpreters lock")
                    .get(&id)
                    .map_or(512 << 20, |l| l.memory_bytes);
                if let Err(reopen) = self
                    .host
                    .open(id.0, memory, Vec::new(), Some(snapshot))
                    .await
                {
                    tracing::error!(sandbox = %id, error = %reopen, "a session could be neither paused nor kept");
                    self.forget(id);
                } else if let Some(l) = self.local.lock().expect("interpreters lock").get_mut(&id) {
                    l.idle_pause = None;
                }
                Err(e)
            }
        }
    }

    /// Pause sandbox `id` of `project` at its owner's request.
    pub async fn pause(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox, ApiError> {
        let s = self.own(project, id).await?;
        match s.state {
            SandboxState::Running if s.holder == Some(self.holder) => {
                self.pause_local(id, StateReason::User).await?;
            }
            SandboxState::Running => {
                self.pause_elsewhere(&s, StateReason::User).await?;
            }
            SandboxState::Paused => {}
            SandboxState::Pending => {
                return Err(conflict("sandbox_pending", "the sandbox is still starting"));
            }
            SandboxState::Terminated | SandboxState::Failed => return Err(ended(&s)),
        }
        self.own(project, id).await
    }

    /// Resume sandbox `id` of `project` here.
    pub async fn resume(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox, ApiError> {
        let s = self.own(project, id).await?;
        match s.state {
            SandboxState::Paused if s.kind == SandboxKind::Container => {
                // Back to pending: a runner with room places it again, from its snapshot.
                let Some(pending) = sandboxes::transition(
                    &self.pool,
                    id,
                    Transition {
                        from: &[SandboxState::Paused],
                        to: SandboxState::Pending,
                        reason: StateReason::Resumed,
                        detail: None,
                        holder: None,
                    },
                )
                .await?
                else {
                    return self.own(project, id).await;
                };
                self.await_placement(pending, Duration::from_secs(30)).await
            }
            SandboxState::Paused => self.resume_here(&s, StateReason::Resumed).await,
            SandboxState::Running | SandboxState::Pending => Ok(s),
            SandboxState::Terminated | SandboxState::Failed => Err(ended(&s)),
        }
    }

    /// Announce pending container sandbox `s` to the runners and wait (at most `wait`) until
    /// one runs it, it fails, or no runner has room; the sandbox then.
    pub async fn await_placement(&self, s: Sandbox, wait: Duration) -> Result<Sandbox, ApiError> {
        let mut notes = self.notes.subscribe();
        sandboxes::announce_pending(&self.pool, s.sandbox_id).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let now = self.own(s.project_id, s.sandbox_id).await?;
            // Answered once it runs or ended, or once the runners looked and found no room
            // (`waiting_for` says why; it is placed when room is made).
            if now.state != SandboxState::Pending
                || now.waiting_for.is_some()
                || tokio::time::Instant::now() >= deadline
            {
                return Ok(now);
            }
            // Woken by the runner's NOTIFY; polled as a fallback.
            let id = s.sandbox_id;
            let _ = tokio::time::timeout(
                Duration::from_millis(250),
                sbx_store::notify::next(&mut notes, |n| {
                    matches!(
                        n,
                        Note::Sandbox(SandboxNote::Running(s) | SandboxNote::Ended(s)) if s == id
                    )
                    .then_some(())
                }),
            )
            .await;
        }
    }

    /// Terminate sandbox `id` of `project` at its owner's request.
    pub async fn terminate(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox, ApiError> {
        let s = self.own(project, id).await?;
        let done = sandboxes::transition(
            &self.pool,
            id,
            Transition {
                from: SandboxState::OPEN,
                to: SandboxState::Terminated,
                reason: StateReason::User,
                detail: None,
                holder: None,
            },
        )
        .await?;
        self.let_go(id);
        Ok(done.unwrap_or(s))
    }

    /// Set sandbox `id`'s timeout to `timeout_s` from now.
    pub async fn extend(
        &self,
        project: ProjectId,
        id: SandboxId,
        timeout_s: i32,
    ) -> Result<Sandbox, ApiError> {
        match sandboxes::extend(&self.pool, project, id, timeout_s).await? {
            Some(s) => {
                if let Some(l) = self.local.lock().expect("interpreters lock").get_mut(&id) {
                    l.expires_at = s.expires_at;
                }
                Ok(s)
            }
            None => Err(ended(&self.own(project, id).await?)),
        }
    }

    /// Drop session `id` here, if it is live here.
    fn let_go(&self, id: SandboxId) {
        self.forget(id);
        self.host.close(id.0);
    }

    /// Below `max_live` live sessions: the least recently used idle ones are paused.
    async fn make_room(&self) {
        let live = self.host.live();
        let over = (live.len() + 1).saturating_sub(self.config.max_live);
        for (id, _, _) in live.into_iter().filter(|l| !l.2).take(over) {
            if let Err(e) = self.pause_local(SandboxId(id), StateReason::Evicted).await {
                tracing::warn!(sandbox = %id, error = %e, "could not pause a session to make room");
            }
        }
    }

    /// A sandbox note: an ended session is let go, a pause asked for is made.
    pub async fn on_note(&self, note: SandboxNote) {
        match note {
            SandboxNote::Ended(id) => self.let_go(id),
            SandboxNote::PauseRequested {
                sandbox: id,
                reason,
            } => {
                if let Err(e) = self.pause_local(id, reason).await {
                    tracing::warn!(sandbox = %id, error = %e, "could not pause a session on request");
                }
            }
            SandboxNote::Pending(_)
            | SandboxNote::Running(_)
            | SandboxNote::Command { .. }
            | SandboxNote::CommandDone(_) => {}
        }
    }

    /// One round of upkeep: timeouts, idle pauses, the holder's heartbeat, lost holders.
    pub async fn sweep(&self) -> Result<(), ApiError> {
        for id in sandboxes::expire(&self.pool).await? {
            self.let_go(id);
        }
        // Live here but past their deadline, should the database not have said so yet.
        let now = Utc::now();
        let expired: Vec<SandboxId> = {
            let local = self.local.lock().expect("interpreters lock");
            local
                .iter()
                .filter(|(_, l)| l.expires_at <= now)
                .map(|(id, _)| *id)
                .collect()
        };
        for id in expired {
            self.let_go(id);
        }
        let idle: Vec<SandboxId> = {
            let local = self.local.lock().expect("interpreters lock");
            self.host
                .live()
                .into_iter()
                .filter(|(id, idle, busy)| {
                    !busy
                        && local
                            .get(&SandboxId(*id))
                            .and_then(|l| l.idle_pause)
                            .is_some_and(|limit| *idle >= limit)
                })
                .map(|(id, _, _)| SandboxId(id))
                .collect()
        };
        for id in idle {
            if let Err(e) = self.pause_local(id, StateReason::Idle).await {
                tracing::warn!(sandbox = %id, error = %e, "could not pause an idle session");
            }
        }
        let beats: Vec<(SandboxId, i64)> = {
            let mut local = self.local.lock().expect("interpreters lock");
            local
                .iter_mut()
                .map(|(id, l)| (*id, std::mem::take(&mut l.calls)))
                .collect()
        };
        sandboxes::heartbeat(&self.pool, self.holder, &beats).await?;
        for id in sandboxes::fail_lost(&self.pool, self.config.holder_stale.as_secs_f64()).await? {
            tracing::warn!(sandbox = %id, "a session's holder was lost; the sandbox failed");
        }
        Ok(())
    }

    /// Pause every session live here (reason `shutdown`), so that a restart loses nothing.
    pub async fn shutdown(&self) {
        let ids: Vec<SandboxId> = self
            .local
            .lock()
            .expect("interpreters lock")
            .keys()
            .copied()
            .collect();
        for id in ids {
            if let Err(e) = self.pause_local(id, StateReason::Shutdown).await {
                tracing::warn!(sandbox = %id, error = %e, "could not pause a session at shutdown");
            }
        }
    }

    /// Run upkeep once a second and act on notifications, until `stop` fires.
    pub async fn run(self: Arc<Self>, notes: sbx_store::notify::Notes, stop: CancellationToken) {
        let mut rx = notes.subscribe();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.sweep().await {
                        tracing::warn!(error = %e, "sandbox upkeep failed; retrying in a second");
                    }
                }
                note = rx.recv() => match note {
                    Ok(Note::Sandbox(note)) => {
                        let this = self.clone();
                        // A pause may take a while: the loop keeps listening meanwhile.
                        tokio::spawn(async move { this.on_note(note).await });
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
}
