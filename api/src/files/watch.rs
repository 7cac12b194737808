//! `GET …/files/watch`: changes below a sandbox folder as Server-Sent Events, from inotify on
//! the folder's host side. For a container the runner that runs it watches the bind-mounted
//! folders; for a code-interpreter the API process that holds its session watches the
//! session's host folder. Either way what the code writes is seen as it writes it, not only
//! after a cell.
//!
//! The guest owns everything below the tree and may swap a folder for a link at any moment,
//! so nothing here resolves a path the ordinary way. The watched folder is opened once, beneath
//! its tree; every folder below it is opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` relative to it, and its inotify watch is added through that open file
//! (`/proc/self/fd/N`), so a watch is always on a folder inside the tree, never on where a link
//! points. Entry types are read relative to their opened parent, without following links. A
//! stream watches at most [`MAX_FOLDERS`] folders and a process serves at most
//! [`MAX_WATCHES`] streams: the runner's inotify watches are the host's root's.
//!
//! Events are gathered for [`BATCH`] and repeats within a batch are sent once. They are live
//! only: a reconnecting reader starts afresh (list the folder to catch up); `overflow` says
//! some were lost (the kernel's queue or this stream's was full, or the folder limit reached);
//! `end` comes when the tree is gone from where it was (a pause moves it, an end removes it).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::ops::Folders;
use super::path::{GuestPath, Tree};
use crate::error::ApiError;

/// How long events are gathered before they are sent.
const BATCH: Duration = Duration::from_millis(50);
/// A comment sent after this long without events, so that idle connections stay open and a
/// reader that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a quiet watch checks that its tree is still where it was, and its reader there.
const LOOK_AGAIN: Duration = Duration::from_secs(1);
/// Streams one process serves at once (each holds an inotify instance and a thread).
pub const MAX_WATCHES: usize = 32;
/// Folders one stream watches at most; past it, `overflow`, and changes in folders beyond are
/// not seen.
pub const MAX_FOLDERS: usize = 2048;
/// Deepest folder watched, below the watched one.
const MAX_DEPTH: usize = 64;
/// Changes held for a slow reader before `overflow`.
const QUEUE: usize = 4096;
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

static WATCHES: AtomicUsize = AtomicUsize::new(0);

/// Query of `GET …/files/watch`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// The folder: `/workspace` (the default), `/outputs` (containers) or one below them.
    pub path: Option<String>,
    /// Changes anywhere below it (the default); `false`: in the folder itself only.
    pub recursive: Option<bool>,
}

impl WatchQuery {
    /// The watch it asks for; a bad path is a 422 naming `path`.
    pub fn op(&self) -> Result<super::Op, ApiError> {
        let path = GuestPath::parse(self.path.as_deref().unwrap_or("/workspace"), "path")?;
        Ok(super::Op::Watch(path, self.recursive.unwrap_or(true)))
    }
}

/// One change, the `data` of a `created`, `modified` or `deleted` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Change {
    /// The guest path (`/workspace/src/main.py`).
    pub path: String,
    /// `file`, `directory`, `symlink` or `other`; none once deleted.
    #[serde(rename = "type")]
    pub entry_type: Option<super::EntryType>,
}

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Created,
    Modified,
    Deleted,
}

impl What {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Modified => "modified",
            Self::Deleted => "deleted",
        }
    }
}

/// One message from the watching thread.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// A change at a path relative to the watched folder, and what is there now.
    Change(What, PathBuf, Option<super::EntryType>),
    /// Some changes were lost.
    Overflow,
    /// The tree is gone from where it was (the sandbox paused or ended).
    Gone,
}

/// Held while a watch is served: counts it against [`MAX_WATCHES`].
struct Slot;

impl Slot {
    fn take() -> Result<Self, ApiError> {
        if WATCHES.fetch_add(1, Ordering::AcqRel) >= MAX_WATCHES {
            WATCHES.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::Unavailable(format!(
                "{MAX_WATCHES} watches are served here already; retry later"
            )));
        }
        Ok(Self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        WATCHES.fetch_sub(1, Ordering::AcqRel);
    }
}

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
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// The type of entry `name` in the opened folder `dir`, not following a link.
fn entry_type(dir: impl AsFd, name: &OsStr) -> Option<super::EntryType> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    Some(match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => super::EntryType::File,
        FileType::Directory => super::EntryType::Directory,
        FileType::Symlink => super::EntryType::Symlink,
        _ => super::EntryType::Other,
    })
}

/// The inotify side of one stream: the watched folder, its watches, and where changes go.
struct Watching {
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
    fn start(tree: &Path, rel: &Path, recursive: bool, tx: mpsc::Sender<Seen>) -> io::Result<Self> {
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

    /// Watch folder `rel` (relative to the watched one) and, if recursive, the folders below
    /// it; with `report`, a `created` for each entry found below it (a new folder's contents
    /// were made before its watch). Errors: the watched folder itself could not be watched.
    fn add(&mut self, rel: &Path, report: bool, depth: usize) -> io::Result<()> {
        if self.folders.len() >= MAX_FOLDERS {
            if !self.full {
                self.full = true;
                self.send(Seen::Overflow);
            }
            return Ok(());
        }
        let dir = beneath(&self.base, rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir));
        let wd = inotify::add_watch(&self.inotify, proc_path, MASK)?;
        self.folders.insert(wd, rel.to_owned());
        if !self.recursive || depth >= MAX_DEPTH {
            return Ok(());
        }
        let mut entries = Vec::new();
        for entry in rustix::fs::Dir::read_from(&dir)?.flatten() {
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." || name.as_bytes().starts_with(UPLOAD_PREFIX) {
                continue;
            }
            entries.push(name.to_owned());
        }
        for name in entries {
            let kind = entry_type(&dir, &name);
            let path = rel.join(&name);
            if report {
                self.send(Seen::Change(What::Created, path.clone(), kind));
            }
            if kind == Some(super::EntryType::Directory) {
                // Gone or swapped for a link meanwhile: not watched, and nothing else is.
                let _ = self.add(&path, report, depth + 1);
            }
        }
        Ok(())
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
            loop {
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
            self.send(Seen::Overflow);
            return true;
        }
        if flags.contains(ReadFlags::IGNORED) {
            self.folders.remove(&wd);
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
                self.send(Seen::Gone);
                return false;
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
            if self.recursive && kind == Some(super::EntryType::Directory) {
                let depth = path.components().count();
                let _ = self.add(&path, true, depth);
            }
        } else if flags.intersects(ReadFlags::DELETE | ReadFlags::MOVED_FROM) {
            self.send(Seen::Change(What::Deleted, path, None));
        } else if flags.contains(ReadFlags::MODIFY) {
            self.send(Seen::Change(
                What::Modified,
                path,
                Some(super::EntryType::File),
            ));
        }
        true
    }

    /// Pass on changes until the reader goes or the tree does.
    fn run(mut self) {
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 << 10];
        loop {
            if self.tx.is_closed() {
                return;
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
                Ok(0) => {
                    // Quiet: a pause renames or unmounts an ancestor of the tree, which
                    // inotify does not report on the tree itself.
                    if !self.tree_is_there() {
                        self.send(Seen::Gone);
                        return;
                    }
                }
                Ok(_) => {
                    if !self.read(&mut buf) {
                        return;
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => {
                    self.send(Seen::Overflow);
                    return;
                }
            }
        }
    }
}

/// Changes below `path` of `folders` (in it only unless `recursive`), as Server-Sent Events,
/// until the reader goes or the tree does (an `end` event). Errors: `/outputs` of a
/// code-interpreter (422), a path that is not a folder (409 `path_conflict`) or not there
/// (404), a link on the way (422), [`MAX_WATCHES`] being served (503), inotify refusing (503).
pub async fn watch(
    folders: Folders,
    path: GuestPath,
    recursive: bool,
) -> Result<actix_web::HttpResponse, ApiError> {
    let slot = Slot::take()?;
    let (tx, mut rx) = mpsc::channel::<Seen>(QUEUE);
    let watching = {
        let path = path.clone();
        actix_web::web::block(move || {
            let tree = folders.tree_path(&path)?;
            Watching::start(&tree, path.below(), recursive, tx).map_err(|e| {
                if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error())
                    || e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error())
                {
                    ApiError::Unavailable(format!("the folder cannot be watched now: {e}"))
                } else {
                    super::ops::io_error(e, &path)
                }
            })
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??
    };
    std::thread::Builder::new()
        .name("sbx-files-watch".into())
        .spawn(move || {
            let _slot = slot;
            watching.run();
        })
        .map_err(|e| ApiError::Unavailable(format!("no thread for the watch: {e}")))?;
    let (tree, base) = (path.tree, path.rel.clone());
    let (out_tx, out_rx) = mpsc::channel::<bytes::Bytes>(16);
    actix_web::rt::spawn(async move {
        let mut n = 0u64;
        loop {
            let first = match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
                Err(_) => {
                    let ping = bytes::Bytes::from_static(b": keep-alive\n\n");
                    if out_tx.send(ping).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(None) => return,
                Ok(Some(seen)) => seen,
            };
            tokio::time::sleep(BATCH).await;
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let (out, end) = encode(tree, &base, batch, &mut n);
            if (!out.is_empty() && out_tx.send(bytes::Bytes::from(out)).await.is_err()) || end {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, actix_web::Error>(b), rx))
    });
    Ok(crate::sse::sse_response(stream))
}

/// `batch` as Server-Sent Events numbered after `n` (repeats sent once; paths shown in `tree`
/// below `base`), and whether it holds the end.
fn encode(tree: Tree, base: &Path, batch: Vec<Seen>, n: &mut u64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut sent: Vec<(What, PathBuf)> = Vec::new();
    let mut end = false;
    for seen in batch {
        match seen {
            Seen::Overflow => {
                *n += 1;
                out.extend_from_slice(&crate::sse::sse_event(
                    &n.to_string(),
                    "overflow",
                    &serde_json::json!({}),
                ));
            }
            Seen::Gone => end = true,
            Seen::Change(what, rel, kind) => {
                if sent.contains(&(what, rel.clone())) {
                    continue;
                }
                *n += 1;
                let change = Change {
                    path: format!("{}/{}", tree.root(), base.join(&rel).to_string_lossy()),
                    entry_type: kind,
                };
                out.extend_from_slice(&crate::sse::sse_event(
                    &n.to_string(),
                    what.as_str(),
                    &change,
                ));
                sent.push((what, rel));
            }
        }
    }
    if end {
        out.extend_from_slice(&crate::sse::sse_event(
            "end",
            "end",
            &serde_json::json!({"reason": "the folder is gone: the sandbox paused or ended"}),
        ));
    }
    (out, end)
}

#[cfg(test)]
mod tests {
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
                Some(super::super::EntryType::Symlink)
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

        // Watching through a link, or a file, is refused.
        let (tx, _rx) = mpsc::channel(1);
        assert!(Watching::start(&tree, Path::new("up"), true, tx.clone()).is_err());
        assert!(Watching::start(&tree, Path::new("sub/top"), true, tx).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn events_are_numbered_once_each_and_end_when_the_tree_goes() {
        let mut n = 0;
        let batch = vec![
            Seen::Change(
                What::Created,
                PathBuf::from("a"),
                Some(super::super::EntryType::File),
            ),
            Seen::Change(
                What::Created,
                PathBuf::from("a"),
                Some(super::super::EntryType::File),
            ),
            Seen::Overflow,
            Seen::Gone,
        ];
        let (out, end) = encode(Tree::Outputs, Path::new("r"), batch, &mut n);
        let text = String::from_utf8(out).unwrap();
        assert!(end);
        assert_eq!(n, 2);
        assert_eq!(text.matches("event: created").count(), 1, "{text}");
        assert!(text.contains("\"path\":\"/outputs/r/a\""), "{text}");
        assert!(
            text.contains("event: overflow") && text.contains("event: end"),
            "{text}"
        );
    }
}
