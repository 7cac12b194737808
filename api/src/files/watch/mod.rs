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
//!
//! # Layout
//! - this module: the route's query and events, and the stream.
//! - [`inotify`]: the inotify loop, and opening folders beneath the watched one.

mod inotify;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::ops::Folders;
use super::path::{GuestPath, Tree};
use crate::error::ApiError;
pub use inotify::MAX_FOLDERS;
use inotify::Watching;

/// How long events are gathered before they are sent.
const BATCH: Duration = Duration::from_millis(50);
/// A comment sent after this long without events, so that idle connections stay open and a
/// reader that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Streams one process serves at once (each holds an inotify instance and a thread).
pub const MAX_WATCHES: usize = 32;
/// Changes sent in one batch at most (the rest in the next).
const MAX_BATCH: usize = 512;
/// Changes held for a slow reader before `overflow`.
const QUEUE: usize = 4096;
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
pub(super) enum What {
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
pub(super) enum Seen {
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
                let limit = [
                    rustix::io::Errno::NOSPC,
                    rustix::io::Errno::MFILE,
                    rustix::io::Errno::NFILE,
                ];
                if limit
                    .iter()
                    .any(|l| e.raw_os_error() == Some(l.raw_os_error()))
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
    // Two batches at most wait for a slow reader; then the watching thread's queue fills and
    // it says `overflow`.
    let (out_tx, out_rx) = mpsc::channel::<bytes::Bytes>(2);
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
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
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

/// `batch` as Server-Sent Events numbered after `n` (a change that repeats the path's last
/// one in the batch is sent once; paths shown in `tree` below `base`), and whether it holds
/// the end.
fn encode(tree: Tree, base: &Path, batch: Vec<Seen>, n: &mut u64) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut last: std::collections::HashMap<PathBuf, What> = std::collections::HashMap::new();
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
                if last.get(&rel) == Some(&what) {
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
                last.insert(rel, what);
            }
        }
    }
    if end {
        out.extend_from_slice(&crate::sse::sse_event(
            "end",
            "end",
            &serde_json::json!({"reason": "the folder is gone from where it was: moved, or the sandbox paused or ended"}),
        ));
    }
    (out, end)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Made, removed, made again: all three said (the last state is that it is there).
        let file = Some(super::super::EntryType::File);
        let again = vec![
            Seen::Change(What::Created, PathBuf::from("b"), file),
            Seen::Change(What::Deleted, PathBuf::from("b"), None),
            Seen::Change(What::Created, PathBuf::from("b"), file),
        ];
        let (out, end) = encode(Tree::Workspace, Path::new(""), again, &mut n);
        let again = String::from_utf8(out).unwrap();
        assert!(!end);
        assert_eq!(n, 5, "{again}");
        assert!(
            again
                .trim_end()
                .ends_with("\"path\":\"/workspace/b\",\"type\":\"file\"}"),
            "{again}"
        );
        assert_eq!(text.matches("event: created").count(), 1, "{text}");
        assert!(text.contains("\"path\":\"/outputs/r/a\""), "{text}");
        assert!(
            text.contains("event: overflow") && text.contains("event: end"),
            "{text}"
        );
    }
}
