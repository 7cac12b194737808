//! The inotify side of a watch: a loop of its own on a thread per stream, over folders each
//! opened beneath the watched one (see the parent module for why).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use tokio::sync::mpsc;

use super::{Seen, What};
use crate::files::EntryType;

/// How often a quiet watch checks that its tree is still where it was, and its reader there.
const LOOK_AGAIN: Duration = Duration::from_secs(1);
/// Folders one stream watches at most; past it, `overflow`, and changes in folders beyond are
/// not seen.
pub const MAX_FOLDERS: usize = 2048;
/// Deepest folder watched, below the watched one.
const MAX_DEPTH: usize = 64;
/// Entries one listing of a folder reports at most (a new folder's, or one moved in); past it,
/// `overflow`.
const MAX_LISTED: usize = 10_000;
/// inotify events one read takes at most before they are passed on (a guest writing faster
/// than they are passed on must not grow the list without end).
const MAX_READ: usize = 4096;

/// Folders all streams of this process watch at once, against [`watch_budget`].
static WATCHED: AtomicUsize = AtomicUsize::new(0);

/// Folders this process may watch at once, in all: a tenth of the kernel's
/// `max_user_watches` (the runner's watches are root's, shared with the whole host), at most
/// 32 streams' worth of [`MAX_FOLDERS`].
fn watch_budget() -> usize {
    static BUDGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .map_or(819, |n| n / 10)
            .min(32 * MAX_FOLDERS)
    })
}
/// The prefix of an upload's file before it is renamed over its target (not shown).
const UPLOAD_PREFIX: &[u8] = b".sbx-upload-";
/// What each folder's watch reports.
const MASK: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::EXCL_UNLINK)
    .union(WatchFlags::ONLYDIR);

/// Open `rel` beneath `base` with `flags`: no link followed on the way or at the end, nothing
/// outside `base` (`EXDEV`, `ELOOP`, `ENOTDIR` otherwise).
fn beneath(base: impl AsFd, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    Ok(rustix::fs::openat2(
        base,
        rel,
        flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH
            | ResolveFlags::NO_SYMLINKS
            | ResolveFlags::NO_MAGICLINKS
            | ResolveFlags::NO_XDEV,
    )?)
}

/// What an entry of file type `t` is.
fn kind_of(t: FileType) -> EntryType {
    match t {
        FileType::RegularFile => EntryType::File,
        FileType::Directory => EntryType::Directory,
        FileType::Symlink => EntryType::Symlink,
        _ => EntryType::Other,
    }
}

/// The type of entry `name` in the opened folder `dir`, not following a link.
fn entry_type(dir: impl AsFd, name: &OsStr) -> Option<EntryType> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    Some(kind_of(FileType::from_raw_mode(st.st_mode)))
}

/// The inotify side of one stream: the watched folder, its watches, and where changes go.
pub(super) struct Watching {
    inotify: OwnedFd,
    /// The watched folder, opened beneath its tree.
    base: OwnedFd,
    /// The tree's host folder and its (device, inode) when the watch began: the tree is gone
    /// once that path leads elsewhere.
    tree: (PathBuf, (u64, u64)),
    /// Watch descriptor → folder relative to `base`.
    folders: HashMap<i32, PathBuf>,
    recursive: bool,
    tx: mpsc::Sender<Seen>,
    /// Changes were dropped for a full queue: `overflow` is owed.
    lost: bool,
    /// [`MAX_FOLDERS`] was reached (said once).
    full: bool,
}

/// (device, inode) of the file at `path`, or of `fd`.
fn identity(st: &rustix::fs::Stat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

impl Watching {
    /// Watch `rel` below the tree folder `tree` (its host path): the watched folder and, if
    /// `recursive`, every folder below it. Errors: as opening `rel` fails (not there, not a
    /// folder, a link), or inotify refuses.
    pub(super) fn start(
        tree: &Path,
        rel: &Path,
        recursive: bool,
        tx: mpsc::Sender<Seen>,
    ) -> io::Result<Self> {
        let root = rustix::fs::open(
            tree,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        let id = identity(&rustix::fs::fstat(&root)?);
        let base = beneath(&root, rel, OFlags::PATH | OFlags::DIRECTORY)?;
        let inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        let mut w = Self {
            inotify,
            base,
            tree: (tree.to_owned(), id),
            folders: HashMap::new(),
            recursive,
            tx,
            lost: false,
            full: false,
        };
        w.add(Path::new(""), false, 0)?;
        Ok(w)
    }

    /// Watch folder `rel` (relative to the watched one, `depth` folders below it) and, if
    /// recursive, the folders below it; with `report`, a `created` for each entry found below
    /// it (a new folder's contents were made before its watch). A folder past the limits
    /// ([`MAX_FOLDERS`], the process's budget, [`MAX_DEPTH`]) or that inotify refuses is not
    /// watched, and `overflow` says so. Errors: the watched folder itself could not be.
    fn add(&mut self, rel: &Path, report: bool, depth: usize) -> io::Result<()> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let dir = beneath(&self.base, rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir));
        if !self.folders.values().any(|p| p == rel) {
            let budget_left = WATCHED.fetch_add(1, Ordering::AcqRel) < watch_budget();
            if !budget_left || self.folders.len() >= MAX_FOLDERS {
                WATCHED.fetch_sub(1, Ordering::AcqRel);
                self.missed();
                return Ok(());
            }
            match inotify::add_watch(&self.inotify, proc_path, MASK) {
                Ok(wd) => {
                    if self.folders.insert(wd, rel.to_owned()).is_some() {
                        // The same folder under another name (moved): counted once.
                        WATCHED.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                Err(e) => {
                    WATCHED.fetch_sub(1, Ordering::AcqRel);
                    if rel.as_os_str().is_empty() {
                        return Err(e.into());
                    }
                    self.missed();
                    return Ok(());
                }
            }
        }
        if !self.recursive {
            return Ok(());
        }
        let mut folders = Vec::new();
        for (n, entry) in rustix::fs::Dir::read_from(&dir)?.flatten().enumerate() {
            if n >= MAX_LISTED {
                self.missed();
                break;
            }
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." || name.as_bytes().starts_with(UPLOAD_PREFIX) {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => entry_type(&dir, name),
                t => Some(kind_of(t)),
            };
            let path = rel.join(name);
            if report && !self.lost {
                self.send(Seen::Change(What::Created, path.clone(), kind));
            }
            if kind == Some(EntryType::Directory) {
                folders.push(path);
            }
        }
        for path in folders {
            // Gone or swapped for a link meanwhile: not watched, and nothing else is.
            let _ = self.add(&path, report, depth + 1);
        }
        Ok(())
    }

    /// Changes will be missed (a limit reached, or inotify refused a folder): `overflow`,
    /// once until the stream watches fewer folders again.
    fn missed(&mut self) {
        if !self.full {
            self.full = true;
            self.send(Seen::Overflow);
        }
    }

    /// Stop watching folder `rel` and those below it (moved out of the watched one, or gone).
    fn forget(&mut self, rel: &Path) {
        let gone: Vec<i32> = self
            .folders
            .iter()
            .filter(|(_, p)| p.starts_with(rel))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in gone {
            let _ = inotify::remove_watch(&self.inotify, wd);
            self.drop_watch(wd);
        }
    }

    /// Forget watch `wd` (removed, or its folder gone).
    fn drop_watch(&mut self, wd: i32) {
        if self.folders.remove(&wd).is_some() {
            WATCHED.fetch_sub(1, Ordering::AcqRel);
            self.full = false;
        }
    }

    /// Queue `seen` for the stream; a full queue loses it and owes an `overflow`.
    fn send(&mut self, seen: Seen) {
        if self.lost {
            if self.tx.try_send(Seen::Overflow).is_err() {
                return;
            }
            self.lost = false;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(seen) {
            self.lost = true;
        }
    }

    /// End the stream: `Gone`, waited for if the queue is full (the reader then sees the end
    /// after what it has not read yet).
    fn end(&mut self) {
        let _ = self.tx.blocking_send(Seen::Gone);
    }

    /// Whether the tree is still where it was.
    fn tree_is_there(&self) -> bool {
        rustix::fs::lstat(&self.tree.0).is_ok_and(|st| identity(&st) == self.tree.1)
    }

    /// Read and pass on what inotify has; false once the stream is over (the tree gone, or
    /// inotify failing).
    fn read(&mut self, buf: &mut [MaybeUninit<u8>]) -> bool {
        let mut events = Vec::new();
        {
            let mut reader = inotify::Reader::new(&self.inotify, buf);
            while events.len() < MAX_READ {
                match reader.next() {
                    Ok(e) => events.push((
                        e.wd(),
                        e.events(),
                        e.file_name()
                            .map(|n| OsStr::from_bytes(n.to_bytes()).to_owned()),
                    )),
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return false,
                }
            }
        }
        for (wd, flags, name) in events {
            if !self.on_event(wd, flags, name.as_deref()) {
                return false;
            }
        }
        true
    }

    /// Pass on one inotify event; false once the watched folder itself is gone.
    fn on_event(&mut self, wd: i32, flags: ReadFlags, name: Option<&OsStr>) -> bool {
        if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
            // Folders made meanwhile have no watch yet: look again from the top.
            self.send(Seen::Overflow);
            let _ = self.add(Path::new(""), false, 0);
            return true;
        }
        if flags.contains(ReadFlags::IGNORED) {
            self.drop_watch(wd);
            return true;
        }
        let Some(dir) = self.folders.get(&wd).cloned() else {
            return true;
        };
        let Some(name) = name else {
            // About the folder itself: the watched one deleted or moved ends the stream; one
            // below it is reported by its parent.
            let gone = flags.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF);
            if gone && dir.as_os_str().is_empty() {
                return false;
            }
            if gone {
                self.drop_watch(wd);
            }
            return true;
        };
        if name.as_bytes().starts_with(UPLOAD_PREFIX) {
            return true;
        }
        let path = dir.join(name);
        if flags.intersects(ReadFlags::CREATE | ReadFlags::MOVED_TO) {
            let kind = beneath(&self.base, &dir, OFlags::PATH | OFlags::DIRECTORY)
                .ok()
                .and_then(|d| entry_type(&d, name));
            self.send(Seen::Change(What::Created, path.clone(), kind));
            if self.recursive && kind == Some(EntryType::Directory) {
                let depth = path.components().count();
                let _ = self.add(&path, true, depth);
            }
        } else if flags.intersects(ReadFlags::DELETE | ReadFlags::MOVED_FROM) {
            if flags.contains(ReadFlags::ISDIR) {
                // Moved away (perhaps out of the watched folder): watched again where it
                // lands, if that is below the watched folder.
                self.forget(&path);
            }
            self.send(Seen::Change(What::Deleted, path, None));
        } else if flags.contains(ReadFlags::MODIFY) {
            self.send(Seen::Change(What::Modified, path, Some(EntryType::File)));
        }
        true
    }

    /// Pass on changes until the reader goes or the tree does.
    pub(super) fn run(mut self) {
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 << 10];
        let mut looked = Instant::now();
        loop {
            if self.tx.is_closed() {
                return;
            }
            // A pause renames or unmounts an ancestor of the tree, which inotify does not
            // report on the tree itself: look, busy or not.
            if looked.elapsed() >= LOOK_AGAIN {
                looked = Instant::now();
                if !self.tree_is_there() {
                    self.end();
                    return;
                }
            }
            let mut fds = [rustix::event::PollFd::new(
                &self.inotify,
                rustix::event::PollFlags::IN,
            )];
            let timeout = rustix::event::Timespec {
                tv_sec: LOOK_AGAIN.as_secs() as i64,
                tv_nsec: 0,
            };
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => {}
                Ok(_) => {
                    if !self.read(&mut buf) {
                        self.end();
                        return;
                    }
                }
                Err(_) => {
                    self.end();
                    return;
                }
            }
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        WATCHED.fetch_sub(self.folders.len(), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::super::QUEUE;
    use super::*;

    /// What a watch of `rel` below `tree` reports while `act` runs (read for 300 ms after).
    fn watched(tree: &Path, rel: &str, recursive: bool, act: impl FnOnce()) -> (Vec<Seen>, usize) {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let mut w = Watching::start(tree, Path::new(rel), recursive, tx).unwrap();
        act();
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 << 10];
        let until = std::time::Instant::now() + Duration::from_millis(300);
        while std::time::Instant::now() < until {
            w.read(&mut buf);
            std::thread::sleep(Duration::from_millis(20));
        }
        let folders = w.folders.len();
        drop(w);
        let mut seen = Vec::new();
        while let Ok(s) = rx.try_recv() {
            seen.push(s);
        }
        (seen, folders)
    }

    fn created(seen: &[Seen]) -> Vec<PathBuf> {
        seen.iter()
            .filter_map(|s| match s {
                Seen::Change(What::Created, p, _) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn changes_are_seen_below_the_tree_and_links_never_followed() {
        let dir = std::env::temp_dir().join(format!("sbx-watch-{}", uuid::Uuid::now_v7()));
        let (tree, outside) = (dir.join("tree"), dir.join("outside"));
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::create_dir_all(outside.join("deep")).unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("up")).unwrap();
        let (seen, folders) = watched(&tree, "", true, || {
            std::fs::write(tree.join("sub/a.txt"), "1").unwrap();
            std::fs::create_dir_all(tree.join("new/deeper")).unwrap();
            std::fs::write(tree.join("new/deeper/f"), "x").unwrap();
            // Through the link: outside the tree, never seen.
            std::fs::write(outside.join("deep/secret"), "x").unwrap();
            std::fs::write(tree.join(".sbx-upload-1234"), "x").unwrap();
        });
        let made = created(&seen);
        assert!(made.contains(&PathBuf::from("sub/a.txt")), "{seen:?}");
        assert!(made.contains(&PathBuf::from("new")), "{seen:?}");
        assert!(made.iter().all(|p| !p.starts_with("up/")), "{seen:?}");
        assert!(
            seen.iter().all(|s| !matches!(s, Seen::Change(_, p, _) if p.to_string_lossy().contains("secret") || p.to_string_lossy().contains(".sbx-upload"))),
            "{seen:?}"
        );
        // The tree, sub, new, new/deeper at most: never outside/ or outside/deep.
        assert!(folders <= 4, "{folders} folders watched");

        // A folder made and at once swapped for a link out: nothing outside is watched.
        let (seen, folders) = watched(&tree, "", true, || {
            for i in 0..50 {
                let d = tree.join(format!("race{i}"));
                std::fs::create_dir(&d).unwrap();
                std::fs::remove_dir(&d).unwrap();
                std::os::unix::fs::symlink(&outside, &d).unwrap();
            }
            std::fs::write(outside.join("deep/later"), "x").unwrap();
        });
        assert!(
            seen.iter().all(|s| !matches!(s, Seen::Change(_, p, _) if p.components().count() > 1 && p.starts_with("race"))),
            "{seen:?}"
        );
        assert!(folders <= 4, "{folders} folders watched after the race");
        assert!(
            seen.contains(&Seen::Change(
                What::Created,
                PathBuf::from("race49"),
                Some(super::EntryType::Symlink)
            )),
            "{seen:?}"
        );

        // Not recursive: the folder itself only.
        let (seen, _) = watched(&tree, "sub", false, || {
            std::fs::create_dir_all(tree.join("sub/d")).unwrap();
            std::fs::write(tree.join("sub/d/x"), "1").unwrap();
            std::fs::write(tree.join("sub/top"), "1").unwrap();
            std::fs::remove_file(tree.join("sub/a.txt")).unwrap();
        });
        let made = created(&seen);
        assert!(
            made.contains(&PathBuf::from("d")) && made.contains(&PathBuf::from("top")),
            "{seen:?}"
        );
        assert!(!made.contains(&PathBuf::from("d/x")), "{seen:?}");
        assert!(
            seen.contains(&Seen::Change(What::Deleted, PathBuf::from("a.txt"), None)),
            "{seen:?}"
        );

        // Watching through a link, or a file, is refused; a folder found to be a link by the
        // time it is opened is not watched, nor anything beyond it.
        let (tx, _rx) = mpsc::channel(QUEUE);
        assert!(Watching::start(&tree, Path::new("up"), true, tx.clone()).is_err());
        assert!(Watching::start(&tree, Path::new("sub/top"), true, tx.clone()).is_err());
        let mut w = Watching::start(&tree, Path::new(""), true, tx).unwrap();
        let before = w.folders.len();
        assert!(w.add(Path::new("up"), true, 1).is_err());
        assert!(w.add(Path::new("up/deep"), true, 2).is_err());
        assert_eq!(w.folders.len(), before);
        assert!(w.folders.values().all(|p| !p.starts_with("up")));

        // A folder moved out of the watched one is no longer watched, nor what is below it.
        std::fs::create_dir_all(tree.join("sub/d/e")).unwrap();
        let (seen, folders) = watched(&tree, "sub", true, || {
            std::fs::rename(tree.join("sub/d"), tree.join("moved")).unwrap();
        });
        assert!(
            seen.contains(&Seen::Change(What::Deleted, PathBuf::from("d"), None)),
            "{seen:?}"
        );
        assert_eq!(folders, 1, "only sub itself stays watched: {seen:?}");
        drop(w);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
