//! Forks of a running container sandbox: for each new sandbox, its `/workspace` and `/outputs`
//! copied as the folders of a pause (number 1) kept on this host ([`super::kept`]), so that
//! runners place the copies as they resume a paused sandbox: this host first, taking the copy
//! back with one rename; any host once the copy in the database (started here at once) is
//! complete. Processes are not copied: each copy starts its own command.
//!
//! What is copied is the placement's filesystem image (`disk.img`, which holds both folders):
//! frozen (`fsfreeze`) so that the copy is consistent, copied with `cp --reflink=auto
//! --sparse=always` (a reflink where the host's filesystem has them, else only the blocks in
//! use), then thawed. The source's writes wait while it is frozen; its reads do not.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use sbx_core::ids::{ApiKeyId, SandboxId};
use sbx_store::sandboxes::Sandbox;

use super::{ContainerHost, kept};
use crate::{Result, RunnerError};

/// The pause number a fork's copy is kept as.
const FORK_GEN: i32 = 1;

impl ContainerHost {
    /// Fork sandbox `id`, if its container runs here, into `count` new `pending` sandboxes
    /// made by `key`, with copies of its files: the new sandboxes, in order. None if it does
    /// not run here (not placed here, or being paused or removed).
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
        let ids: Vec<SandboxId> = (0..count).map(|_| SandboxId::new()).collect();
        let dir = self.config.dir.clone();
        let (copies, folder) = (ids.clone(), dir.clone());
        let copied =
            tokio::task::spawn_blocking(move || copy_image(&folder, &root, &copies, disk_bytes))
                .await
                .map_err(|e| io::Error::other(e.to_string()))
                .and_then(|r| r);
        let made = match copied {
            Ok(()) => sbx_store::placement::fork_container(&self.pool, id, &ids, key, &self.host)
                .await
                .map_err(RunnerError::from),
            Err(e) => Err(RunnerError::io("copying the sandbox's files")(e)),
        };
        match made {
            Ok(made) => {
                for s in &made {
                    self.start_copy(s.sandbox_id, FORK_GEN);
                }
                Some(Ok(made))
            }
            Err(e) => {
                let _ = tokio::task::spawn_blocking(move || {
                    for id in ids {
                        kept::drop_kept(&dir, id);
                    }
                })
                .await;
                Some(Err(e))
            }
        }
    }
}

/// Copy the filesystem image of placement `root` (capped at `disk_bytes`) as the kept folders
/// of pause [`FORK_GEN`] of each of `ids`, each mounted as a pause leaves it; the source
/// frozen meanwhile. On an error, what was made is left for the caller to drop.
fn copy_image(dir: &Path, root: &Path, ids: &[SandboxId], disk_bytes: u64) -> io::Result<()> {
    let image = crate::disk::image_path(root);
    {
        let _frozen = Frozen::new(crate::disk::mount_path(root))?;
        for &id in ids {
            let kept = kept::paused_dir(dir, id);
            crate::disk::remove_root(&kept);
            std::fs::create_dir_all(&kept)?;
            let copy = crate::disk::image_path(&kept);
            run(Command::new("cp")
                .args(["--reflink=auto", "--sparse=always"])
                .arg(&image)
                .arg(&copy))?;
        }
    }
    for &id in ids {
        let kept = kept::paused_dir(dir, id);
        crate::disk::ensure_image(&kept, disk_bytes)?;
        kept::mark(dir, id, FORK_GEN)?;
    }
    Ok(())
}

/// A filesystem frozen (`fsfreeze -f`) until this is dropped: its writes wait, and what its
/// image holds on disk is consistent.
struct Frozen(PathBuf);

impl Frozen {
    fn new(mount: PathBuf) -> io::Result<Self> {
        run(Command::new("fsfreeze").arg("-f").arg(&mount))?;
        Ok(Self(mount))
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Err(e) = run(Command::new("fsfreeze").arg("-u").arg(&self.0)) {
            tracing::error!(path = %self.0.display(), error = %e, "could not thaw a sandbox's filesystem: its writes wait");
        }
    }
}

/// Run `command` to its end: an error naming it and what it said unless it succeeded.
fn run(command: &mut Command) -> io::Result<()> {
    let out = command.output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{:?} failed ({}): {}",
        command.get_program(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}
