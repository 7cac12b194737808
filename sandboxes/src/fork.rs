//! Forking a code-interpreter sandbox: `count` new sandboxes with the same variables, imports
//! and files, each independent and billed on its own. The copies are made from the live
//! interpreter's memory (the pages it changed, copied; the source keeps running), not by
//! replaying its cells ([`SessionHost::fork`](sbx_core::SessionHost::fork)). A source held by
//! another process is moved here first.

use sbx_core::ids::{ApiKeyId, SandboxId};
use sbx_core::sandbox::{SandboxKind, SandboxState};
use sbx_core::{SessionError, SessionOptions};
use sbx_store::sandboxes::{self, NewSandbox, Sandbox};

use crate::interpreters::{Interpreters, session_options};
use crate::lifecycle::{Sandboxes, own};
use crate::{Result, SandboxError};

/// Most copies one fork makes.
pub const MAX_FORKS: usize = 16;

impl Sandboxes {
    /// Fork running code-interpreter sandbox `s` (as its project's caller read it) into
    /// `count` (1 to [`MAX_FORKS`]) new running sandboxes, made by `key`, with its
    /// configuration and a copy of its state; they are returned in order.
    ///
    /// # Errors
    /// [`SandboxError::NotAnInterpreter`] for a container; [`SandboxError::NotRunning`] unless
    /// it is running; [`SandboxError::TooManyOpen`] when the project has no room for `count`
    /// more; when the copies cannot be opened, none is made.
    pub async fn fork(
        &self,
        s: &Sandbox,
        count: usize,
        key: Option<ApiKeyId>,
    ) -> Result<Vec<Sandbox>> {
        if s.kind != SandboxKind::Interpreter {
            return Err(SandboxError::NotAnInterpreter);
        }
        if s.state.is_ended() {
            return Err(SandboxError::ended(s));
        }
        if s.state != SandboxState::Running {
            return Err(SandboxError::NotRunning(format!(
                "only a running sandbox can be forked; this one is {}",
                s.state
            )));
        }
        self.room_for(s.project_id, count).await?;
        self.interpreters().fork(s, count, key).await
    }
}

impl Interpreters {
    /// Open `copies` of running sandbox `s` from its live session: here if it is live here,
    /// else after moving it here. A sandbox paused, ended or deleted meanwhile is refused as
    /// such, never resumed for the fork.
    async fn fork_live(&self, s: &Sandbox, copies: Vec<(SandboxId, SessionOptions)>) -> Result<()> {
        let id = s.sandbox_id;
        for _ in 0..3 {
            let live_here = self
                .local
                .lock()
                .expect("interpreters lock")
                .contains_key(&id);
            if live_here {
                match self.host.fork(id, copies.clone()).await {
                    Ok(()) => return Ok(()),
                    Err(SessionError::NotLive) => self.forget(id),
                    Err(e) => return Err(e.into()),
                }
            }
            let now = own(&self.pool, s.project_id, id).await?;
            match now.state {
                SandboxState::Running if now.holder == Some(self.holder) => {
                    // Being started or resumed here by another request: let it finish.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                SandboxState::Running => self.move_here(&now).await?,
                SandboxState::Pending => return Err(SandboxError::Pending),
                SandboxState::Paused => {
                    return Err(SandboxError::NotRunning(
                        "the sandbox was paused meanwhile: only a running sandbox can be forked"
                            .into(),
                    ));
                }
                SandboxState::Terminated | SandboxState::Failed => {
                    return Err(SandboxError::ended(&now));
                }
            }
        }
        Err(SandboxError::Unavailable(
            "the session kept moving between processes; retry".into(),
        ))
    }

    /// `count` copies of running sandbox `s`, live here: opened together from the source's
    /// live session, then recorded running (all or none).
    async fn fork(&self, s: &Sandbox, count: usize, key: Option<ApiKeyId>) -> Result<Vec<Sandbox>> {
        self.make_room(count, Some(s.sandbox_id)).await;
        let new = NewSandbox {
            sandbox_id: SandboxId::new(),
            project_id: s.project_id,
            api_key_id: key,
            image: s.image.clone(),
            kind: SandboxKind::Interpreter,
            memory_bytes: s.memory_bytes,
            disk_bytes: s.disk_bytes,
            cpu_millis: s.cpu_millis,
            gpu: None,
            env_keys: s.env_keys.clone(),
            command: None,
            timeout_s: s.timeout_s,
            idle_pause_s: s.idle_pause_s,
            idempotency: None,
            network: false,
            egress: None,
            ports: Vec::new(),
            docker_image: None,
            registry_auth: None,
            env_sealed: None,
        };
        let ids: Vec<SandboxId> = (0..count).map(|_| SandboxId::new()).collect();
        // The environment is in the source's memory already.
        let copies = ids
            .iter()
            .map(|id| (*id, session_options(s, Vec::new())))
            .collect();
        // Opened before their rows exist: nobody can reach them until they are running. Until
        // the rows are in, the copies are closed if this stops (an error, or the caller gone).
        let unclaimed = Unclaimed {
            host: &*self.host,
            ids: &ids,
        };
        self.fork_live(s, copies).await?;
        let made = sandboxes::create_copies(&self.pool, &new, &ids, Some(self.holder)).await?;
        std::mem::forget(unclaimed);
        for c in &made {
            self.remember(c);
        }
        Ok(made)
    }
}

/// Copies live here whose rows are not in yet: closed when dropped.
struct Unclaimed<'a> {
    host: &'a dyn sbx_core::SessionHost,
    ids: &'a [SandboxId],
}

impl Drop for Unclaimed<'_> {
    fn drop(&mut self) {
        for id in self.ids {
            self.host.close(*id);
        }
    }
}
