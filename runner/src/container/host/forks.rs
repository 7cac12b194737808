//! Forks of a running container sandbox: for each new sandbox, its `/workspace` and `/outputs`
//! copied as the folders of a pause (number 1) kept on this host ([`super::kept`]), so that
//! runners place the copies as they resume a paused sandbox: this host first, taking the copy
//! back with one rename; any host once the copy in the database (started here at once) is
//! complete. Processes are not copied: each copy starts its own command.
//!
//! What is copied is the placement's filesystem image (`disk.img`, which holds both folders):
//! frozen (`fsfreeze`) so that the copy is consistent, copied once with `cp --reflink=auto
//! --sparse=always` (a reflink where the host's filesystem has them, else the blocks in use),
//! then thawed; further copies are made from the first. The source's writes wait while it is
//! frozen (a reflink: milliseconds; a copy: as long as copying what it holds takes); its
//! reads do not.

use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};

use sbx_core::ids::{ApiKeyId, SandboxId};
use sbx_store::sandboxes::Sandbox;

use super::{ContainerHost, kept};
use crate::{Result, RunnerError};

/// The pause number a fork's copy is kept as.
const FORK_GEN: i32 = 1;

impl ContainerHost {
    /// Fork sandbox `id`, if its container runs here, into `count` new `pending` sandboxes
    /// made by `key`, with copies of its files: the new sandboxes, in order. None if it does
    /// not run here (not placed here, being paused or removed, or ended meanwhile: nothing is
    /// made then). The work goes on if the caller goes: copies are never left without rows.
    ///
    /// # Errors
    /// The copy failed (nothing is left of it), or the database did.
    pub async fn fork(
        self: &Arc<Self>,
        id: SandboxId,
        count: usize,
        key: Option<ApiKeyId>,
    ) -> Option<Result<Vec<Sandbox>>> {
        let (root, disk_bytes) = {
            let books = self.books.lock().expect("books lock");
            let held = books.held.get(&id)?;
            if held.container.is_none() || held.leaving {
                return None;
            }
            (held.root.clone(), held.sandbox.disk_bytes as u64)
        };
        let this = self.clone();
        let work = tokio::spawn(async move {
            let ids: Vec<SandboxId> = (0..count).map(|_| SandboxId::new()).collect();
            let dir = this.config.dir.clone();
            let (copies, folder) = (ids.clone(), dir.clone());
            let copied = tokio::task::spawn_blocking(move || {
                copy_image(&folder, &root, &copies, disk_bytes)
            })
            .await
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(|r| r);
            let made = match copied {
                Ok(()) => {
                    sbx_store::placement::fork_container(&this.pool, id, &ids, key, &this.host)
                        .await
                        .map_err(RunnerError::from)
                }
                Err(e) => Err(RunnerError::io("copying the sandbox's files")(e)),
            };
            match made {
                Ok(made) if made.len() == ids.len() => {
                    for s in &made {
                        this.start_copy(s.sandbox_id, FORK_GEN);
                    }
                    Some(Ok(made))
                }
                outcome => {
                    let _ = tokio::task::spawn_blocking(move || {
                        for id in ids {
                            kept::drop_kept(&dir, id);
                        }
                    })
                    .await;
                    // No rows: the source stopped running meanwhile.
                    outcome.err().map(Err)
                }
            }
        });
        work.await.unwrap_or_else(|e| {
            Some(Err(RunnerError::io("forking")(io::Error::other(
                e.to_string(),
            ))))
        })
    }
}

/// Make the kept folder of sandbox `id`'s pause (emptied first), ready for a `disk.img`.
fn kept_folder(dir: &Path, id: SandboxId) -> io::Result<PathBuf> {
    let kept = kept::paused_dir(dir, id);
    crate::disk::remove_root(&kept);
    std::fs::create_dir_all(&kept)?;
    Ok(kept)
}

/// Copy the filesystem image `from` to `to`: a reflink where the filesystem has them, else
/// only the blocks in use.
fn copy(from: &Path, to: &Path) -> io::Result<()> {
    crate::disk::run(
        Command::new("cp")
            .args(["--reflink=auto", "--sparse=always"])
            .arg(from)
            .arg(to),
    )
}

/// Copy the filesystem image of placement `root` (capped at `disk_bytes`) as the kept folders
/// of pause [`FORK_GEN`] of each of `ids`, each mounted as a pause leaves it. The source is
/// frozen while the first copy is made; the others are made from that one after the thaw. On
/// an error, what was made is left for the caller to drop.
fn copy_image(dir: &Path, root: &Path, ids: &[SandboxId], disk_bytes: u64) -> io::Result<()> {
    let Some((&first, rest)) = ids.split_first() else {
        return Ok(());
    };
    let first_image = crate::disk::image_path(&kept_folder(dir, first)?);
    {
        let _frozen = Frozen::new(&crate::disk::mount_path(root))?;
        copy(&crate::disk::image_path(root), &first_image)?;
    }
    for &id in rest {
        let kept = kept_folder(dir, id)?;
        copy(&first_image, &crate::disk::image_path(&kept))?;
    }
    for &id in ids {
        crate::disk::ensure_image(&kept::paused_dir(dir, id), disk_bytes)?;
        kept::mark(dir, id, FORK_GEN)?;
    }
    Ok(())
}

/// A filesystem frozen (`fsfreeze -f`) until this is dropped: its writes wait, and what its
/// image holds on disk is consistent. Frozen and thawed through a descriptor opened first
/// (`/proc/<pid>/fd/N`), so the thaw reaches it even if its folder was renamed meanwhile (a
/// pause keeps a placement's folders by renaming them).
struct Frozen(OwnedFd);

impl Frozen {
    fn new(mount: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            mount,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        let frozen = Self(fd);
        crate::disk::run(Command::new("fsfreeze").arg("-f").arg(frozen.path()))?;
        Ok(frozen)
    }

    /// The path this process's descriptor has for other processes.
    fn path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.0.as_raw_fd())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let mut tries = 0;
        while let Err(e) = crate::disk::run(Command::new("fsfreeze").arg("-u").arg(self.path())) {
            tries += 1;
            if tries == 3 {
                tracing::error!(error = %e, "could not thaw a sandbox's filesystem: its writes wait");
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
