//! The folders of paused container sandboxes.
//!
//! A pause keeps `/workspace` and `/outputs` where they are, on the runner's host, moved to
//! `<dir>/paused/<sandbox>` with the pause's number in a `nth` file beside them: the folder
//! holding their capped filesystem (its image, mounted inside it) moves whole. A resume on
//! this host takes them back with one rename, whatever their size. In the background the
//! runner copies them into the database (`sandbox_snapshot_chunks`); once that copy is
//! complete, a runner on any host can resume the sandbox from it.
//!
//! The copy is one zstd stream (level 1, with its checksum) cut into rows of 8 MiB. Inside:
//! a magic, one record per folder and regular file in walk order (links, devices and the like
//! are neither followed nor kept), then an end mark, so that a stream cut short or damaged is
//! refused rather than half used. Restoring writes only below the two folders it is given:
//! paths are relative, without `..`, and every folder on them is one it made.
//!
//! # Layout
//! - this module: the folders kept on this host (keep, mark, take back, drop, list).
//! - [`stream`]: the copy in the database: its format, and storing and restoring it.

mod stream;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sbx_core::ids::SandboxId;

/// Deepest folder kept.
const MAX_DEPTH: usize = 64;

pub use stream::{COPY_DELAY, COPY_RATE, MAGIC, pack, restore, store, unpack};

/// The folders a sandbox's placement mounts, on the filesystem below its root (see
/// [`crate::disk::ensure_image`]).
pub fn trees(root: &Path) -> [PathBuf; 2] {
    let fs = crate::disk::mount_path(root);
    [fs.join("workspace"), fs.join("outputs")]
}

/// Where the folders of sandbox `id`'s last pause are kept on this host.
pub fn paused_dir(dir: &Path, id: SandboxId) -> PathBuf {
    dir.join("paused").join(id.0.simple().to_string())
}

/// This host's name for where it keeps paused sandboxes' folders: made once per folder, so
/// that a runner restarted on the same host and folder finds what its predecessor kept.
pub fn host_id(dir: &Path) -> io::Result<String> {
    let path = dir.join("host-id");
    match fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::create_dir_all(dir)?;
    let id = uuid::Uuid::now_v7().to_string();
    let tmp = dir.join(format!("host-id.{}", uuid::Uuid::now_v7().simple()));
    fs::write(&tmp, &id)?;
    // Two runners starting at once on one folder agree on the first one written.
    match fs::hard_link(&tmp, &path) {
        Ok(()) => {
            let _ = fs::remove_file(&tmp);
            Ok(id)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(&tmp);
            Ok(fs::read_to_string(&path)?.trim().to_owned())
        }
        Err(e) => Err(e),
    }
}

/// Hold `dir` for this runner of database `database` for as long as the returned file is
/// open: two runners of one deployment sharing a folder would each take the other's kept
/// folders for their own. Runners of other databases may share it (tests do): each leaves
/// alone the sandboxes its database does not know.
pub fn lock(dir: &Path, database: &str) -> io::Result<fs::File> {
    fs::create_dir_all(dir)?;
    let name: String = database
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("runner-{name}.lock")))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::other(format!(
            "another runner of database {database} uses {}: give each runner a folder of its own (SBX_SANDBOXES_DIR)",
            dir.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Keep the folders of placement `root` as sandbox `id`'s: moved, not copied. Returns the
/// bytes of the files they hold. They are taken back only once [`mark`]ed with their pause's
/// number.
pub fn keep(dir: &Path, root: &Path, id: SandboxId) -> io::Result<u64> {
    let kept = paused_dir(dir, id);
    fs::create_dir_all(dir.join("paused"))?;
    // What an earlier pause of it left here is stale now.
    crate::disk::remove_root(&kept);
    // The filesystem mounted inside moves with the folder.
    fs::rename(root, &kept)?;
    let mut bytes = 0;
    for tree in trees(&kept) {
        bytes += size(&tree, 0)?;
    }
    Ok(bytes)
}

/// Mark the folders kept for sandbox `id` as those of its pause `nth`.
pub fn mark(dir: &Path, id: SandboxId, nth: i32) -> io::Result<()> {
    fs::write(paused_dir(dir, id).join("nth"), nth.to_string())
}

/// The pause number whose folders are kept here for sandbox `id`, if any.
pub fn kept_gen(dir: &Path, id: SandboxId) -> Option<i32> {
    fs::read_to_string(paused_dir(dir, id).join("nth"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Take the folders kept here for sandbox `id`'s pause `nth` back as placement `root`.
pub fn take_back(dir: &Path, id: SandboxId, nth: i32, root: &Path) -> io::Result<bool> {
    if kept_gen(dir, id) != Some(nth) {
        return Ok(false);
    }
    let kept = paused_dir(dir, id);
    fs::remove_file(kept.join("nth"))?;
    if let Some(parent) = root.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::rename(&kept, root)?;
    Ok(true)
}

/// Forget what is kept here for sandbox `id`.
pub fn drop_kept(dir: &Path, id: SandboxId) {
    crate::disk::remove_root(&paused_dir(dir, id));
}

/// Sandboxes whose folders are kept here: (id, pause number; `None` when its `nth` is missing).
pub fn all_kept(dir: &Path) -> Vec<(SandboxId, Option<i32>)> {
    let Ok(entries) = fs::read_dir(dir.join("paused")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let id = uuid::Uuid::parse_str(e.file_name().to_str()?).ok()?;
            let id = SandboxId(id);
            Some((id, kept_gen(dir, id)))
        })
        .collect()
}

fn size(dir: &Path, depth: usize) -> io::Result<u64> {
    let mut total = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let ft = e.file_type()?;
        if ft.is_dir() && depth < MAX_DEPTH {
            total += size(&e.path(), depth + 1)?;
        } else if ft.is_file() {
            total += e.metadata()?.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder, removed when dropped.
    pub(super) struct Temp(PathBuf);

    impl Temp {
        pub(super) fn new() -> Self {
            let p =
                std::env::temp_dir().join(format!("sbx-kept-{}", uuid::Uuid::now_v7().simple()));
            fs::create_dir_all(&p).unwrap();
            Temp(p)
        }

        pub(super) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_pause_is_kept_by_moving_and_taken_back_only_for_its_number() {
        let dir = Temp::new();
        let id = SandboxId::new();
        let root = dir.path().join("placement-1");
        // Its folders on their capped filesystem, which moves with them.
        crate::disk::ensure_image(&root, 4 << 20).unwrap();
        let [workspace, outputs] = trees(&root);
        fs::create_dir_all(&workspace).unwrap();
        fs::create_dir_all(outputs).unwrap();
        fs::write(workspace.join("f"), "12345").unwrap();
        assert_eq!(keep(dir.path(), &root, id).unwrap(), 5);
        assert!(!root.exists());
        assert_eq!(
            all_kept(dir.path()),
            vec![(id, None)],
            "not taken back unmarked"
        );
        mark(dir.path(), id, 3).unwrap();
        assert_eq!(kept_gen(dir.path(), id), Some(3));
        assert_eq!(all_kept(dir.path()), vec![(id, Some(3))]);
        let next = dir.path().join("placement-2");
        assert!(!take_back(dir.path(), id, 2, &next).unwrap());
        assert!(take_back(dir.path(), id, 3, &next).unwrap());
        assert_eq!(fs::read(trees(&next)[0].join("f")).unwrap(), b"12345");
        assert!(crate::disk::is_mount_point(&crate::disk::mount_path(&next)));
        assert!(!next.join("nth").exists());
        crate::disk::remove_root(&next);
        assert!(all_kept(dir.path()).is_empty());
        let h = host_id(dir.path()).unwrap();
        assert_eq!(host_id(dir.path()).unwrap(), h);
    }
}
