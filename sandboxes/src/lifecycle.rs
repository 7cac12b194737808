//! The lifecycle service ([`Sandboxes`]): create, start, exec, pause, resume, timeout and
//! terminate, for both kinds. It reads a sandbox's row, checks ownership and state, records
//! what every kind shares, and hands the rest to the kind's [`SandboxHost`]:
//! [`Interpreters`] (sessions in this process) or [`Containers`] (on the runners).

use std::sync::Arc;
use std::time::Duration;

use sbx_core::SessionHost;
use sbx_core::ids::{ProjectId, SandboxId};
use sbx_core::notes::{Note, SandboxNote};
use sbx_core::sandbox::{SandboxKind, SandboxState, StateReason};
use sbx_store::Pool;
use sbx_store::notify::Notes;
use sbx_store::sandboxes::{self, NewSandbox, Sandbox, Transition};
use tokio_util::sync::CancellationToken;

use crate::containers::Containers;
use crate::host::{Call, CallOutcome, SandboxHost};
use crate::interpreters::Interpreters;
use crate::{Result, SandboxError};

/// Settings of the sandboxes of a process.
#[derive(Debug, Clone, Copy)]
pub struct SandboxesConfig {
    /// Sessions live at once in this process; opening one more pauses the least recently used.
    pub max_live: usize,
    /// Sandboxes of one project that may be open (not ended) at once.
    pub max_open_per_project: i64,
    /// A holder not heard from for this long has lost its sessions.
    pub holder_stale: Duration,
}

impl Default for SandboxesConfig {
    fn default() -> Self {
        Self {
            max_live: 256,
            max_open_per_project: 2000,
            holder_stale: Duration::from_secs(30),
        }
    }
}

/// The sandboxes as an API process manages them: both kinds, each through its host.
pub struct Sandboxes {
    pool: Pool,
    config: SandboxesConfig,
    interpreters: Arc<Interpreters>,
    containers: Containers,
}

impl Sandboxes {
    /// The sandboxes of a process whose code-interpreter sessions `sessions` runs.
    pub fn new(
        pool: Pool,
        notes: Notes,
        sessions: Arc<dyn SessionHost>,
        config: SandboxesConfig,
    ) -> Self {
        Self {
            interpreters: Arc::new(Interpreters::new(
                pool.clone(),
                notes.clone(),
                sessions,
                config,
            )),
            containers: Containers::new(pool.clone(), notes),
            pool,
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> SandboxesConfig {
        self.config
    }

    pub(crate) fn interpreters(&self) -> &Interpreters {
        &self.interpreters
    }

    /// The host of sandboxes of `kind`.
    pub fn host(&self, kind: SandboxKind) -> &dyn SandboxHost {
        match kind {
            SandboxKind::Interpreter => &*self.interpreters,
            SandboxKind::Container => &self.containers,
        }
    }

    /// Room for one more open sandbox in `project`, or [`SandboxError::TooManyOpen`].
    pub async fn open_room(&self, project: ProjectId) -> Result<()> {
        self.room_for(project, 1).await
    }

    /// Room for `count` more open sandboxes in `project`, or [`SandboxError::TooManyOpen`].
    pub async fn room_for(&self, project: ProjectId, count: usize) -> Result<()> {
        let open = sandboxes::open_count(&self.pool, project).await?;
        let cap = self.config.max_open_per_project;
        if open + count as i64 > cap {
            return Err(SandboxError::TooManyOpen { open, cap });
        }
        Ok(())
    }

    /// Create sandbox `new` (checked by the caller against its project's limits) and start
    /// it, with `env` for a session (a container's is sealed in `new`): the sandbox then (see
    /// [`SandboxHost::start`]). A project with no room is refused; a row with the same
    /// Idempotency-Key is `SandboxError::Store(StoreError::Duplicate)`.
    pub async fn create(&self, new: &NewSandbox, env: Vec<(String, String)>) -> Result<Sandbox> {
        self.open_room(new.project_id).await?;
        let created = sandboxes::create(&self.pool, new).await?;
        self.host(new.kind).start(created, env).await
    }

    /// Run `call` in sandbox `id` of `project`, by the host of the kind it is for.
    pub async fn exec(
        &self,
        project: ProjectId,
        id: SandboxId,
        call: Call,
        cancel: CancellationToken,
    ) -> Result<CallOutcome> {
        let kind = match call {
            Call::Code(_) => SandboxKind::Interpreter,
            Call::Command(_) => SandboxKind::Container,
        };
        self.host(kind).exec(project, id, call, cancel).await
    }

    /// The host folder that is code-interpreter sandbox `id`'s `/workspace` (of `project`),
    /// its session live here afterwards (see [`Interpreters::workspace`]). A container:
    /// [`SandboxError::NotAnInterpreter`].
    pub async fn interpreter_workspace(
        &self,
        project: ProjectId,
        id: SandboxId,
    ) -> Result<std::path::PathBuf> {
        self.interpreters.workspace(project, id).await
    }

    /// Pause sandbox `id` of `project` at its owner's request.
    pub async fn pause(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox> {
        self.pause_for(project, id, StateReason::User).await
    }

    /// Pause sandbox `id` of `project` for `reason` (its owner: `user`; its budget: `budget`).
    pub async fn pause_for(
        &self,
        project: ProjectId,
        id: SandboxId,
        reason: StateReason,
    ) -> Result<Sandbox> {
        let s = own(&self.pool, project, id).await?;
        match s.state {
            SandboxState::Running => self.host(s.kind).pause(&s, reason).await?,
            SandboxState::Paused => {}
            SandboxState::Pending => return Err(SandboxError::Pending),
            SandboxState::Terminated | SandboxState::Failed => return Err(SandboxError::ended(&s)),
        }
        own(&self.pool, project, id).await
    }

    /// Resume sandbox `id` of `project`.
    pub async fn resume(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox> {
        let s = own(&self.pool, project, id).await?;
        match s.state {
            SandboxState::Paused => self.host(s.kind).resume(&s).await,
            SandboxState::Running | SandboxState::Pending => Ok(s),
            SandboxState::Terminated | SandboxState::Failed => Err(SandboxError::ended(&s)),
        }
    }

    /// Terminate sandbox `id` of `project` at its owner's request.
    pub async fn terminate(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox> {
        let s = own(&self.pool, project, id).await?;
        let done = sandboxes::transition(
            &self.pool,
            id,
            Transition::new(
                SandboxState::OPEN,
                SandboxState::Terminated,
                StateReason::User,
            ),
        )
        .await?;
        self.host(s.kind).ended(id);
        Ok(done.unwrap_or(s))
    }

    /// Set sandbox `id`'s timeout to `timeout_s` from now.
    pub async fn extend(
        &self,
        project: ProjectId,
        id: SandboxId,
        timeout_s: i32,
    ) -> Result<Sandbox> {
        match sandboxes::extend(&self.pool, project, id, timeout_s).await? {
            Some(s) => {
                self.host(s.kind).extended(&s);
                Ok(s)
            }
            None => Err(SandboxError::ended(&own(&self.pool, project, id).await?)),
        }
    }

    /// Keep this process's sessions (timeouts, idle pauses, heartbeat, notes) until `stop`.
    pub async fn run(self: Arc<Self>, notes: Notes, stop: CancellationToken) {
        self.interpreters.clone().run(notes, stop).await;
    }

    /// Pause every session live here (reason `shutdown`), so that a restart loses nothing.
    pub async fn shutdown(&self) {
        self.interpreters.shutdown().await;
    }
}

/// Sandbox `id` of `project`, or [`SandboxError::NotFound`].
pub(crate) async fn own(pool: &Pool, project: ProjectId, id: SandboxId) -> Result<Sandbox> {
    sandboxes::get(pool, project, id)
        .await?
        .ok_or(SandboxError::NotFound)
}

/// Ask the holder of running sandbox `s` to pause it with `reason`; the sandbox once it
/// is no longer running there (or 503 if its holder does not answer).
pub(crate) async fn pause_elsewhere(
    pool: &Pool,
    notes: &Notes,
    s: &Sandbox,
    reason: StateReason,
) -> Result<Sandbox> {
    let mut notes = notes.subscribe();
    sandboxes::request_pause(pool, s.sandbox_id, reason).await?;
    let started = tokio::time::Instant::now();
    let asked = std::sync::Mutex::new(started);
    let id = s.sandbox_id;
    // No note says "paused": looked at every 20 ms, or at once if it ended.
    let paused = sbx_store::notify::until(
        &mut notes,
        Duration::from_millis(20),
        started + Duration::from_secs(10),
        sbx_store::notify::First::Wait,
        |n| *n == Note::Sandbox(SandboxNote::Ended(id)),
        |_| async {
            // A notification is not a queue: a holder busy or reconnecting may miss one.
            let due = asked.lock().expect("asked lock").elapsed() >= Duration::from_secs(1);
            if due {
                sandboxes::request_pause(pool, id, reason).await?;
                *asked.lock().expect("asked lock") = tokio::time::Instant::now();
            }
            let now = own(pool, s.project_id, id).await?;
            Ok::<_, SandboxError>(
                (now.state != SandboxState::Running || now.holder != s.holder).then_some(now),
            )
        },
    )
    .await?;
    paused.ok_or_else(|| {
        SandboxError::Unavailable("the process holding the session did not pause it in time".into())
    })
}
