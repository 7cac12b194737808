//! A session's host folders (`workspace/`, `tmp/`), and the files a call hands into them.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::disk;
use crate::wasm::workspace::{O_NOFOLLOW, read_capped};

use super::{SessionError, host};

/// Most bytes of `out.json` the host reads back.
pub(super) const MAX_OUT_JSON: u64 = 4 << 20;

/// A session's host folders (`workspace/`, `tmp/`) on a tmpfs of its own, capped at the
/// session's disk (see [`crate::disk`]); unmounted and removed when dropped.
pub(super) struct SessionDir(pub(super) PathBuf);

impl SessionDir {
    pub(super) fn create(root: &Path, id: uuid::Uuid, disk_bytes: u64) -> std::io::Result<Self> {
        let dir = root.join(id.simple().to_string());
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        if let Err(e) = disk::mount_tmpfs(&dir, disk_bytes) {
            let _ = fs::remove_dir(&dir);
            return Err(e);
        }
        let this = Self(dir);
        fs::DirBuilder::new().mode(0o700).create(this.workspace())?;
        fs::DirBuilder::new().mode(0o700).create(this.tmp())?;
        Ok(this)
    }

    /// Whether the session used all its disk cap: no byte or no file left.
    pub(super) fn is_full(&self) -> bool {
        disk::is_full(&self.0)
    }

    pub(super) fn workspace(&self) -> PathBuf {
        self.0.join("workspace")
    }

    pub(super) fn tmp(&self) -> PathBuf {
        self.0.join("tmp")
    }

    /// `/tmp/.sbx`, where the guest half leaves what a turn cannot return, if it is a real
    /// folder (a guest could have put a link there).
    pub(super) fn out_dir(&self) -> Option<PathBuf> {
        let dir = self.tmp().join(".sbx");
        fs::symlink_metadata(&dir)
            .ok()
            .filter(|m| m.is_dir())
            .map(|_| dir)
    }

    /// What the guest half wrote about the last turn, if it did.
    pub(super) fn read_out(&self) -> Option<serde_json::Value> {
        let bytes = read_capped(&self.out_dir()?.join("out.json"), MAX_OUT_JSON).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

impl Drop for SessionDir {
    fn drop(&mut self) {
        if let Err(e) = disk::unmount(&self.0) {
            tracing::warn!(error = %e, "could not unmount a session's folder");
        }
        if let Err(e) = fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "could not remove a session's folder");
        }
    }
}

/// Write `content` at `rel` under `root`, a folder the guest has written in: no component may
/// be a link (the guest could point one anywhere), and none is followed. The guest does not run
/// meanwhile (a session's calls are serialised), so what is checked stays as it was.
pub(super) fn write_input(root: &Path, rel: &str, content: &[u8]) -> Result<(), SessionError> {
    let refuse = |why: &str| SessionError::BadInput(format!("files: {rel:?}: {why}"));
    let mut at = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let last = i + 1 == parts.len();
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse("the session made a link there; it is not followed"));
            }
            Ok(m) if !last && !m.is_dir() => {
                return Err(refuse("a file of the session is in the way"));
            }
            Ok(m) if last && m.is_dir() => return Err(refuse("the session has a folder there")),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !last => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&at)
                    .map_err(host)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(host(e)),
        }
    }
    use std::io::Write as _;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW)
        .open(&at)
        .and_then(|mut f| f.write_all(content))
        .map_err(host)
}
