//! `GET …/files/watch`: changes below a sandbox folder as Server-Sent Events, from inotify on
//! the folder's host side (the `notify` crate, recursively). For a container the runner that
//! runs it watches the bind-mounted folders; for a code-interpreter the API process that holds
//! its session watches the session's host folder. Either way what the code writes is seen as it
//! writes it, not only after a cell.
//!
//! The whole tree (`/workspace` or `/outputs`) is watched, never a folder below it that the
//! code could swap for a link meanwhile, and links are not followed; an event whose folder no
//! longer resolves inside the tree is dropped. Events are gathered for [`BATCH`] and repeats
//! within a batch are sent once. They are live only: a reconnecting reader starts afresh
//! (list the folder to catch up); `overflow` says some were lost (the kernel's queue, or this
//! stream's, was full).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher as _};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ops::Folders;
use super::path::{GuestPath, Tree};
use crate::error::ApiError;

/// How long events are gathered before they are sent.
const BATCH: Duration = Duration::from_millis(50);
/// A comment sent after this long without events, so that idle connections stay open and a
/// reader that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a quiet watch checks that its tree is still there.
const LOOK_AGAIN: Duration = Duration::from_secs(1);
/// Watches one process serves at once (each holds an inotify instance and a thread).
pub const MAX_WATCHES: usize = 64;
/// Events held for a slow reader before `overflow`.
const QUEUE: usize = 4096;
/// The prefix of an upload's file before it is renamed over its target (not shown).
const UPLOAD_PREFIX: &str = ".sbx-upload-";

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

/// One message from the watcher's thread.
enum Seen {
    Change(What, PathBuf),
    /// Some events were lost.
    Overflow,
    /// The tree itself went (the sandbox paused or ended).
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

/// Changes below `path` of `folders` (in it only unless `recursive`), as Server-Sent Events,
/// until the reader goes or the tree does (an `end` event). Errors: `/outputs` of a
/// code-interpreter (422), a path that is not a folder (409 `path_conflict`) or not there
/// (404), [`MAX_WATCHES`] being served (503), inotify refusing (503).
pub async fn watch(
    folders: Folders,
    path: GuestPath,
    recursive: bool,
) -> Result<actix_web::HttpResponse, ApiError> {
    let root = super::ops::tree_of_folder(folders, path.clone()).await?;
    let slot = Slot::take()?;
    let root = std::fs::canonicalize(&root)
        .map_err(|e| ApiError::Internal(format!("resolving a sandbox folder: {e}")))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Seen>(QUEUE);
    let mut watcher = {
        let root = root.clone();
        notify::RecommendedWatcher::new(
            move |event: notify::Result<notify::Event>| {
                for seen in translate(&root, event) {
                    if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) = tx.try_send(seen)
                    {
                        let _ = tx.try_send(Seen::Overflow);
                    }
                }
            },
            notify::Config::default().with_follow_symlinks(false),
        )
        .map_err(unavailable)?
    };
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(unavailable)?;
    let watched = root.join(&path.rel);
    let tree = path.tree;
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
    let send = move |b: bytes::Bytes| {
        let out_tx = out_tx.clone();
        async move { out_tx.send(b).await.is_ok() }
    };
    actix_web::rt::spawn(async move {
        let _held = (slot, watcher);
        let mut n = 0u64;
        let mut quiet = Duration::ZERO;
        loop {
            let first = match tokio::time::timeout(LOOK_AGAIN, rx.recv()).await {
                // A pause or a move takes the placement's folders away without an event on
                // the tree itself (an ancestor is renamed or unmounted): look for it.
                Err(_) if !root.exists() => Seen::Gone,
                Err(_) => {
                    quiet += LOOK_AGAIN;
                    if quiet >= KEEP_ALIVE {
                        quiet = Duration::ZERO;
                        if !send(bytes::Bytes::from_static(b": keep-alive\n\n")).await {
                            return;
                        }
                    }
                    continue;
                }
                Ok(None) => return,
                Ok(Some(seen)) => seen,
            };
            quiet = Duration::ZERO;
            tokio::time::sleep(BATCH).await;
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let mut out = Vec::new();
            let mut sent: Vec<(What, PathBuf)> = Vec::new();
            let mut end = false;
            for seen in batch {
                match seen {
                    Seen::Overflow => {
                        n += 1;
                        out.extend_from_slice(&crate::sse::sse_event(
                            &n.to_string(),
                            "overflow",
                            &serde_json::json!({}),
                        ));
                    }
                    Seen::Gone => end = true,
                    Seen::Change(what, host) => {
                        let inside = if recursive {
                            host.starts_with(&watched) && host != watched
                        } else {
                            host.parent() == Some(watched.as_path())
                        };
                        if !inside || sent.contains(&(what, host.clone())) {
                            continue;
                        }
                        n += 1;
                        let change = Change {
                            path: guest_path(tree, &root, &host),
                            entry_type: match what {
                                What::Deleted => None,
                                _ => entry_type(&host),
                            },
                        };
                        out.extend_from_slice(&crate::sse::sse_event(
                            &n.to_string(),
                            what.as_str(),
                            &change,
                        ));
                        sent.push((what, host));
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
            if (!out.is_empty() && !send(bytes::Bytes::from(out)).await) || end {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, actix_web::Error>(b), rx))
    });
    Ok(crate::sse::sse_response(stream))
}

/// inotify refusing a watch (its limits reached).
fn unavailable(e: notify::Error) -> ApiError {
    ApiError::Unavailable(format!("the folder cannot be watched now: {e}"))
}

/// `event` as changes below `root`, dropping what is not a change (opens, closes), uploads'
/// temporary files, and paths whose folder does not resolve inside `root` (a folder the code
/// swapped for a link after it was watched).
fn translate(root: &Path, event: notify::Result<notify::Event>) -> Vec<Seen> {
    let event = match event {
        Ok(e) => e,
        Err(_) => return vec![Seen::Overflow],
    };
    if event.need_rescan() {
        return vec![Seen::Overflow];
    }
    let what = match event.kind {
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            vec![What::Created]
        }
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
            vec![What::Deleted]
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            vec![What::Deleted, What::Created]
        }
        EventKind::Modify(ModifyKind::Name(_)) => {
            let exists = event
                .paths
                .first()
                .is_some_and(|p| p.symlink_metadata().is_ok());
            vec![if exists { What::Created } else { What::Deleted }]
        }
        EventKind::Modify(_) => vec![What::Modified],
        EventKind::Access(_) | EventKind::Any | EventKind::Other => return Vec::new(),
    };
    let mut out = Vec::new();
    for (i, path) in event.paths.into_iter().enumerate() {
        if path == root {
            if what.contains(&What::Deleted) {
                out.push(Seen::Gone);
            }
            continue;
        }
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(UPLOAD_PREFIX));
        let resolved = path
            .parent()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .is_some_and(|p| p.starts_with(root));
        if hidden || !resolved {
            continue;
        }
        // A rename with both names: the first is where it was, the second where it is.
        let what = if what.len() == 2 {
            what[i.min(1)]
        } else {
            what[0]
        };
        let new_dir = what == What::Created
            && path
                .symlink_metadata()
                .is_ok_and(|m| m.file_type().is_dir());
        out.push(Seen::Change(what, path.clone()));
        // A new folder is watched once its event is read: what was made in it before then
        // (a `mkdir -p` and a file at once) is found by listing it.
        if new_dir {
            created_below(root, &path, &mut out, &mut MAX_LISTED.clone());
        }
    }
    out
}

/// Entries a new folder's listing reports at most (then `overflow`).
const MAX_LISTED: usize = 1000;

/// A `created` change for each entry below `dir` (a new folder inside `root`), opened
/// beneath `root` (a folder swapped for a link meanwhile is not followed), at most `budget`.
fn created_below(root: &Path, dir: &Path, out: &mut Vec<Seen>, budget: &mut usize) {
    use cap_primitives::fs as cap;
    let Ok(rel) = dir.strip_prefix(root) else {
        return;
    };
    let Some(entries) = std::fs::File::open(root)
        .ok()
        .and_then(|base| cap::open_dir(&base, rel).ok())
        .and_then(|d| cap::read_base_dir(&d).ok())
    else {
        return;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            out.push(Seen::Overflow);
            return;
        }
        *budget -= 1;
        let path = dir.join(entry.file_name());
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(UPLOAD_PREFIX))
        {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        out.push(Seen::Change(What::Created, path.clone()));
        if is_dir {
            created_below(root, &path, out, budget);
        }
    }
}

/// The guest path of host path `host` below `root`, the host side of `tree`.
fn guest_path(tree: Tree, root: &Path, host: &Path) -> String {
    let rel = host.strip_prefix(root).unwrap_or(host);
    format!("{}/{}", tree.root(), rel.to_string_lossy())
}

/// What is at `host` now (not following a link).
fn entry_type(host: &Path) -> Option<super::EntryType> {
    let meta = host.symlink_metadata().ok()?;
    let t = meta.file_type();
    Some(if t.is_symlink() {
        super::EntryType::Symlink
    } else if t.is_dir() {
        super::EntryType::Directory
    } else if t.is_file() {
        super::EntryType::File
    } else {
        super::EntryType::Other
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, RemoveKind};

    fn event(kind: EventKind, paths: &[&Path]) -> notify::Result<notify::Event> {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(p.to_path_buf());
        }
        Ok(e)
    }

    fn changes(seen: Vec<Seen>) -> Vec<(What, PathBuf)> {
        seen.into_iter()
            .filter_map(|s| match s {
                Seen::Change(w, p) => Some((w, p)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn events_become_changes_inside_the_tree_only() {
        let dir = std::env::temp_dir().join(format!("sbx-watch-{}", uuid::Uuid::now_v7()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("up")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        let a = root.join("sub/a.txt");
        let got = changes(translate(
            &root,
            event(EventKind::Create(CreateKind::File), &[&a]),
        ));
        assert_eq!(got, [(What::Created, a.clone())]);
        let b = root.join("b");
        let renamed = translate(
            &root,
            event(
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
                &[&a, &b],
            ),
        );
        assert_eq!(
            changes(renamed),
            [(What::Deleted, a.clone()), (What::Created, b.clone())]
        );
        // Below a link that leads out, an upload's temporary file, opens: nothing.
        let out = root.join("up/passwd");
        let tmp = root.join(".sbx-upload-1234");
        assert!(
            changes(translate(
                &root,
                event(EventKind::Create(CreateKind::File), &[&out])
            ))
            .is_empty()
        );
        assert!(
            changes(translate(
                &root,
                event(EventKind::Create(CreateKind::File), &[&tmp])
            ))
            .is_empty()
        );
        let access = EventKind::Access(notify::event::AccessKind::Any);
        assert!(translate(&root, event(access, &[&a])).is_empty());
        // A new folder: what is already in it is reported too.
        std::fs::create_dir_all(root.join("new/deeper")).unwrap();
        std::fs::write(root.join("new/deeper/f"), "x").unwrap();
        let made = changes(translate(
            &root,
            event(EventKind::Create(CreateKind::Folder), &[&root.join("new")]),
        ));
        assert_eq!(
            made,
            [
                (What::Created, root.join("new")),
                (What::Created, root.join("new/deeper")),
                (What::Created, root.join("new/deeper/f")),
            ]
        );
        // The tree itself removed: the stream's end.
        let gone = translate(
            &root,
            event(EventKind::Remove(RemoveKind::Folder), &[&root]),
        );
        assert!(matches!(gone.as_slice(), [Seen::Gone]));
        assert_eq!(guest_path(Tree::Outputs, &root, &a), "/outputs/sub/a.txt");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
