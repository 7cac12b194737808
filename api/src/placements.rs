//! Which runner serves each running container sandbox, remembered for a few seconds. Calls
//! relayed to a sandbox's runner (its ports, files, processes, terminal, previews) would each
//! ask PostgreSQL first ([`sbx_store::placement::endpoint_of`]), and a port's request is
//! measured in fractions of a millisecond (docs/benchmarks.md, "Ports").
//!
//! An entry is dropped on any note about its sandbox (a pause asked for, an end, a new
//! placement: [`SandboxNote`]), on any state change of its project's sandboxes
//! ([`Note::Events`], which the state-change trigger sends), when this process pauses or ends
//! the sandbox itself, when the note receiver lagged behind, and after [`TTL`] in any case
//! (notes lost while the listening connection reconnects). A lookup that began before a note
//! is not remembered. A call in the short time between a sandbox leaving its runner and the
//! note arriving reaches the old runner, which answers 409 `sandbox_not_running`, as a call
//! racing the pause would have.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sbx_core::ids::{ProjectId, SandboxId};
use sbx_core::notes::{Note, SandboxNote};
use sbx_store::{Db, Result};
use tokio::sync::broadcast::error::RecvError;

/// How long an entry is used without asking the database again.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; past it, all are dropped (they are asked for again).
const MAX_ENTRIES: usize = 65_536;

/// A runner's id and its internal endpoint's URL.
pub type Endpoint = (uuid::Uuid, String);

struct Entry {
    project: ProjectId,
    endpoint: Endpoint,
    at: Instant,
}

/// Running container sandboxes' runners, as [`sbx_store::placement::endpoint_of`] last said.
#[derive(Default)]
pub struct Placements {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_sandbox: HashMap<SandboxId, Entry>,
    /// Counts the notes heard: a lookup that began before one is not remembered (what it read
    /// may be what the note made stale).
    heard: u64,
}

impl Placements {
    /// An empty cache whose entries `notes` drop (a task runs while the notes do).
    pub fn new(notes: &sbx_store::notify::Notes) -> Arc<Self> {
        let placements = Arc::new(Self::default());
        let mut notes = notes.subscribe();
        let weak = Arc::downgrade(&placements);
        actix_web::rt::spawn(async move {
            loop {
                let note = notes.recv().await;
                let Some(placements) = weak.upgrade() else {
                    return;
                };
                match note {
                    Ok(note) => placements.heard(&note),
                    Err(RecvError::Lagged(_)) => placements.clear(),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        placements
    }

    /// The runner serving sandbox `id` of `project` and its endpoint's URL, from the cache or
    /// else the database (none: not running, or its runner has no endpoint).
    ///
    /// # Errors
    /// The database failed.
    pub async fn endpoint_of(
        &self,
        db: &impl Db,
        project: ProjectId,
        id: SandboxId,
    ) -> Result<Option<Endpoint>> {
        let heard = {
            let entries = self.lock();
            if let Some(e) = entries.by_sandbox.get(&id)
                && e.project == project
                && e.at.elapsed() < TTL
            {
                return Ok(Some(e.endpoint.clone()));
            }
            entries.heard
        };
        let found = sbx_store::placement::endpoint_of(db, project, id).await?;
        let mut entries = self.lock();
        if let Some(endpoint) = &found
            && entries.heard == heard
        {
            if entries.by_sandbox.len() >= MAX_ENTRIES {
                entries.by_sandbox.clear();
            }
            entries.by_sandbox.insert(
                id,
                Entry {
                    project,
                    endpoint: endpoint.clone(),
                    at: Instant::now(),
                },
            );
        }
        Ok(found)
    }

    /// Forget where sandbox `id` runs: it is being paused or ended by this process (its note
    /// comes a moment later).
    pub fn forget(&self, id: SandboxId) {
        let mut entries = self.lock();
        entries.heard += 1;
        entries.by_sandbox.remove(&id);
    }

    /// Drop what `note` may have made stale.
    fn heard(&self, note: &Note) {
        let sandbox = match note {
            Note::Sandbox(
                SandboxNote::Ended(s)
                | SandboxNote::Pending(s)
                | SandboxNote::Running(s)
                | SandboxNote::PauseRequested { sandbox: s, .. },
            ) => *s,
            Note::Events(project) => {
                let mut entries = self.lock();
                entries.heard += 1;
                entries.by_sandbox.retain(|_, e| e.project != *project);
                return;
            }
            _ => return,
        };
        self.forget(sandbox);
    }

    /// Drop every entry: notes were missed.
    fn clear(&self) {
        let mut entries = self.lock();
        entries.heard += 1;
        entries.by_sandbox.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().expect("placements lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(project: ProjectId) -> Entry {
        Entry {
            project,
            endpoint: (uuid::Uuid::nil(), "http://127.0.0.1:1".into()),
            at: Instant::now(),
        }
    }

    #[test]
    fn notes_drop_the_entries_they_may_make_stale() {
        let placements = Placements::default();
        let (p, q) = (ProjectId::new(), ProjectId::new());
        let (a, b, c) = (SandboxId::new(), SandboxId::new(), SandboxId::new());
        {
            let mut entries = placements.lock();
            entries.by_sandbox.insert(a, entry(p));
            entries.by_sandbox.insert(b, entry(p));
            entries.by_sandbox.insert(c, entry(q));
        }
        let heard = placements.lock().heard;
        placements.heard(&Note::Sandbox(SandboxNote::Ended(a)));
        assert!(!placements.lock().by_sandbox.contains_key(&a));
        placements.heard(&Note::JobsQueued);
        assert_eq!(placements.lock().by_sandbox.len(), 2);
        placements.heard(&Note::Events(p));
        let left: Vec<SandboxId> = placements.lock().by_sandbox.keys().copied().collect();
        assert_eq!(left, [c]);
        placements.heard(&Note::Sandbox(SandboxNote::PauseRequested {
            sandbox: c,
            reason: sbx_core::sandbox::StateReason::User,
        }));
        assert!(placements.lock().by_sandbox.is_empty());
        // Every note counted: a lookup begun before them is not remembered.
        assert_eq!(placements.lock().heard, heard + 3);
    }
}
