//! [`Interpreters`]: the [`SandboxHost`] of code-interpreter sandboxes, whose sessions live
//! in API processes. A running session is live in exactly one process, its holder
//! (`sandboxes.holder`). A call that reaches the holder runs with no database round trip: the
//! holder knows its sessions' projects and deadlines. A call that reaches another process moves
//! the session here ([`crate::sessions`]). Upkeep is in [`crate::upkeep`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sbx_core::exec::{CellOutcome, CellSpec};
use sbx_core::ids::{ProjectId, SandboxId};
use sbx_core::sandbox::{SandboxKind, SandboxState, StateReason};
use sbx_core::{BoxFuture, SessionError, SessionHost, SessionOptions};
use sbx_store::Pool;
use sbx_store::notify::Notes;
use sbx_store::sandboxes::{self, Sandbox, Transition};
use tokio_util::sync::CancellationToken;

use crate::error::account;
use crate::host::{Call, CallOutcome, SandboxHost};
use crate::lifecycle::{SandboxesConfig, own, pause_elsewhere};
use crate::{Result, SandboxError};

/// The options of sandbox `s`'s session, with `env`.
pub(crate) fn session_options(s: &Sandbox, env: Vec<(String, String)>) -> SessionOptions {
    SessionOptions {
        memory_bytes: s.memory_bytes as u64,
        disk_bytes: s.disk_bytes as u64,
        env,
    }
}

/// A session live here, as this process knows it.
pub(crate) struct Local {
    pub(crate) project: ProjectId,
    pub(crate) memory_bytes: u64,
    pub(crate) disk_bytes: u64,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) idle_pause: Option<Duration>,
    /// Calls made since the last heartbeat.
    pub(crate) calls: i64,
}

/// The code-interpreter sessions of this process, and their view in the database, kept in
/// step.
pub struct Interpreters {
    pub(crate) pool: Pool,
    pub(crate) notes: Notes,
    pub(crate) host: Arc<dyn SessionHost>,
    pub(crate) holder: uuid::Uuid,
    pub(crate) config: SandboxesConfig,
    pub(crate) local: Mutex<HashMap<SandboxId, Local>>,
}

impl Interpreters {
    /// The interpreters of a process, run by `host`.
    pub fn new(
        pool: Pool,
        notes: Notes,
        host: Arc<dyn SessionHost>,
        config: SandboxesConfig,
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

    pub(crate) fn remember(&self, s: &Sandbox) {
        self.local.lock().expect("interpreters lock").insert(
            s.sandbox_id,
            Local {
                project: s.project_id,
                memory_bytes: s.memory_bytes as u64,
                disk_bytes: s.disk_bytes as u64,
                expires_at: s.expires_at,
                idle_pause: s.idle_pause_s.map(|t| Duration::from_secs(t as u64)),
                calls: 0,
            },
        );
    }

    pub(crate) fn forget(&self, id: SandboxId) {
        self.local.lock().expect("interpreters lock").remove(&id);
    }

    /// Start the session of sandbox `s`, just created as `pending`, with `env`: it is running
    /// here afterwards, or failed with the reason.
    pub(crate) async fn start_session(
        &self,
        s: Sandbox,
        env: Vec<(String, String)>,
    ) -> Result<Sandbox> {
        self.make_room(1, None).await;
        if let Err(e) = self
            .host
            .open(s.sandbox_id, session_options(&s, env), None)
            .await
        {
            sandboxes::transition(
                &self.pool,
                s.sandbox_id,
                Transition::new(
                    &[SandboxState::Pending],
                    SandboxState::Failed,
                    StateReason::StartFailed,
                )
                .detail(&account(&e)),
            )
            .await?;
            return Err(e.into());
        }
        let running = sandboxes::transition(
            &self.pool,
            s.sandbox_id,
            Transition::new(
                &[SandboxState::Pending],
                SandboxState::Running,
                StateReason::Started,
            )
            .holder(self.holder),
        )
        .await?;
        match running {
            Some(r) => {
                self.remember(&r);
                Ok(r)
            }
            None => {
                // Ended while starting (deleted, or its timeout passed).
                self.host.close(s.sandbox_id);
                let now = own(&self.pool, s.project_id, s.sandbox_id).await?;
                Err(SandboxError::ended(&now))
            }
        }
    }

    /// Run `spec` in sandbox `id` of `project`: here if it is live here, else after moving or
    /// resuming it here.
    async fn cell(
        &self,
        project: ProjectId,
        id: SandboxId,
        spec: CellSpec,
        cancel: CancellationToken,
    ) -> Result<CellOutcome> {
        let outcome = self
            .on_live(project, id, || {
                self.host.cell(id, spec.clone(), cancel.clone())
            })
            .await?;
        if let Some(l) = self.local.lock().expect("interpreters lock").get_mut(&id) {
            l.calls += 1;
        }
        Ok(outcome)
    }

    /// The host folder that is sandbox `id`'s `/workspace` (of `project`): live here, else
    /// after moving it here, or resuming it here if it was paused for idleness. The files API
    /// reads and writes beneath it.
    pub async fn workspace(&self, project: ProjectId, id: SandboxId) -> Result<std::path::PathBuf> {
        self.on_live(project, id, || {
            let at = self.host.workspace(id);
            async move { at }
        })
        .await
    }

    /// `op` on sandbox `id` of `project`'s live session: here if it is live here, else after
    /// moving it here (running elsewhere) or resuming it here (paused for idleness: a sandbox
    /// its owner paused is refused, `PausedByOwner`). A session that moves away meanwhile
    /// (`NotLive`) is looked for again, three times at most.
    pub(crate) async fn on_live<T, F>(
        &self,
        project: ProjectId,
        id: SandboxId,
        op: impl Fn() -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T, SessionError>>,
    {
        for _ in 0..3 {
            let here = {
                let local = self.local.lock().expect("interpreters lock");
                local.get(&id).map(|l| (l.project, l.expires_at))
            };
            if let Some((owner, expires_at)) = here {
                if owner != project {
                    return Err(SandboxError::NotFound);
                }
                if expires_at <= Utc::now() {
                    return Err(SandboxError::Ended(
                        "the sandbox's timeout has passed; it is being terminated".into(),
                    ));
                }
                match op().await {
                    Ok(done) => return Ok(done),
                    Err(SessionError::NotLive) => {
                        self.forget(id);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let s = own(&self.pool, project, id).await?;
            if s.kind != SandboxKind::Interpreter {
                return Err(SandboxError::NotAnInterpreter);
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
                    return Err(SandboxError::PausedByOwner);
                }
                SandboxState::Paused => {
                    self.resume_here(&s, StateReason::ResumedByExec).await?;
                }
                SandboxState::Pending => {
                    return Err(SandboxError::Pending);
                }
                SandboxState::Terminated | SandboxState::Failed => {
                    return Err(SandboxError::ended(&s));
                }
            }
        }
        Err(SandboxError::Unavailable(
            "the session kept moving between processes; retry".into(),
        ))
    }

    /// Drop session `id` here, if it is live here.
    pub(crate) fn let_go(&self, id: SandboxId) {
        self.forget(id);
        self.host.close(id);
    }
}

impl SandboxHost for Interpreters {
    /// Open its session here, with `env`.
    fn start(&self, s: Sandbox, env: Vec<(String, String)>) -> BoxFuture<'_, Result<Sandbox>> {
        Box::pin(self.start_session(s, env))
    }

    /// Code only: here if the session is live here, else after moving or resuming it here.
    fn exec(
        &self,
        project: ProjectId,
        id: SandboxId,
        call: Call,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<CallOutcome>> {
        Box::pin(async move {
            match call {
                Call::Code(spec) => Ok(CallOutcome::Code(
                    self.cell(project, id, spec, cancel).await?,
                )),
                Call::Command(_) => Err(SandboxError::NotAContainer),
            }
        })
    }

    /// Into its snapshot, here if it is live here, else by its holder, asked by a note.
    fn pause<'a>(&'a self, s: &'a Sandbox, reason: StateReason) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if s.holder == Some(self.holder) {
                self.pause_local(s.sandbox_id, reason).await?;
            } else {
                pause_elsewhere(&self.pool, &self.notes, s, reason).await?;
            }
            Ok(())
        })
    }

    /// Here, from its snapshot.
    fn resume<'a>(&'a self, s: &'a Sandbox) -> BoxFuture<'a, Result<Sandbox>> {
        Box::pin(self.resume_here(s, StateReason::Resumed))
    }

    /// Its session is closed, if it is live here.
    fn ended(&self, id: SandboxId) {
        self.let_go(id);
    }

    /// The deadline this process holds it to moves too.
    fn extended(&self, s: &Sandbox) {
        if let Some(l) = self
            .local
            .lock()
            .expect("interpreters lock")
            .get_mut(&s.sandbox_id)
        {
            l.expires_at = s.expires_at;
        }
    }
}
