//! Disk caps the kernel enforces: a size-limited tmpfs per wasm workload (an exec's folders,
//! a session's), and a loop-mounted ext4 image per container sandbox or job ([`ensure_image`]).
//! A guest that writes past its cap gets `ENOSPC` on that write, and one that makes too many
//! files gets it on the `open`; nothing is scanned after the fact.
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

/// The image file of a container placement's folder `root`: a sparse file holding its ext4
/// filesystem.
pub fn image_path(root: &Path) -> PathBuf {
    root.join("disk.img")
}

/// Where the filesystem of placement `root` is mounted: `workspace/` and `outputs/` are in it.
pub fn mount_path(root: &Path) -> PathBuf {
    root.join("fs")
}

/// Give placement `root` a filesystem with `bytes` usable (and one file per 16 KiB of them),
/// mounted at [`mount_path`]: the image kept in `root` if there is one (mounted again if it is
/// not, as after a reboot), else a new one.
///
/// A new image is a sparse file (it takes host disk only as it is written) formatted ext4
/// without reserved blocks. ext4 keeps part of its size for itself (inode tables, the
/// journal: 2 to 16 %), so the file is made larger by that part, measured: the guest can write
/// `bytes`, and at most 1 % (or 1 MiB) more.
pub fn ensure_image(root: &Path, bytes: u64) -> io::Result<()> {
    let (image, dir) = (image_path(root), mount_path(root));
    std::fs::create_dir_all(&dir)?;
    if image.exists() {
        return if is_mount_point(&dir) {
            Ok(())
        } else {
            mount_image(&image, &dir)
        };
    }
    let slack = slack(bytes);
    // The size that gave this cap last time: ext4's part depends only on the size, so it is
    // right again, and one `mkfs` does.
    static SIZES: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());
    let known = SIZES
        .lock()
        .expect("sizes lock")
        .iter()
        .find(|(cap, _)| *cap == bytes)
        .map(|(_, size)| *size);
    let mut size = known.unwrap_or(bytes + bytes / 40 + (8 << 20));
    for _ in 0..4 {
        make_image(&image, size, bytes)?;
        mount_image(&image, &dir)?;
        let usable = writable(&dir)?;
        if (bytes..=bytes + slack).contains(&usable) {
            if known.is_none() {
                let mut sizes = SIZES.lock().expect("sizes lock");
                if sizes.len() >= 64 {
                    sizes.remove(0);
                }
                sizes.push((bytes, size));
            }
            return Ok(());
        }
        unmount(&dir)?;
        // Aim for the middle of the band; ext4's part grows a little with the size.
        let target = bytes + slack / 2;
        size = if usable < target {
            size + (target - usable) + (target - usable) / 20
        } else {
            size - (usable - target)
        };
    }
    let _ = std::fs::remove_file(&image);
    Err(io::Error::other(format!(
        "could not size a filesystem image to {bytes} usable bytes"
    )))
}

/// How far a capped image may give more than its cap: 1 %, at least 1 MiB.
fn slack(bytes: u64) -> u64 {
    (bytes / 100).max(1 << 20)
}

/// Bytes a guest (not root) can still write on the ext4 filesystem at `dir`: `f_bavail`,
/// which already leaves out what ext4 keeps for itself (`s_resv_clusters`, which root may
/// use). Measured here for 8 MiB to 1 GiB images: uid 1000 wrote `f_bavail` less 11 to 57 KiB.
pub fn writable(dir: &Path) -> io::Result<u64> {
    let s = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
    Ok(s.f_bavail * s.f_frsize)
}

/// Whether the image filesystem at `dir`, capped at `bytes`, is full as a guest sees it: less
/// than the cap's slack left to write, or no file left.
pub fn image_is_full(dir: &Path, bytes: u64) -> bool {
    let files_left = rustix::fs::statvfs(dir).map_or(1, |s| s.f_favail);
    files_left == 0 || writable(dir).is_ok_and(|w| w < slack(bytes))
}

/// Make `image` a sparse file of `size` bytes formatted ext4 for a cap of `cap` bytes.
fn make_image(image: &Path, size: u64, cap: u64) -> io::Result<()> {
    std::fs::File::create(image)?.set_len(size)?;
    let inodes = inodes_for(cap).to_string();
    // Where e2fsprogs puts it, which a service's PATH may lack.
    let mkfs = ["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("mkfs.ext4");
    run(std::process::Command::new(mkfs)
        .args(["-q", "-F", "-m", "0", "-N", &inodes])
        .args(["-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard"])
        .arg(image))
}

/// Mount filesystem image `image` on `dir` through a loop device, freed when it is unmounted.
/// Programs on it may run (a sandbox's scripts), but not as set-uid, and it holds no devices.
///
/// Two processes mounting at once can pick the same free loop device; the one that loses is
/// told "already mounted or mount point busy" (util-linux 2.38, Debian 12: seen when a runner
/// process and another placed sandboxes in the same instant), or "wrong fs type, bad option,
/// bad superblock on /dev/loopN" when it read the device while the other was attaching its
/// image (seen once in tests/processes.rs; the image itself was sound). Its mount is tried
/// again, up to 5 times, while `dir` is still not a mount point.
fn mount_image(image: &Path, dir: &Path) -> io::Result<()> {
    let mut tries = 0;
    loop {
        tries += 1;
        match run(std::process::Command::new("mount")
            .args(["-o", "loop,nosuid,nodev"])
            .arg(image)
            .arg(dir))
        {
            Err(e)
                if tries < 5
                    && (e.to_string().contains("busy")
                        || e.to_string().contains("bad superblock"))
                    && !is_mount_point(dir) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20 * tries));
            }
            done => return done,
        }
    }
}

/// Whether something is mounted on `dir` (it is on another device than its parent).
pub fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let parent = dir.parent().unwrap_or(dir);
    match (std::fs::metadata(dir), std::fs::metadata(parent)) {
        (Ok(d), Ok(p)) => d.dev() != p.dev(),
        _ => false,
    }
}

/// Remove placement (or kept) folder `root` whole, its filesystem unmounted first.
pub fn remove_root(root: &Path) {
    let dir = mount_path(root);
    if is_mount_point(&dir)
        && let Err(e) = unmount(&dir)
    {
        tracing::warn!(error = %e, "could not unmount a sandbox's filesystem");
    }
    if let Err(e) = std::fs::remove_dir_all(root)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %root.display(), error = %e, "could not remove a sandbox's folder");
    }
}

/// Bytes of host disk the image of placement `root` takes now (its written blocks).
pub fn image_usage(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(image_path(root)).map_or(0, |m| m.blocks() * 512)
}

/// Run `cmd`; its stderr is the error when it fails.
pub(crate) fn run(cmd: &mut std::process::Command) -> io::Result<()> {
    let out = cmd.stdin(std::process::Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
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
    fn an_image_gives_its_cap_to_the_byte_band_and_is_mounted_again_when_kept() {
        let root = std::env::temp_dir().join(format!("sbx-disk-{}", uuid::Uuid::now_v7().simple()));
        for cap in [1u64 << 20, 16 << 20, 300 << 20] {
            ensure_image(&root, cap).unwrap();
            let dir = mount_path(&root);
            assert!(is_mount_point(&dir));
            assert!(image_usage(&root) < cap.max(8 << 20), "sparse");
            // What a guest may write is the cap, within the slack (the containers' tests write
            // it as uid 1000; root here could use ext4's own reserve as well).
            let usable = writable(&dir).unwrap();
            assert!(
                usable >= cap && usable <= cap + slack(cap),
                "{usable} usable for a cap of {cap}"
            );
            assert!(!image_is_full(&dir, cap));
            fill(&dir.join("big"));
            assert!(image_is_full(&dir, cap));
            std::fs::remove_file(dir.join("big")).unwrap();
            let files = rustix::fs::statvfs(&dir).unwrap().f_favail;
            // ext4 rounds its inode count up to fill its block groups.
            let want = inodes_for(cap);
            assert!(
                files >= want - 16 && files <= want + want / 50 + 256,
                "{files} files"
            );
            // Kept (unmounted, as after a reboot): mounted again with what it held.
            std::fs::write(dir.join("kept"), b"x").unwrap();
            unmount(&dir).unwrap();
            ensure_image(&root, cap).unwrap();
            assert_eq!(std::fs::read(dir.join("kept")).unwrap(), b"x");
            remove_root(&root);
            assert!(!root.exists());
        }
    }

    /// Write 64 KiB at a time to `path` until a write fails; the bytes written.
    fn fill(path: &Path) -> u64 {
        use std::io::Write as _;
        let mut f = std::fs::File::create(path).unwrap();
        let chunk = vec![7u8; 64 << 10];
        let mut n = 0;
        loop {
            match f.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k as u64,
            }
            if f.flush().is_err() {
                break;
            }
        }
        n
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/a\040b/c\134d"), r"/a b/c\d");
        assert_eq!(unescape(r"/plain\0"), r"/plain\0");
    }
}
