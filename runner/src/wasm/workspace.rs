//! The host side of an exec's files: a private folder per exec holding `workspace/` (the
//! guest's `/workspace`, its working directory) and `tmp/` (its `/tmp`), the caller's files
//! written in before the run, and the files the guest created or changed read back after it.
//!
//! Each exec folder is a tmpfs of its own, capped at the exec's `disk_mb` (both folders
//! together, files and bytes: see [`crate::disk`]). Most execs leave both folders empty: those
//! are kept for the next exec ([`Workspaces`]), mounted, and only resized for it, rather than
//! unmounted and made again.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use sbx_core::exec::{InputFile, OutputFile};
use sbx_limits::exec::{MAX_OUTPUT_FILES, MAX_OUTPUT_FILES_BYTES};
use sha2::{Digest, Sha256};

use crate::disk;

/// Deepest folder nesting read back; deeper files are not returned.
const MAX_WALK_DEPTH: usize = 32;

/// Empty exec folders kept for reuse, at most this many.
const SPARE_FOLDERS: usize = 64;

/// Where exec folders are made, and the empty ones kept for the next exec.
pub struct Workspaces {
    /// This process's folder of exec folders (see [`disk::process_dir`]).
    parent: PathBuf,
    /// Empty exec folders, each with the cap its tmpfs has now, in bytes.
    spare: std::sync::Mutex<Vec<(PathBuf, u64)>>,
    /// The size the filesystem gives a new empty folder. A folder that held many entries
    /// could stay larger once emptied, which the next exec could see.
    fresh_size: std::sync::OnceLock<u64>,
}

impl Workspaces {
    /// Exec folders under `parent`, in a folder of this process's own; what dead runners left
    /// there is unmounted and removed first.
    pub fn new(parent: &Path) -> io::Result<Arc<Self>> {
        let this = Self {
            parent: disk::process_dir(parent)?,
            spare: std::sync::Mutex::new(Vec::with_capacity(SPARE_FOLDERS)),
            fresh_size: std::sync::OnceLock::new(),
        };
        // The first folder is made now: a runner that may not mount fails at its start, not at
        // its first exec.
        let cap = sbx_limits::exec::DEFAULT_DISK_MB << 20;
        let first = this.fresh(cap)?;
        this.spare
            .lock()
            .expect("spare folders lock")
            .push((first, cap));
        Ok(Arc::new(this))
    }

    /// An exec's folders, empty, on a tmpfs capped at `disk_bytes`, with `files` written into
    /// the workspace.
    pub fn create(self: &Arc<Self>, files: &[InputFile], disk_bytes: u64) -> io::Result<Workspace> {
        let spare = self.spare.lock().expect("spare folders lock").pop();
        let root = match spare {
            Some((root, cap)) if cap == disk_bytes => root,
            Some((root, _)) => match disk::resize_tmpfs(&root, disk_bytes) {
                Ok(()) => root,
                Err(e) => {
                    drop_folder(&root);
                    return Err(e);
                }
            },
            None => self.fresh(disk_bytes)?,
        };
        let mut ws = Workspace {
            root,
            disk_bytes,
            inputs: HashMap::with_capacity(files.len()),
            home: Some(self.clone()),
        };
        ws.write_inputs(files)?;
        Ok(ws)
    }

    /// A new exec folder: a tmpfs capped at `disk_bytes` holding `workspace/` and `tmp/`.
    fn fresh(&self, disk_bytes: u64) -> io::Result<PathBuf> {
        let root = self.parent.join(uuid::Uuid::now_v7().simple().to_string());
        fs::DirBuilder::new().mode(0o700).create(&root)?;
        if let Err(e) = disk::mount_tmpfs(&root, disk_bytes) {
            let _ = fs::remove_dir(&root);
            return Err(e);
        }
        let made = (|| {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(root.join("workspace"))?;
            fs::DirBuilder::new().mode(0o700).create(root.join("tmp"))?;
            fs::metadata(root.join("tmp")).map(|m| m.len())
        })();
        match made {
            Ok(size) => {
                self.fresh_size.get_or_init(|| size);
                Ok(root)
            }
            Err(e) => {
                drop_folder(&root);
                Err(e)
            }
        }
    }

    /// Keep `root` (capped at `disk_bytes`) for another exec if both its folders are empty;
    /// `false` if not kept.
    fn keep(&self, root: &Path, disk_bytes: u64) -> bool {
        let Some(&fresh_size) = self.fresh_size.get() else {
            return false;
        };
        // Empty, and no trace of what it held.
        let empty = |dir: PathBuf| {
            fs::metadata(&dir).is_ok_and(|m| m.len() == fresh_size)
                && fs::read_dir(dir)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
        };
        if !empty(root.join("workspace")) || !empty(root.join("tmp")) {
            return false;
        }
        // The next exec, maybe another project's, must not learn when this one wrote there:
        // the folders' times are set anew (which sets their change time too).
        let now = std::time::SystemTime::now();
        let times = fs::FileTimes::new().set_accessed(now).set_modified(now);
        for dir in ["workspace", "tmp"] {
            if fs::File::open(root.join(dir))
                .and_then(|d| d.set_times(times))
                .is_err()
            {
                return false;
            }
        }
        let mut spare = self.spare.lock().expect("spare folders lock");
        if spare.len() >= SPARE_FOLDERS {
            return false;
        }
        spare.push((root.to_owned(), disk_bytes));
        true
    }
}

impl Drop for Workspaces {
    fn drop(&mut self) {
        for (root, _) in self.spare.get_mut().map(std::mem::take).unwrap_or_default() {
            drop_folder(&root);
        }
    }
}

/// Unmount exec folder `root` (dropping what its tmpfs holds) and remove it.
fn drop_folder(root: &Path) {
    if let Err(e) = disk::unmount(root) {
        tracing::warn!(error = %e, "could not unmount an exec's folder");
    }
    if let Err(e) = fs::remove_dir_all(root) {
        tracing::warn!(path = %root.display(), error = %e, "could not remove an exec's folder");
    }
}

/// One exec's folders; removed (or kept empty for the next exec) when dropped.
pub struct Workspace {
    root: PathBuf,
    /// The cap of its tmpfs, in bytes; 0 for a plain folder ([`Workspace::create`]).
    disk_bytes: u64,
    /// Digest of each input file, by path, to tell "changed" from "handed in".
    inputs: HashMap<String, [u8; 32]>,
    /// Where empty folders go back to.
    home: Option<Arc<Workspaces>>,
}

impl Workspace {
    /// Make the folders under `parent`, plain folders with no cap (the host's own scratch
    /// space), and write `files` into the workspace; removed whole when dropped.
    pub fn create(parent: &Path, files: &[InputFile]) -> io::Result<Self> {
        let root = parent.join(uuid::Uuid::now_v7().simple().to_string());
        fs::DirBuilder::new().mode(0o700).create(&root)?;
        let mut ws = Self {
            root,
            disk_bytes: 0,
            inputs: HashMap::with_capacity(files.len()),
            home: None,
        };
        fs::DirBuilder::new().mode(0o700).create(ws.workspace())?;
        fs::DirBuilder::new().mode(0o700).create(ws.tmp())?;
        ws.write_inputs(files)?;
        Ok(ws)
    }

    fn write_inputs(&mut self, files: &[InputFile]) -> io::Result<()> {
        let ws = self;
        for f in files {
            let path = ws.workspace().join(&f.path);
            if let Some(dir) = path.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
            }
            fs::write(&path, &f.content)?;
            ws.inputs
                .insert(f.path.clone(), Sha256::digest(&f.content).into());
        }
        Ok(())
    }

    /// The host folder shown to the guest as `/workspace`.
    pub fn workspace(&self) -> PathBuf {
        self.root.join("workspace")
    }

    /// The host folder shown to the guest as `/tmp`.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Whether the guest used all its disk cap: no byte or no file left.
    pub fn is_full(&self) -> bool {
        self.disk_bytes > 0 && disk::is_full(&self.root)
    }

    /// The regular files under `/workspace` that are new or differ from what was handed in,
    /// sorted by path, up to the caps; and how many were left out by them. Links are never
    /// followed: a guest may make one, but it is not read back.
    pub fn changed_files(&self) -> io::Result<(Vec<OutputFile>, u32)> {
        let found = scan(&self.workspace())?
            .into_iter()
            .map(|(rel, meta)| (rel, meta.len()));
        read_back(&self.workspace(), found, |rel, digest| {
            self.inputs.get(rel) == Some(digest)
        })
    }
}

/// At most `cap` bytes of the regular file `path`; never follows a link (a guest may have
/// made one anywhere it can write).
pub fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    f.take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `O_NOFOLLOW` on Linux.
pub const O_NOFOLLOW: i32 = 0o400_000;

/// The regular files under `dir` with their metadata, sorted by path. Links are not followed.
pub fn scan(dir: &Path) -> io::Result<Vec<(String, fs::Metadata)>> {
    let mut found = Vec::new();
    walk(dir, "", 0, &mut found)?;
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// The files `found` (path under `dir`, size) as output, up to the caps, leaving out those
/// `unchanged` says were handed in as they are; and how many the caps left out.
pub fn read_back(
    dir: &Path,
    found: impl IntoIterator<Item = (String, u64)>,
    unchanged: impl Fn(&str, &[u8; 32]) -> bool,
) -> io::Result<(Vec<OutputFile>, u32)> {
    let mut files = Vec::new();
    let mut omitted = 0u32;
    let mut total = 0u64;
    for (rel, size) in found {
        if files.len() >= MAX_OUTPUT_FILES || total + size > MAX_OUTPUT_FILES_BYTES {
            omitted += 1;
            continue;
        }
        let bytes = fs::read(dir.join(&rel))?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if unchanged(&rel, &digest) {
            continue;
        }
        total += bytes.len() as u64;
        files.push(output_file(rel, bytes));
    }
    Ok((files, omitted))
}

/// `bytes` as an output file at `path`: text when it is UTF-8 without NUL (which PostgreSQL
/// cannot keep in text), else base64.
pub fn output_file(path: String, bytes: Vec<u8>) -> OutputFile {
    let size = bytes.len() as u64;
    let base64 = |b: &[u8]| Some(base64::engine::general_purpose::STANDARD.encode(b));
    let (content, content_b64) = match String::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => (Some(text), None),
        Ok(text) => (None, base64(text.as_bytes())),
        Err(e) => (None, base64(e.as_bytes())),
    };
    OutputFile {
        path,
        size,
        content,
        content_b64,
    }
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, fs::Metadata)>,
) -> io::Result<()> {
    if depth > MAX_WALK_DEPTH {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?; // does not follow links
        if kind.is_dir() {
            walk(&entry.path(), &rel, depth + 1, out)?;
        } else if kind.is_file() {
            out.push((rel, entry.metadata()?));
        }
    }
    Ok(())
}

impl Drop for Workspace {
    fn drop(&mut self) {
        match &self.home {
            Some(home) if home.keep(&self.root, self.disk_bytes) => {}
            Some(_) => drop_folder(&self.root),
            None => {
                if let Err(e) = fs::remove_dir_all(&self.root) {
                    tracing::warn!(path = %self.root.display(), error = %e, "could not remove a scratch folder");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_new_and_changed_files_only() {
        let parent = std::env::temp_dir().join(format!("sbx-ws-test-{}", std::process::id()));
        fs::create_dir_all(&parent).unwrap();
        let inputs = vec![
            InputFile {
                path: "same.txt".into(),
                content: b"a".to_vec(),
            },
            InputFile {
                path: "dir/changed.txt".into(),
                content: b"b".to_vec(),
            },
        ];
        let ws = Workspace::create(&parent, &inputs).unwrap();
        fs::write(ws.workspace().join("dir/changed.txt"), b"bb").unwrap();
        fs::write(ws.workspace().join("new.bin"), [0xff, 0xfe]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ws.workspace().join("link")).unwrap();
        let (files, omitted) = ws.changed_files().unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["dir/changed.txt", "new.bin"]);
        assert_eq!(files[0].content.as_deref(), Some("bb"));
        assert_eq!(files[1].content_b64.as_deref(), Some("//4="));
        assert_eq!(omitted, 0);
        let root = ws.root.clone();
        drop(ws);
        assert!(!root.exists());
    }

    #[test]
    fn empty_folders_are_reused_resized_and_others_unmounted() {
        let parent = std::env::temp_dir().join(format!("sbx-ws-reuse-{}", std::process::id()));
        let pool = Workspaces::new(&parent).unwrap();
        let cap = 4 << 20;
        // Left empty (a file made and removed again): kept, and handed out next.
        let ws = pool.create(&[], cap).unwrap();
        fs::write(ws.tmp().join("x"), b"x").unwrap();
        fs::remove_file(ws.tmp().join("x")).unwrap();
        let first = ws.root.clone();
        drop(ws);
        assert!(first.join("workspace").is_dir() && first.join("tmp").is_dir());
        let input = InputFile {
            path: "in.txt".into(),
            content: b"in".to_vec(),
        };
        let ws = pool.create(std::slice::from_ref(&input), cap).unwrap();
        assert_eq!(ws.root, first, "the empty folder was reused");
        // Not empty (its input is still there): unmounted and removed, not kept.
        drop(ws);
        assert!(!first.exists());
        // A folder is a tmpfs of the cap asked, which the kernel enforces; a kept one is
        // resized for the next exec.
        let ws = pool.create(&[], 2 << 20).unwrap();
        assert_ne!(ws.root, first);
        assert_eq!(fs::read_dir(ws.workspace()).unwrap().count(), 0);
        assert!(fs::write(ws.workspace().join("big"), vec![0u8; 3 << 20]).is_err());
        assert!(ws.is_full());
        fs::remove_file(ws.workspace().join("big")).unwrap();
        assert!(!ws.is_full());
        let second = ws.root.clone();
        drop(ws);
        let ws = pool.create(&[], 8 << 20).unwrap();
        assert_eq!(ws.root, second, "kept, and resized");
        fs::write(ws.workspace().join("big"), vec![0u8; 3 << 20]).unwrap();
        // Something left: removed too.
        drop(ws);
        assert!(!second.exists());
        // Spare folders go with the pool.
        let ws = pool.create(&[], cap).unwrap();
        let fourth = ws.root.clone();
        drop(ws);
        assert!(fourth.exists());
        drop(pool);
        assert!(!fourth.exists());
        fs::remove_dir_all(&parent).unwrap();
    }
}
