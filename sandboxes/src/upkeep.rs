//! Upkeep, once a second in every API process: timeouts (in the database, so they hold across
//! restarts), idle pauses, the holder's heartbeat (so that a crashed holder's sessions are
//! failed, not left running), notes acted on, and a graceful shutdown that pauses every live
//! session.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sbx_core::ids::SandboxId;
use sbx_core::notes::SandboxNote;
use sbx_core::sandbox::StateReason;
use sbx_store::sandboxes::{self};
use tokio_util::sync::CancellationToken;

use crate::Result;

use crate::interpreters::Interpreters;

impl Interpreters {
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
    pub async fn sweep(&self) -> Result<()> {
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
                .filter(|l| {
                    !l.busy
                        && local
                            .get(&l.id)
                            .and_then(|s| s.idle_pause)
                            .is_some_and(|limit| l.idle >= limit)
                })
                .map(|l| l.id)
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
                note = sbx_store::notify::next_sandbox_note(&mut rx) => {
                    let Some(note) = note else { return };
                    let this = self.clone();
                    // A pause may take a while: the loop keeps listening meanwhile.
                    tokio::spawn(async move { this.on_note(note).await });
                }
            }
        }
    }
}
