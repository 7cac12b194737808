//! The lifecycle service ([`Sandboxes`]): start, exec, pause, resume, timeout and terminate,
//! for both kinds. A code-interpreter's session lives in the process that holds it (see
//! [`crate::sessions`]); a container lives on a runner, reached through the database: a resume
//! puts it back to `pending` for a runner to place, a pause is asked of its runner by a note.

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

use sbx_core::{SessionError, SessionHost, SessionOptions};

use crate::error::account;
use crate::{Result, SandboxError};

/// Settings of the interpreter sandboxes.
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

/// A session live here, as this process knows it.
pub(crate) struct Local {
    pub(crate) project: ProjectId,
    pub(crate) memory_bytes: u64,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) idle_pause: Option<Duration>,
    /// Calls made since the last heartbeat.
    pub(crate) calls: i64,
}

/// The sandboxes of this process: the lifecycle of both kinds, and the code-interpreter
/// sessions it holds.
pub struct Sandboxes {
    pub(crate) pool: Pool,
    pub(crate) notes: sbx_store::notify::Notes,
    pub(crate) host: Arc<dyn SessionHost>,
    pub(crate) holder: uuid::Uuid,
    pub(crate) config: SandboxesConfig,
    pub(crate) local: Mutex<HashMap<SandboxId, Local>>,
}

impl Sandboxes {
    /// The interpreters of a process, run by `host`.
    pub fn new(
        pool: Pool,
        notes: sbx_store::notify::Notes,
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

    /// The settings.
    pub fn config(&self) -> SandboxesConfig {
        self.config
    }

    pub(crate) fn remember(&self, s: &Sandbox) {
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

    pub(crate) fn forget(&self, id: SandboxId) {
        self.local.lock().expect("interpreters lock").remove(&id);
    }

    /// Start the session of sandbox `s`, just created as `pending`, with `env`: it is running
    /// here afterwards, or failed with the reason.
    pub async fn start(&self, s: Sandbox, env: Vec<(String, String)>) -> Result<Sandbox> {
        self.make_room().await;
        if let Err(e) = self
            .host
            .open(
                s.sandbox_id,
                SessionOptions {
                    memory_bytes: s.memory_bytes as u64,
                    env,
                },
                None,
            )
            .await
        {
            let detail = account(&e);
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
            return Err(e.into());
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
                self.host.close(s.sandbox_id);
                let now = sandboxes::get(&self.pool, s.project_id, s.sandbox_id)
                    .await?
                    .ok_or_else(|| SandboxError::NotFound)?;
                Err(SandboxError::ended(&now))
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
    ) -> Result<CellOutcome> {
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
                match self.host.cell(id, spec.clone(), cancel.clone()).await {
                    Ok(outcome) => {
                        if let Some(l) = self.local.lock().expect("interpreters lock").get_mut(&id)
                        {
                            l.calls += 1;
                        }
                        return Ok(outcome);
                    }
                    Err(SessionError::NotLive) => {
                        self.forget(id);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let s = self.own(project, id).await?;
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

    /// Sandbox `id` of `project`, or 404.
    pub(crate) async fn own(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox> {
        sandboxes::get(&self.pool, project, id)
            .await?
            .ok_or_else(|| SandboxError::NotFound)
    }

    /// Pause sandbox `id` of `project` at its owner's request.
    pub async fn pause(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox> {
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
                return Err(SandboxError::Pending);
            }
            SandboxState::Terminated | SandboxState::Failed => return Err(SandboxError::ended(&s)),
        }
        self.own(project, id).await
    }

    /// Resume sandbox `id` of `project` here.
    pub async fn resume(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox> {
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
            SandboxState::Terminated | SandboxState::Failed => Err(SandboxError::ended(&s)),
        }
    }

    /// Announce pending container sandbox `s` to the runners and wait (at most `wait`) until
    /// one runs it, it fails, or no runner has room; the sandbox then.
    pub async fn await_placement(&self, s: Sandbox, wait: Duration) -> Result<Sandbox> {
        let mut notes = self.notes.subscribe();
        sbx_store::placement::announce_pending(&self.pool, s.sandbox_id).await?;
        let id = s.sandbox_id;
        // Answered once it runs or ended, or once the runners looked and found no room
        // (`waiting_for` says why; it is placed when room is made).
        let placed = sbx_store::notify::until(
            &mut notes,
            Duration::from_millis(250),
            tokio::time::Instant::now() + wait,
            |n| {
                matches!(n, Note::Sandbox(SandboxNote::Running(s) | SandboxNote::Ended(s)) if *s == id)
            },
            |_| async {
                let now = self.own(s.project_id, id).await?;
                Ok::<_, SandboxError>(
                    (now.state != SandboxState::Pending || now.waiting_for.is_some())
                        .then_some(now),
                )
            },
        )
        .await?;
        match placed {
            Some(now) => Ok(now),
            None => self.own(s.project_id, id).await,
        }
    }

    /// Terminate sandbox `id` of `project` at its owner's request.
    pub async fn terminate(&self, project: ProjectId, id: SandboxId) -> Result<Sandbox> {
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
    ) -> Result<Sandbox> {
        match sandboxes::extend(&self.pool, project, id, timeout_s).await? {
            Some(s) => {
                if let Some(l) = self.local.lock().expect("interpreters lock").get_mut(&id) {
                    l.expires_at = s.expires_at;
                }
                Ok(s)
            }
            None => Err(SandboxError::ended(&self.own(project, id).await?)),
        }
    }

    /// Drop session `id` here, if it is live here.
    pub(crate) fn let_go(&self, id: SandboxId) {
        self.forget(id);
        self.host.close(id);
    }
}
