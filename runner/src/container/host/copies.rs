//! Copies of paused sandboxes' folders into the database, in the background, so that any
//! runner can resume them ([`super::kept`]); sweeping the kept folders no sandbox needs; and
//! snapshots made before folders were kept on hosts.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sbx_core::ids::SandboxId;
use tokio_util::sync::CancellationToken;

use super::kept;
use super::{ContainerHost, Copy};
use crate::snapshot;
use crate::{Result, RunnerError};

/// Most bytes of files of a paused sandbox copied into the database; a sandbox with more
/// resumes only on the host that keeps its folders.
pub(super) const MAX_STORED_FILES: u64 = 8 << 30;
/// Most bytes of files a snapshot made before folders were kept on hosts holds.
pub(super) const MAX_LEGACY_SNAPSHOT: u64 = 2 << 30;
/// First bytes of a container sandbox's snapshot.
pub(crate) const MAGIC: &[u8; 8] = b"SBXFILE2";

impl ContainerHost {
    /// Copy the folders kept for sandbox `id`'s pause `nth` into the database, in the
    /// background.
    pub(super) fn start_copy(self: &Arc<Self>, id: SandboxId, nth: i32) {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stop = CancellationToken::new();
        let this = self.clone();
        let token = stop.clone();
        let mut copies = self.copies.lock().expect("copies lock");
        let task = tokio::spawn(async move {
            let started = Instant::now();
            match kept::store(
                &this.pool,
                &this.config.dir,
                id,
                nth,
                MAX_STORED_FILES,
                token,
            )
            .await
            {
                Ok(bytes) => tracing::info!(
                    sandbox = %id, nth, bytes, ms = started.elapsed().as_millis() as u64,
                    "a paused sandbox's folders are copied: any runner can resume it"
                ),
                Err(RunnerError::Cancelled) => {
                    tracing::debug!(sandbox = %id, nth, "resumed here before its folders were copied")
                }
                Err(e) => tracing::warn!(
                    sandbox = %id, nth, error = %e,
                    "a paused sandbox's folders were not copied: it resumes on this host only"
                ),
            }
            let mut copies = this.copies.lock().expect("copies lock");
            if copies.get(&id).is_some_and(|c| c.serial == serial) {
                copies.remove(&id);
            }
        });
        if let Some(old) = copies.insert(id, Copy { serial, stop, task }) {
            old.stop.cancel();
        }
    }

    /// Stop the copy of sandbox `id`'s folders, if one is under way, and wait for it.
    pub(super) async fn stop_copy(&self, id: SandboxId) {
        let copy = self.copies.lock().expect("copies lock").remove(&id);
        if let Some(c) = copy {
            c.stop.cancel();
            let _ = c.task.await;
        }
    }

    /// Drop the folders kept here of sandboxes that no longer need them (ended, or paused
    /// since on another host), and copy those whose copy a stopped runner left unfinished;
    /// and drop what races left in the database ([`sbx_store::snapshot_chunks::purge`]).
    pub(super) async fn sweep_kept(self: Arc<Self>) {
        if let Err(e) = sbx_store::snapshot_chunks::purge(&self.pool, 3600.0).await {
            tracing::warn!(error = %e, "could not purge left-over copies and commands");
        }
        let dir = self.config.dir.clone();
        let found = tokio::task::spawn_blocking(move || kept::all_kept(&dir))
            .await
            .unwrap_or_default();
        // Being paused or resumed here right now: left alone.
        let found: Vec<(SandboxId, Option<i32>)> = {
            let books = self.books.lock().expect("books lock");
            found
                .into_iter()
                .filter(|(id, _)| !books.held.contains_key(id))
                .collect()
        };
        if found.is_empty() {
            return;
        }
        let ids: Vec<uuid::Uuid> = found.iter().map(|(id, _)| id.0).collect();
        let Ok(open) = sbx_store::snapshot_chunks::kept_where(&self.pool, &ids).await else {
            return;
        };
        for (id, _) in found {
            // Sandboxes another deployment's database knows (runners sharing this folder)
            // are left alone.
            let Some(row) = open.iter().find(|r| r.sandbox_id == id) else {
                continue;
            };
            // Read again: a pause that ended since the listing has marked its folders by now.
            let nth = kept::kept_gen(&self.config.dir, id);
            let wanted =
                row.waiting && Some(row.nth) == nth && row.host.as_deref() == Some(&self.host);
            if !wanted {
                self.stop_copy(id).await;
                let dir = self.config.dir.clone();
                let _ = tokio::task::spawn_blocking(move || kept::drop_kept(&dir, id)).await;
            } else if row.stored != Some(row.nth)
                && !self.copies.lock().expect("copies lock").contains_key(&id)
            {
                self.start_copy(id, row.nth);
            }
        }
    }
}

/// Write the files of a snapshot made before folders were kept on hosts (`/workspace` and
/// `/outputs` in one frame, [`crate::snapshot`]) into `workspace` and `outputs`.
pub fn unpack(bytes: &[u8], workspace: &Path, outputs: &Path) -> Result<()> {
    let files = read(bytes)?;
    snapshot::write_files(&files, |tree| if tree == 0 { workspace } else { outputs })
        .map_err(|e| bad(RunnerError::io("writing the files")(e)))
}

/// The files of a snapshot made before folders were kept on hosts, checked (tree 0
/// `/workspace`, 1 `/outputs`).
pub(crate) fn read(bytes: &[u8]) -> Result<Vec<snapshot::PackedFile>> {
    let body = snapshot::open(
        MAGIC,
        bytes,
        MAX_LEGACY_SNAPSHOT + (64 << 20),
        "a container sandbox snapshot",
    )
    .map_err(bad)?;
    snapshot::read_files(&mut snapshot::Reader(&body), 2).map_err(bad)
}

fn bad(m: RunnerError) -> RunnerError {
    RunnerError::Damaged(format!("the snapshot cannot be restored: {m}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_from_before_kept_folders_is_restored_and_damage_is_refused() {
        let root = std::env::temp_dir().join(format!("sbx-pack-{}", uuid::Uuid::now_v7()));
        let (w, o) = (root.join("w"), root.join("o"));
        std::fs::create_dir_all(w.join("d")).unwrap();
        std::fs::create_dir_all(&o).unwrap();
        std::fs::write(w.join("d/a.txt"), b"alpha").unwrap();
        std::fs::write(o.join("metrics.json"), b"{}").unwrap();
        let files = snapshot::pack_files(&[(0, &w), (1, &o)], |_, _| false, 1 << 20).unwrap();
        let mut body = Vec::new();
        snapshot::put_files(&mut body, &files);
        let snap = snapshot::seal(MAGIC, &body).unwrap();
        let (w2, o2) = (root.join("w2"), root.join("o2"));
        unpack(&snap, &w2, &o2).unwrap();
        assert_eq!(std::fs::read(w2.join("d/a.txt")).unwrap(), b"alpha");
        assert_eq!(std::fs::read(o2.join("metrics.json")).unwrap(), b"{}");
        let mut bad = snap.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(
            unpack(&bad, &w2, &o2)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
