//! Forking a code-interpreter sandbox: `count` new sandboxes with the same variables, imports
//! and files, each independent and billed on its own. The copies open from one snapshot of the
//! live interpreter (the page diff a pause takes; the source keeps running), not by replaying
//! its cells. A source held by another process is moved here first.

use sbx_core::SessionError;
use sbx_core::ids::{ApiKeyId, SandboxId};
use sbx_core::sandbox::{SandboxKind, SandboxState};
use sbx_store::sandboxes::{self, NewSandbox, Sandbox};

use crate::interpreters::Interpreters;
use crate::lifecycle::{Sandboxes, own};
use crate::{Result, SandboxError};

/// Most copies one fork makes.
pub const MAX_FORKS: usize = 16;

impl Sandboxes {
    /// Fork running code-interpreter sandbox `id` of `project` into `count` (1 to
    /// [`MAX_FORKS`]) new running sandboxes, made by `key`, with its configuration and a copy
    /// of its state; they are returned in order.
    ///
    /// # Errors
    /// [`SandboxError::NotFound`]; [`SandboxError::NotAnInterpreter`] for a container;
    /// [`SandboxError::NotRunning`] unless it is running; [`SandboxError::TooManyOpen`] when
    /// the project has no room for `count` more; a copy that fails to open is failed and the
    /// error returned (the copies made before it stay).
    pub async fn fork(
        &self,
        project: sbx_core::ids::ProjectId,
        id: SandboxId,
        count: usize,
        key: Option<ApiKeyId>,
    ) -> Result<Vec<Sandbox>> {
        let s = own(self.pool(), project, id).await?;
        if s.kind != SandboxKind::Interpreter {
            return Err(SandboxError::NotAnInterpreter);
        }
        if s.state.is_ended() {
            return Err(SandboxError::ended(&s));
        }
        if s.state != SandboxState::Running {
            return Err(SandboxError::NotRunning(format!(
                "only a running sandbox can be forked; this one is {}",
                s.state
            )));
        }
        self.room_for(project, count).await?;
        self.interpreters().fork(&s, count, key).await
    }
}

impl Interpreters {
    /// A checkpoint of running sandbox `s`, live here (moved here first if it is live in
    /// another process). A sandbox paused, ended or deleted meanwhile is refused as such,
    /// never resumed for the fork.
    async fn checkpoint(&self, s: &Sandbox) -> Result<Vec<u8>> {
        let id = s.sandbox_id;
        for _ in 0..3 {
            let live_here = self
                .local
                .lock()
                .expect("interpreters lock")
                .contains_key(&id);
            if live_here {
                match self.host.checkpoint(id).await {
                    Ok(snapshot) => return Ok(snapshot),
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

    /// `count` copies of running sandbox `s`, live here.
    async fn fork(&self, s: &Sandbox, count: usize, key: Option<ApiKeyId>) -> Result<Vec<Sandbox>> {
        let snapshot = self.checkpoint(s).await?;
        let mut made = Vec::with_capacity(count);
        for _ in 0..count {
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
            let created = sandboxes::create(&self.pool, &new).await?;
            // The environment is in the snapshot's memory already.
            made.push(
                self.start_session(created, Vec::new(), Some(snapshot.clone()))
                    .await?,
            );
        }
        Ok(made)
    }
}
