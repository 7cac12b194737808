//! [`Containers`]: the [`SandboxHost`] of container sandboxes. They live on runners, on any
//! host, reached through the database: a start or resume leaves the sandbox `pending` for a
//! runner with room to place, a pause is asked of its runner by a note, a command is a row its
//! runner runs and answers.

use std::time::Duration;

use sbx_core::BoxFuture;
use sbx_core::ids::{CommandId, ProjectId, SandboxId};
use sbx_core::notes::{Note, SandboxNote};
use sbx_core::sandbox::{SandboxKind, SandboxState, StateReason};
use sbx_store::Pool;
use sbx_store::commands::Recorded;
use sbx_store::notify::{First, Notes, Woken};
use sbx_store::sandboxes::{self, Sandbox, Transition};
use tokio_util::sync::CancellationToken;

use crate::host::{Call, CallOutcome, CommandCall, SandboxHost};
use crate::lifecycle::{own, pause_elsewhere};
use crate::{Result, SandboxError};

/// How long a start or resume waits for a runner to run the sandbox before it answers with
/// the sandbox still `pending` (and why, in `waiting_for`).
pub const PLACEMENT_WAIT: Duration = Duration::from_secs(30);

/// Slack beyond a command's own time limit for its runner to answer.
const COMMAND_GRACE: Duration = Duration::from_secs(15);

/// Container sandboxes, as the API processes reach them.
pub struct Containers {
    pool: Pool,
    notes: Notes,
}

impl Containers {
    /// Container sandboxes in the database of `pool`, woken by `notes`.
    pub fn new(pool: Pool, notes: Notes) -> Self {
        Self { pool, notes }
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
            First::Look,
            |n| {
                matches!(n, Note::Sandbox(SandboxNote::Running(s) | SandboxNote::Ended(s)) if *s == id)
            },
            |_| async {
                let now = own(&self.pool, s.project_id, id).await?;
                Ok::<_, SandboxError>(
                    (now.state != SandboxState::Pending || now.waiting_for.is_some())
                        .then_some(now),
                )
            },
        )
        .await?;
        match placed {
            Some(now) => Ok(now),
            None => own(&self.pool, s.project_id, id).await,
        }
    }

    /// Run `call` in container sandbox `id` of `project`, by the runner that holds it.
    async fn command(
        &self,
        project: ProjectId,
        id: SandboxId,
        call: CommandCall,
    ) -> Result<CallOutcome> {
        if sbx_store::placement::container_of(&self.pool, project, id)
            .await?
            .is_none()
        {
            let s = own(&self.pool, project, id).await?;
            return Err(if s.kind == SandboxKind::Interpreter {
                SandboxError::NotAContainer
            } else {
                SandboxError::not_running(&s)
            });
        }
        let mut notes = self.notes.subscribe();
        let cmd = sbx_store::commands::submit(
            &self.pool,
            id,
            &call.command,
            call.timeout_ms as i64,
            call.output_limit_bytes as i64,
        )
        .await?;
        let waited = Duration::from_millis(call.timeout_ms) + COMMAND_GRACE;
        let recorded = match self
            .wait_command(project, id, &mut notes, cmd, waited)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let _ = sbx_store::commands::abandon(&self.pool, cmd).await;
                return Err(e);
            }
        };
        match recorded {
            Recorded::Ran(out) => Ok(CallOutcome::Command(out)),
            Recorded::Error(e) => {
                // Paused or ended while the command was on its way: the container is gone.
                let s = own(&self.pool, project, id).await?;
                if s.state != SandboxState::Running {
                    return Err(SandboxError::not_running(&s));
                }
                Err(SandboxError::Internal(format!(
                    "the command could not run: {e}"
                )))
            }
        }
    }

    /// What came of command `cmd` in sandbox `id`, waiting for its runner's note (and looking
    /// every 500 ms, in case a note was lost) at most `wait`. A command nobody took while the
    /// sandbox stopped running (paused, ended) is withdrawn at a poll: `NotRunning`. (Notes
    /// missed by a lagging receiver count as a note: the outcome is looked for at once, the
    /// withdrawal at the next poll.)
    async fn wait_command(
        &self,
        project: ProjectId,
        id: SandboxId,
        notes: &mut tokio::sync::broadcast::Receiver<Note>,
        cmd: CommandId,
        wait: Duration,
    ) -> Result<Recorded> {
        let done = sbx_store::notify::until(
            notes,
            Duration::from_millis(500),
            tokio::time::Instant::now() + wait,
            First::Wait,
            |n| *n == Note::Sandbox(SandboxNote::CommandDone(cmd)),
            |woken| async move {
                if let Some(r) = sbx_store::commands::collect(&self.pool, cmd).await? {
                    return Ok(Some(r));
                }
                if woken == Woken::Poll
                    && sbx_store::placement::container_of(&self.pool, project, id)
                        .await?
                        .is_none()
                    && sbx_store::commands::withdraw(&self.pool, cmd).await?
                {
                    return Err(SandboxError::not_running(
                        &own(&self.pool, project, id).await?,
                    ));
                }
                Ok(None)
            },
        )
        .await?;
        done.ok_or_else(|| {
            SandboxError::Unavailable(
                "the runner holding the sandbox did not answer in time".into(),
            )
        })
    }
}

impl SandboxHost for Containers {
    /// Wait for a runner to place it, at most [`PLACEMENT_WAIT`]; `env` is in its row, sealed.
    fn start(&self, s: Sandbox, _env: Vec<(String, String)>) -> BoxFuture<'_, Result<Sandbox>> {
        Box::pin(self.await_placement(s, PLACEMENT_WAIT))
    }

    /// Commands only; `cancel` is not heeded: a command runs to its own time limit.
    fn exec(
        &self,
        project: ProjectId,
        id: SandboxId,
        call: Call,
        _cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<CallOutcome>> {
        Box::pin(async move {
            match call {
                Call::Command(c) => self.command(project, id, c).await,
                Call::Code(_) => Err(SandboxError::NotAnInterpreter),
            }
        })
    }

    /// Asked of its runner by a note; its folders are kept for a resume on any runner.
    fn pause<'a>(&'a self, s: &'a Sandbox, reason: StateReason) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            pause_elsewhere(&self.pool, &self.notes, s, reason).await?;
            Ok(())
        })
    }

    /// Back to `pending`: a runner with room places it again, from what its pause kept.
    fn resume<'a>(&'a self, s: &'a Sandbox) -> BoxFuture<'a, Result<Sandbox>> {
        Box::pin(async move {
            let Some(pending) = sandboxes::transition(
                &self.pool,
                s.sandbox_id,
                Transition::new(
                    &[SandboxState::Paused],
                    SandboxState::Pending,
                    StateReason::Resumed,
                ),
            )
            .await?
            else {
                return own(&self.pool, s.project_id, s.sandbox_id).await;
            };
            self.await_placement(pending, PLACEMENT_WAIT).await
        })
    }

    /// Nothing here: its runner hears of the end by the database's note and removes it.
    fn ended(&self, _id: SandboxId) {}

    /// Nothing here: runners read the deadline from the row.
    fn extended(&self, _s: &Sandbox) {}
}
