//! The file operations, on a sandbox's host folders: every path is opened beneath its tree's
//! folder with `cap-primitives` (`openat2` with `RESOLVE_BENEATH` on Linux), so a link the guest
//! made that leads out fails in the kernel, not in a check the guest could race. Blocking calls
//! run on actix's blocking pool; an upload streams through a 1 MiB buffer.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use actix_web::web;
use cap_primitives::fs::{self as cap, DirOptions, FollowSymlinks, MetadataExt, OpenOptions};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use super::path::{GuestPath, Tree};
use crate::error::{ApiError, Code};

/// Most entries a listing holds; a longer one is cut (`truncated`).
pub const MAX_LIST_ENTRIES: usize = 10_000;
/// Deepest a recursive listing goes below the folder listed.
pub const MAX_LIST_DEPTH: usize = 32;
/// Deepest a recursive delete goes below the folder deleted (each level holds a folder open
/// and a frame of the delete's stack).
pub const MAX_DELETE_DEPTH: usize = 64;
/// An upload is written in pieces of this many bytes.
const WRITE_BUFFER: usize = 1 << 20;
/// What an upload under way is named, beside its target, until it is whole.
const UPLOAD_PREFIX: &str = ".sbx-upload-";

/// The host folders of one sandbox's trees, and who owns what the API makes in them.
#[derive(Debug, Clone)]
pub struct Folders {
    /// The host folder that is its `/workspace`.
    pub workspace: PathBuf,
    /// The host folder that is its `/outputs` (containers only).
    pub outputs: Option<PathBuf>,
    /// The uid (and gid) that new files and folders are given (a container's `sandbox`
    /// user); none: the process's own.
    pub owner: Option<u32>,
}

impl Folders {
    /// The folder of `path`'s tree, opened. `/outputs` of a code-interpreter: 422.
    fn tree(&self, path: &GuestPath) -> Result<File, ApiError> {
        let dir = self.tree_path(path)?;
        File::open(&dir).map_err(|e| ApiError::Internal(format!("opening {}: {e}", dir.display())))
    }

    /// The host folder of `path`'s tree. `/outputs` of a code-interpreter: 422.
    pub(super) fn tree_path(&self, path: &GuestPath) -> Result<PathBuf, ApiError> {
        match path.tree {
            Tree::Workspace => Ok(self.workspace.clone()),
            Tree::Outputs => self.outputs.clone().ok_or_else(|| {
                ApiError::invalid(
                    Code::InvalidPath,
                    "path",
                    "a code-interpreter sandbox has only /workspace",
                )
            }),
        }
    }

    /// Give `file` (just made; a folder may be opened `O_PATH`) to the owner, if there is one.
    fn own(&self, file: &File) -> io::Result<()> {
        use rustix::fs::{AtFlags, Gid, Uid};
        match self.owner {
            Some(id) => Ok(rustix::fs::chownat(
                file,
                "",
                Some(Uid::from_raw(id)),
                Some(Gid::from_raw(id)),
                AtFlags::EMPTY_PATH,
            )?),
            None => Ok(()),
        }
    }
}

/// What kind of entry a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// A regular file.
    File,
    /// A folder.
    Directory,
    /// A symbolic link (not followed).
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// A file or folder.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileInfo {
    /// Its absolute path in the sandbox, e.g. `/workspace/src/main.py`.
    pub path: String,
    /// `file`, `directory`, `symlink` or `other`.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Size in bytes (of a file; 0 for the rest).
    pub size: u64,
    /// Permission bits, e.g. 420 (`0o644`).
    pub mode: u32,
    /// Last modified.
    pub mtime: DateTime<Utc>,
}

impl FileInfo {
    fn new(path: String, meta: &cap::Metadata) -> Self {
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            EntryType::File
        } else if ft.is_dir() {
            EntryType::Directory
        } else if ft.is_symlink() {
            EntryType::Symlink
        } else {
            EntryType::Other
        };
        Self {
            path,
            kind,
            size: if kind == EntryType::File {
                meta.len()
            } else {
                0
            },
            mode: meta.mode() & 0o7777,
            mtime: DateTime::from_timestamp(meta.mtime(), meta.mtime_nsec() as u32)
                .unwrap_or_default(),
        }
    }
}

/// A listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileList {
    /// The entries, each folder's sorted by name, a folder's contents after it when recursive.
    pub data: Vec<FileInfo>,
    /// Whether entries were left out: more than 10 000, or deeper than 32 folders.
    pub truncated: bool,
}

/// `e`, from an operation on `path`, as the API answers it.
pub fn io_error(e: io::Error, path: &GuestPath) -> ApiError {
    let shown = path.shown();
    let conflict = |why: &str| ApiError::State {
        code: Code::PathConflict,
        detail: format!("{shown}: {why}"),
    };
    match e.raw_os_error().map(rustix::io::Errno::from_raw_os_error) {
        Some(rustix::io::Errno::NOSPC | rustix::io::Errno::DQUOT) => {
            return ApiError::State {
                code: Code::DiskFull,
                detail: format!(
                    "{shown}: the sandbox's disk cap is full (bytes or files); delete files or create the sandbox with a larger disk"
                ),
            };
        }
        Some(rustix::io::Errno::NOTDIR) => return conflict("a file is in the way of a folder"),
        Some(rustix::io::Errno::ISDIR) => return conflict("it is a folder"),
        Some(rustix::io::Errno::NOTEMPTY) => {
            return conflict("the folder is not empty; delete with recursive=true");
        }
        Some(rustix::io::Errno::EXIST) => return conflict("something else is there"),
        Some(rustix::io::Errno::NXIO) => return conflict("it is a socket or device"),
        Some(rustix::io::Errno::LOOP) => {
            return ApiError::invalid(
                Code::InvalidPath,
                "path",
                format!("{shown} crosses a loop of links"),
            );
        }
        Some(rustix::io::Errno::XDEV) => return leads_out(&shown),
        _ => {}
    }
    match e.kind() {
        io::ErrorKind::NotFound => ApiError::NotFound(format!("nothing at {shown}")),
        // What cap-primitives answers for a path that would leave its folder.
        io::ErrorKind::PermissionDenied if e.to_string().contains("outside of the filesystem") => {
            leads_out(&shown)
        }
        _ => ApiError::Internal(format!("{shown}: {e}")),
    }
}

/// 422 for `shown`, a path that crosses a link leading out of its folder.
fn leads_out(shown: &str) -> ApiError {
    ApiError::invalid(
        Code::InvalidPath,
        "path",
        format!("{shown} crosses a link leading outside its folder"),
    )
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f)
        .await
        .map_err(|e| ApiError::Internal(format!("a file operation's thread: {e}")))?
}

/// Stat `rel` beneath `dir`, not following a last link.
fn stat(dir: &File, rel: &Path) -> io::Result<cap::Metadata> {
    cap::stat(dir, rel, FollowSymlinks::No)
}

/// The file at `path`, opened for reading (a FIFO opened without blocking), with its size and
/// times. Not a file: 409 `path_conflict`.
pub async fn open_read(folders: Folders, path: GuestPath) -> Result<File, ApiError> {
    blocking(move || {
        let root = folders.tree(&path)?;
        let mut options = OpenOptions::new();
        options.read(true)._cap_fs_ext_nonblock(true);
        let file = cap::open(&root, path.below(), &options).map_err(|e| io_error(e, &path))?;
        let meta = file.metadata().map_err(|e| io_error(e, &path))?;
        if !meta.is_file() {
            return Err(ApiError::State {
                code: Code::PathConflict,
                detail: format!(
                    "{} is not a file (a {}); list a folder with GET …/files?path=",
                    path.shown(),
                    if meta.is_dir() {
                        "folder"
                    } else {
                        "FIFO, socket or device"
                    }
                ),
            });
        }
        Ok(file)
    })
    .await
}

/// Make the folders of `rel` below `root` that are missing, each given to the owner.
fn make_dirs(folders: &Folders, root: &File, rel: &Path) -> io::Result<()> {
    let mut at = PathBuf::new();
    for part in rel.iter() {
        at.push(part);
        match cap::create_dir(root, &at, &DirOptions::new()) {
            Ok(()) => folders.own(&cap::open_dir(root, &at)?)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Make the folder at `path` and its missing parents (`mkdir -p`): its entry, and whether it
/// is new. Something other than a folder there: 409 `path_conflict`.
pub async fn make_dir(folders: Folders, path: GuestPath) -> Result<(FileInfo, bool), ApiError> {
    blocking(move || {
        let root = folders.tree(&path)?;
        let existed = stat(&root, path.below()).is_ok();
        make_dirs(&folders, &root, &path.rel).map_err(|e| io_error(e, &path))?;
        let meta = stat(&root, path.below()).map_err(|e| io_error(e, &path))?;
        if !meta.is_dir() {
            let not_a_dir = rustix::io::Errno::NOTDIR.raw_os_error();
            return Err(io_error(io::Error::from_raw_os_error(not_a_dir), &path));
        }
        Ok((FileInfo::new(path.shown(), &meta), !existed))
    })
    .await
}

/// An upload being written: removed when dropped unless it was put in place (the unlink is
/// one syscall, made wherever the guard drops).
struct Upload {
    dir: Option<File>,
    name: OsString,
}

impl Upload {
    /// It was put in place: nothing to remove.
    fn keep(mut self) {
        self.dir = None;
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = cap::remove_file(&dir, Path::new(&self.name));
        }
    }
}

/// Make the parents of `path` and open a new upload file beside it: its folder, the file and
/// the guard that removes it (made as soon as the file exists, so that nothing leaks: not a
/// failed `chown`, not a caller that went away meanwhile).
fn begin_upload(
    folders: &Folders,
    path: &GuestPath,
    parent: &Path,
    upload: &str,
) -> Result<(File, File, Upload), ApiError> {
    let root = folders.tree(path)?;
    make_dirs(folders, &root, parent).map_err(|e| io_error(e, path))?;
    let dir = cap::open_dir(&root, parent).map_err(|e| io_error(e, path))?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let file = cap::open(&dir, Path::new(upload), &options).map_err(|e| io_error(e, path))?;
    let guard = Upload {
        dir: Some(dir.try_clone().map_err(|e| io_error(e, path))?),
        name: upload.into(),
    };
    folders.own(&file).map_err(|e| io_error(e, path))?;
    Ok((dir, file, guard))
}

/// Write `body` to the file at `path`, making its parents: into a new file beside it, put in
/// its place once whole (a reader, or another upload, sees the old file or the new, never a
/// mix; a replaced file's permission bits are kept). Its entry, and whether it is new.
/// Refused or failed (a folder there, a full disk cap: 507 `disk_full`), the rest of the body
/// is drained ([`crate::body::drain`]) so that the sender reads the answer.
pub async fn write<E>(
    folders: Folders,
    path: GuestPath,
    mut body: impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
) -> Result<(FileInfo, bool), ApiError> {
    let written = write_from(folders, path, &mut body).await;
    if written.is_err() {
        crate::body::drain(body).await;
    }
    written
}

async fn write_from<E>(
    folders: Folders,
    path: GuestPath,
    body: &mut (impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin),
) -> Result<(FileInfo, bool), ApiError> {
    let Some((parent, name)) = path.split().map(|(p, n)| (p.to_owned(), n.to_owned())) else {
        return Err(ApiError::State {
            code: Code::PathConflict,
            detail: format!("{} is a folder", path.shown()),
        });
    };
    let upload = format!("{UPLOAD_PREFIX}{}", uuid::Uuid::now_v7().simple());
    let (dir, file, guard) = {
        let (folders, path, upload) = (folders.clone(), path.clone(), upload.clone());
        blocking(move || begin_upload(&folders, &path, &parent, &upload)).await?
    };
    let mut out =
        tokio::io::BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return Err(ApiError::BadRequest(
                "the body broke off before its end; nothing was written".into(),
            ));
        };
        out.write_all(&chunk)
            .await
            .map_err(|e| io_error(e, &path))?;
    }
    out.flush().await.map_err(|e| io_error(e, &path))?;
    drop(out);
    let done = blocking(move || {
        let (target, upload) = (Path::new(&name), Path::new(&upload));
        let old = stat(&dir, target).ok();
        if let Some(old) = old.as_ref().filter(|m| m.is_file()) {
            cap::set_permissions(&dir, upload, old.permissions())
                .map_err(|e| io_error(e, &path))?;
        }
        cap::rename(&dir, upload, &dir, target).map_err(|e| io_error(e, &path))?;
        guard.keep();
        let meta = stat(&dir, target).map_err(|e| io_error(e, &path))?;
        Ok((FileInfo::new(path.shown(), &meta), old.is_none()))
    })
    .await?;
    Ok(done)
}

/// Delete the file or folder at `path`; a folder that is not empty only if `recursive`.
/// A tree's root: 409 `path_conflict`.
pub async fn delete(folders: Folders, path: GuestPath, recursive: bool) -> Result<(), ApiError> {
    if path.is_root() {
        return Err(ApiError::State {
            code: Code::PathConflict,
            detail: format!(
                "{} itself cannot be deleted; delete what is in it",
                path.shown()
            ),
        });
    }
    blocking(move || {
        let root = folders.tree(&path)?;
        let meta = stat(&root, &path.rel).map_err(|e| io_error(e, &path))?;
        let gone = if !meta.is_dir() {
            cap::remove_file(&root, &path.rel)
        } else if recursive {
            let dir = cap::open_dir(&root, &path.rel).map_err(|e| io_error(e, &path))?;
            if deeper_than(&dir, MAX_DELETE_DEPTH).map_err(|e| io_error(e, &path))? {
                return Err(ApiError::State {
                    code: Code::PathConflict,
                    detail: format!(
                        "{} holds folders more than {MAX_DELETE_DEPTH} deep; delete the deepest first, or from inside the sandbox",
                        path.shown()
                    ),
                });
            }
            cap::remove_dir_all(&root, &path.rel)
        } else {
            cap::remove_dir(&root, &path.rel)
        };
        gone.map_err(|e| io_error(e, &path))
    })
    .await
}

/// Whether the folder `dir` holds folders more than `limit` levels below it (links are not
/// followed; at most `limit` folders are open at once).
fn deeper_than(dir: &File, limit: usize) -> io::Result<bool> {
    for entry in cap::read_base_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if limit == 0 {
            return Ok(true);
        }
        match cap::open_dir(dir, Path::new(&entry.file_name())) {
            Ok(sub) if deeper_than(&sub, limit - 1)? => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// The entries of the folder at `path` (and below it, if `recursive`), uploads under way left
/// out. Not a folder: 409 `path_conflict`.
pub async fn list(
    folders: Folders,
    path: GuestPath,
    recursive: bool,
) -> Result<FileList, ApiError> {
    blocking(move || {
        let root = folders.tree(&path)?;
        let dir = cap::open_dir(&root, path.below()).map_err(|e| io_error(e, &path))?;
        let mut list = FileList {
            data: Vec::new(),
            truncated: false,
        };
        walk(&dir, &path.shown(), recursive, 0, &mut list).map_err(|e| io_error(e, &path))?;
        Ok(list)
    })
    .await
}

fn walk(
    dir: &File,
    shown: &str,
    recursive: bool,
    depth: usize,
    out: &mut FileList,
) -> io::Result<()> {
    let mut entries: Vec<(String, cap::Metadata)> = Vec::new();
    for entry in cap::read_base_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(UPLOAD_PREFIX) {
            continue;
        }
        // Gone meanwhile (the guest runs): left out.
        if let Ok(meta) = entry.metadata() {
            entries.push((name, meta));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, meta) in entries {
        if out.data.len() >= MAX_LIST_ENTRIES {
            out.truncated = true;
            return Ok(());
        }
        let child = format!("{shown}/{name}");
        let is_dir = meta.is_dir();
        out.data.push(FileInfo::new(child.clone(), &meta));
        if recursive && is_dir {
            if depth + 1 >= MAX_LIST_DEPTH {
                out.truncated = true;
                continue;
            }
            match cap::open_dir(dir, Path::new(&name)) {
                Ok(sub) => walk(&sub, &child, recursive, depth + 1, out)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
