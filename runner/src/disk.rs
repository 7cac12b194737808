//! Disk caps the kernel enforces: a size-limited tmpfs per wasm workload (an exec's folders,
//! a session's). A guest that writes past its cap gets `ENOSPC` on that write, and one that
//! makes too many files gets it on the `open`; nothing is scanned after the fact.
//!
//! Why tmpfs for wasm workloads (see `docs/architecture.md`, "Disk caps"): an exec is measured
//! in milliseconds, and a tmpfs is mounted once per exec folder and then only resized (one
//! `mount(MS_REMOUNT)`, microseconds) for each exec that takes the folder; its pages are
//! memory, used only as the guest writes, and freed at once when the folder is emptied or
//! unmounted. XFS and ext4 project quotas would be the alternative on disk, but the kernels
//! here are built without quota support.
//!
//! Mount points live in a folder named after the process (`<parent>/<pid>`), so a runner that
//! starts again unmounts what a dead one left ([`sweep`]) without touching a live one's.

use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};

/// Bytes of disk per file a cap allows: ext4's default `inode_ratio`, so a tmpfs cap allows
/// as many files as a filesystem of that size made by `mkfs.ext4` would.
pub const BYTES_PER_INODE: u64 = 16 << 10;

/// Fewest files a cap allows, however small.
pub const MIN_INODES: u64 = 1024;

/// The most files a cap of `bytes` allows (see [`BYTES_PER_INODE`]).
pub fn inodes_for(bytes: u64) -> u64 {
    (bytes / BYTES_PER_INODE).max(MIN_INODES)
}

/// The mount options of a tmpfs capped at `bytes`: its size, its files, owner-only.
fn options(bytes: u64) -> String {
    format!("size={bytes},nr_inodes={},mode=0700", inodes_for(bytes))
}

/// Mount a tmpfs capped at `bytes` on the folder `dir` (which must exist). Nothing on it can
/// be executed as a host program, be a device, or gain privileges.
pub fn mount_tmpfs(dir: &Path, bytes: u64) -> io::Result<()> {
    rustix::mount::mount(
        "sbx",
        dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        Some(c_string(&options(bytes))?.as_c_str()),
    )
    .map_err(|e| io::Error::other(format!("mounting a tmpfs on {}: {e}", dir.display())))
}

/// Give the tmpfs on `dir` a cap of `bytes`. Fails (`EBUSY`) if it holds more than that.
pub fn resize_tmpfs(dir: &Path, bytes: u64) -> io::Result<()> {
    rustix::mount::mount_remount(
        dir,
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        options(bytes).as_str(),
    )
    .map_err(|e| io::Error::other(format!("resizing the tmpfs on {}: {e}", dir.display())))
}

/// Unmount what is mounted on `dir` (at once for new users, when the last one lets go for
/// those still in it), dropping whatever it held.
pub fn unmount(dir: &Path) -> io::Result<()> {
    rustix::mount::unmount(dir, UnmountFlags::DETACH)
        .map_err(|e| io::Error::other(format!("unmounting {}: {e}", dir.display())))
}

/// Whether the filesystem holding `dir` has no room left: no block or no file (inode) free.
/// A run that failed on a full cap ended because of it.
pub fn is_full(dir: &Path) -> bool {
    rustix::fs::statvfs(dir).is_ok_and(|s| s.f_bavail == 0 || s.f_favail == 0)
}

/// This process's folder under `parent` (`<parent>/<pid>`), made empty, after unmounting
/// and removing what dead processes left there ([`sweep`]).
pub fn process_dir(parent: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(parent)?;
    sweep(parent);
    let dir = parent.join(std::process::id().to_string());
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Unmount and remove the folders under `parent` of processes that are gone.
pub fn sweep(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let mounts = mount_points();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        // Deepest first, so that a mount inside another goes before it.
        let mut under: Vec<&PathBuf> = mounts.iter().filter(|m| m.starts_with(&dir)).collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in under {
            if let Err(e) = unmount(m) {
                tracing::warn!(error = %e, "a dead runner's mount stays");
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "a dead runner's folder stays");
        }
    }
}

/// Every mount point of this process's mount namespace (`/proc/self/mountinfo`, field 5;
/// octal escapes such as `\040` for a space decoded).
fn mount_points() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .collect()
}

/// `s` with mountinfo's `\ooo` escapes decoded.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b
            .get(i + 1..i + 4)
            .filter(|_| b[i] == b'\\')
            .and_then(|o| u8::from_str_radix(std::str::from_utf8(o).ok()?, 8).ok());
        match code {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn c_string(s: &str) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(s).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_allow_files_as_ext4_would_and_never_too_few() {
        assert_eq!(inodes_for(128 << 20), 8192);
        assert_eq!(inodes_for(1 << 20), MIN_INODES);
        assert_eq!(options(64 << 20), "size=67108864,nr_inodes=4096,mode=0700");
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/a\040b/c\134d"), r"/a b/c\d");
        assert_eq!(unescape(r"/plain\0"), r"/plain\0");
    }
}
