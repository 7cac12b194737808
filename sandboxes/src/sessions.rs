//! Code-interpreter sessions moving between processes: a running session is live in exactly
//! one process, its holder. A call that reaches another process asks the holder (a note) to
//! pause it into the database, and resumes it here from that snapshot. A paused session resumes
//! in whichever process next needs it; a full process pauses its least recently used one.

use sbx_core::ids::SandboxId;
use sbx_core::sandbox::{SandboxState, StateReason};
use sbx_store::sandboxes::{self, Sandbox, Transition};

use sbx_core::{SessionError, SessionOptions};
use sbx_limits::sandbox::DEFAULT_INTERPRETER_DISK;

use crate::{Result, SandboxError};

use crate::interpreters::{Interpreters, session_options};
use crate::lifecycle::{own, pause_elsewhere};

/// Largest snapshot a pause keeps (PostgreSQL holds at most 1 GiB in one value).
const MAX_SNAPSHOT_BYTES: usize = 900 << 20;

impl Interpreters {
    /// Ask the holder of running sandbox `s` to pause it, and resume it here.
    pub(crate) async fn move_here(&self, s: &Sandbox) -> Result<()> {
        let paused = pause_elsewhere(&self.pool, &self.notes, s, StateReason::Moved).await?;
        if paused.state == SandboxState::Paused {
            self.resume_here(&paused, StateReason::Moved).await?;
        }
        Ok(())
    }

    /// Resume paused sandbox `s` here, from its snapshot. A snapshot that is missing or cannot
    /// be restored fails the sandbox, saying why.
    pub(crate) async fn resume_here(&self, s: &Sandbox, reason: StateReason) -> Result<Sandbox> {
        self.make_room(1, None).await;
        let Some(claimed) = sandboxes::transition(
            &self.pool,
            s.sandbox_id,
            Transition::new(&[SandboxState::Paused], SandboxState::Running, reason)
                .holder(self.holder),
        )
        .await?
        else {
            // Resumed elsewhere, or ended, meanwhile.
            return own(&self.pool, s.project_id, s.sandbox_id).await;
        };
        // Read once the sandbox is ours: an earlier read could be overtaken by another
        // process's resume, call and pause.
        let Some(snapshot) = sandboxes::snapshot(&self.pool, s.sandbox_id).await? else {
            let detail = "its snapshot is missing; the session's state cannot be restored";
            self.fail(s.sandbox_id, StateReason::SnapshotMissing, detail)
                .await?;
            return Err(SandboxError::SnapshotMissing(detail.into()));
        };
        match self
            .host
            .open(s.sandbox_id, session_options(s, Vec::new()), Some(snapshot))
            .await
        {
            Ok(()) => {
                self.remember(&claimed);
                Ok(claimed)
            }
            Err(SessionError::BadSnapshot(m)) => {
                let detail = format!("its snapshot cannot be restored: {m}");
                self.fail(s.sandbox_id, StateReason::SnapshotCorrupt, &detail)
                    .await?;
                Err(SandboxError::SnapshotCorrupt(detail))
            }
            Err(e) => {
                // Our side failed; the snapshot is intact: back to paused, to try again.
                sandboxes::transition(
                    &self.pool,
                    s.sandbox_id,
                    Transition::new(
                        &[SandboxState::Running],
                        SandboxState::Paused,
                        s.state_reason,
                    ),
                )
                .await?;
                Err(e.into())
            }
        }
    }

    /// Fail sandbox `id`, just resumed here, with `reason`.
    pub(crate) async fn fail(
        &self,
        id: SandboxId,
        reason: StateReason,
        detail: &str,
    ) -> Result<()> {
        sandboxes::transition(
            &self.pool,
            id,
            Transition::new(&[SandboxState::Running], SandboxState::Failed, reason).detail(detail),
        )
        .await?;
        Ok(())
    }

    /// Pause session `id`, live here, with `reason`. `false` if it was not live here.
    pub(crate) async fn pause_local(&self, id: SandboxId, reason: StateReason) -> Result<bool> {
        if !self
            .local
            .lock()
            .expect("interpreters lock")
            .contains_key(&id)
        {
            return Ok(false);
        }
        let snapshot = match self.host.pause(id).await {
            Ok(s) => s,
            Err(SessionError::NotLive) => {
                self.forget(id);
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let stored = if snapshot.len() > MAX_SNAPSHOT_BYTES {
            Err(SandboxError::SnapshotTooLarge(format!(
                "the session's state is {} MiB, over the {} MiB a pause can keep; free some \
                     memory or files first",
                snapshot.len() >> 20,
                MAX_SNAPSHOT_BYTES >> 20
            )))
        } else {
            sandboxes::pause(&self.pool, id, self.holder, reason, &snapshot)
                .await
                .map_err(SandboxError::from)
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
                let (memory, disk) = self
                    .local
                    .lock()
                    .expect("interpreters lock")
                    .get(&id)
                    .map_or((512 << 20, DEFAULT_INTERPRETER_DISK), |l| {
                        (l.memory_bytes, l.disk_bytes)
                    });
                if let Err(reopen) = self
                    .host
                    .open(
                        id,
                        SessionOptions {
                            memory_bytes: memory,
                            disk_bytes: disk,
                            env: Vec::new(),
                        },
                        Some(snapshot),
                    )
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

    /// Room for `sessions` more below `max_live` live sessions: the least recently used idle
    /// ones are paused, never `keep` (a fork's source).
    pub(crate) async fn make_room(&self, sessions: usize, keep: Option<SandboxId>) {
        let live = self.host.live();
        let over = (live.len() + sessions).saturating_sub(self.config.max_live);
        for id in live
            .into_iter()
            .filter(|l| !l.busy && Some(l.id) != keep)
            .take(over)
            .map(|l| l.id)
        {
            if let Err(e) = self.pause_local(id, StateReason::Evicted).await {
                tracing::warn!(sandbox = %id, error = %e, "could not pause a session to make room");
            }
        }
    }
}
