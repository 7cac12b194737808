//! The copy of a paused sandbox's kept folders in the database (`sandbox_snapshot_chunks`):
//! one zstd stream (level 1, with its checksum) cut into rows, written in the background at a
//! capped rate, read back by whichever runner resumes the sandbox.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use sbx_core::ids::SandboxId;
use sbx_store::Pool;
use tokio_util::sync::CancellationToken;

use crate::wasm::workspace::O_NOFOLLOW;
use crate::{Result, RunnerError};

use super::{MAX_DEPTH, paused_dir, trees};

/// First bytes of the stream.
pub const MAGIC: &[u8; 8] = b"SBXKEPT1";
/// Bytes of compressed stream per row.
const CHUNK: usize = 8 << 20;
/// Record kinds.
const DIR: u8 = 1;
const FILE: u8 = 2;
const END: u8 = 0xff;
/// Longest path kept.
const MAX_PATH: usize = 4096;
/// A copy starts this long after the pause: a sandbox resumed within it never pays for one.
pub const COPY_DELAY: std::time::Duration = std::time::Duration::from_secs(2);
/// Most bytes per second a copy writes into the database, so that it leaves the disk to the
/// sandboxes starting and stopping meanwhile (the database writes each byte twice: its log
/// and its table).
pub const COPY_RATE: f64 = 64.0 * 1048576.0;

/// Copy the folders kept for sandbox `id`'s pause `nth` into the database, [`COPY_DELAY`]
/// after the pause, at most `cap` bytes of files and [`COPY_RATE`] bytes a second; then mark
/// the copy complete. Stops early, leaving nothing marked, when `cancel` fires (the sandbox is
/// resumed here first). Returns the bytes stored.
pub async fn store(
    pool: &Pool,
    dir: &Path,
    id: SandboxId,
    nth: i32,
    cap: u64,
    cancel: CancellationToken,
) -> Result<u64> {
    let changed = || RunnerError::Damaged("the sandbox changed meanwhile".into());
    tokio::select! {
        () = cancel.cancelled() => return Err(RunnerError::Cancelled),
        () = tokio::time::sleep(COPY_DELAY) => {}
    }
    let kept = paused_dir(dir, id);
    sbx_store::snapshot_chunks::restart_chunks(pool, id, nth).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let packer = tokio::task::spawn_blocking(move || {
        let [workspace, outputs] = trees(&kept);
        let rows = Rows {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        pack(&[(0, &workspace), (1, &outputs)], cap, rows)
    });
    let mut seq = 0;
    let mut stored = 0u64;
    let started = tokio::time::Instant::now();
    loop {
        let chunk = tokio::select! {
            () = cancel.cancelled() => return Err(RunnerError::Cancelled),
            chunk = rx.recv() => chunk,
        };
        let Some(chunk) = chunk else { break };
        stored += chunk.len() as u64;
        if !sbx_store::snapshot_chunks::put_chunk(pool, id, nth, seq, &chunk).await? {
            return Err(changed());
        }
        seq += 1;
        let due = started + std::time::Duration::from_secs_f64(stored as f64 / COPY_RATE);
        tokio::select! {
            () = cancel.cancelled() => return Err(RunnerError::Cancelled),
            () = tokio::time::sleep_until(due) => {}
        }
    }
    packer
        .await
        .map_err(|e| RunnerError::io("packing the folders")(e.into()))?
        .map_err(RunnerError::io("packing the folders"))?;
    if !sbx_store::snapshot_chunks::chunks_stored(pool, id, nth).await? {
        return Err(changed());
    }
    Ok(stored)
}

/// Write the copy of sandbox `id`'s pause `nth` from the database into placement `root`.
pub async fn restore(pool: &Pool, id: SandboxId, nth: i32, root: &Path) -> Result<()> {
    let [workspace, outputs] = trees(root);
    for d in [&workspace, &outputs] {
        fs::create_dir_all(d).map_err(RunnerError::io("making the sandbox's folders"))?;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let unpacker = tokio::task::spawn_blocking(move || {
        let rows = RowsIn {
            rx,
            cur: Vec::new(),
            pos: 0,
        };
        unpack(rows, &[&workspace, &outputs])
    });
    let fetched = sbx_store::snapshot_chunks::send_chunks(pool, id, nth, tx).await;
    let unpacked = unpacker
        .await
        .map_err(|e| RunnerError::io("unpacking the copy")(e.into()))?;
    fetched?;
    unpacked
        .map_err(|e| RunnerError::Damaged(format!("the copy of its files cannot be restored: {e}")))
}

/// Writes the stream into rows of [`CHUNK`] bytes, handed to the task that stores them.
struct Rows {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Rows {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::other("the copy was stopped"))
    }
}

impl Write for Rows {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Reads the rows the fetching task hands over as one stream.
struct RowsIn {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for RowsIn {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.blocking_recv() {
                Some(next) => {
                    self.cur = next;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Write `trees` (number, folder) as one stream into `out`, at most `cap` bytes of files.
/// Returns the bytes of files written.
pub fn pack(trees: &[(u8, &Path)], cap: u64, out: impl Write) -> io::Result<u64> {
    let mut enc = zstd::stream::Encoder::new(out, 1)?;
    enc.include_checksum(true)?;
    enc.write_all(MAGIC)?;
    let mut total = 0u64;
    for &(tree, root) in trees {
        walk(&mut enc, tree, root, &[], 0, cap, &mut total)?;
    }
    enc.write_all(&[END])?;
    enc.finish()?.flush()?;
    Ok(total)
}

fn walk(
    out: &mut impl Write,
    tree: u8,
    dir: &Path,
    rel: &[u8],
    depth: usize,
    cap: u64,
    total: &mut u64,
) -> io::Result<()> {
    let mut entries = match fs::read_dir(dir) {
        Ok(e) => e.collect::<io::Result<Vec<_>>>()?,
        Err(e) => return Err(e),
    };
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let mut path = rel.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name.as_bytes());
        if path.len() > MAX_PATH {
            return Err(io::Error::other("a path is too long to keep"));
        }
        let ft = e.file_type()?;
        if ft.is_dir() {
            if depth >= MAX_DEPTH {
                return Err(io::Error::other("the folders nest too deep to keep"));
            }
            let mode = e.metadata()?.permissions().mode();
            header(out, DIR, tree, &path, mode)?;
            walk(out, tree, &e.path(), &path, depth + 1, cap, total)?;
        } else if ft.is_file() {
            let mut f = fs::OpenOptions::new()
                .read(true)
                .custom_flags(O_NOFOLLOW)
                .open(e.path())?;
            let meta = f.metadata()?;
            let len = meta.len();
            *total += len;
            if *total > cap {
                return Err(io::Error::other(format!(
                    "the files hold over {} MiB, more than is copied",
                    cap >> 20
                )));
            }
            header(out, FILE, tree, &path, meta.permissions().mode())?;
            out.write_all(&len.to_le_bytes())?;
            let copied = io::copy(&mut (&mut f).take(len), out)?;
            if copied != len {
                return Err(io::Error::other("a file shrank while it was copied"));
            }
        }
    }
    Ok(())
}

fn header(out: &mut impl Write, kind: u8, tree: u8, path: &[u8], mode: u32) -> io::Result<()> {
    out.write_all(&[kind, tree])?;
    out.write_all(&(path.len() as u32).to_le_bytes())?;
    out.write_all(path)?;
    out.write_all(&(mode & 0o777).to_le_bytes())
}

/// Write the stream `input` made by [`pack`] below `trees` (by number), which exist.
pub fn unpack(input: impl Read, trees: &[&Path]) -> io::Result<()> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    let mut d = zstd::stream::Decoder::new(input)?;
    let mut magic = [0u8; 8];
    d.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("it is not a copy of a sandbox's folders"));
    }
    loop {
        let mut kind = [0u8; 1];
        d.read_exact(&mut kind)?;
        let kind = kind[0];
        if kind == END {
            break;
        }
        let mut tree = [0u8; 1];
        d.read_exact(&mut tree)?;
        let tree = tree[0];
        let root = trees
            .get(usize::from(tree))
            .ok_or_else(|| bad("a file outside the sandbox"))?;
        let mut n = [0u8; 4];
        d.read_exact(&mut n)?;
        let n = u32::from_le_bytes(n) as usize;
        if n == 0 || n > MAX_PATH {
            return Err(bad("a bad path"));
        }
        let mut path = vec![0u8; n];
        d.read_exact(&mut path)?;
        if path[0] == b'/'
            || path
                .split(|b| *b == b'/')
                .any(|c| c.is_empty() || c == b"." || c == b"..")
        {
            return Err(bad("a file outside the sandbox"));
        }
        if kind == DIR && path.split(|b| *b == b'/').count() > MAX_DEPTH {
            return Err(bad("the folders nest deeper than a copy keeps"));
        }
        let target = root.join(OsStr::from_bytes(&path));
        let mut mode = [0u8; 4];
        d.read_exact(&mut mode)?;
        let mode = u32::from_le_bytes(mode) & 0o777;
        match kind {
            DIR => {
                fs::create_dir(&target)?;
                fs::set_permissions(&target, fs::Permissions::from_mode(mode | 0o700))?;
            }
            FILE => {
                let mut len = [0u8; 8];
                d.read_exact(&mut len)?;
                let len = u64::from_le_bytes(len);
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)?;
                if io::copy(&mut (&mut d).take(len), &mut f)? != len {
                    return Err(bad("it is truncated"));
                }
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
            }
            _ => return Err(bad("an unknown record")),
        }
    }
    // The frame's end, where zstd checks the stream's checksum; nothing may follow.
    let mut rest = [0u8; 1];
    if d.read(&mut rest)? != 0 {
        return Err(bad("data after its end"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::super::tests::Temp;
    use super::*;

    fn tree_of(root: &Path) -> Vec<(String, Option<Vec<u8>>, u32)> {
        let mut found = Vec::new();
        fn go(dir: &Path, rel: &str, found: &mut Vec<(String, Option<Vec<u8>>, u32)>) {
            let mut entries: Vec<_> = fs::read_dir(dir).unwrap().flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let path = format!("{rel}{}", e.file_name().to_string_lossy());
                let meta = fs::symlink_metadata(e.path()).unwrap();
                let mode = meta.permissions().mode() & 0o777;
                if meta.is_dir() {
                    found.push((path.clone(), None, mode));
                    go(&e.path(), &format!("{path}/"), found);
                } else if meta.is_file() {
                    found.push((path, Some(fs::read(e.path()).unwrap()), mode));
                }
            }
        }
        go(root, "", &mut found);
        found
    }

    #[test]
    fn folders_round_trip_and_damage_or_escape_is_refused() {
        let src = Temp::new();
        let (ws, out) = (src.path().join("w"), src.path().join("o"));
        fs::create_dir_all(ws.join("a/b")).unwrap();
        fs::create_dir_all(ws.join("empty")).unwrap();
        fs::create_dir_all(&out).unwrap();
        fs::write(ws.join("a/b/data.bin"), vec![7u8; 3 << 20]).unwrap();
        fs::write(ws.join("run.sh"), "echo hi").unwrap();
        fs::set_permissions(ws.join("run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
        fs::write(out.join("metrics.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ws.join("link")).unwrap();

        let mut stream = Vec::new();
        let bytes = pack(&[(0, &ws), (1, &out)], 1 << 30, &mut stream).unwrap();
        assert_eq!(bytes, (3 << 20) + 7 + 2);
        let dst = Temp::new();
        let (ws2, out2) = (dst.path().join("w"), dst.path().join("o"));
        fs::create_dir_all(&ws2).unwrap();
        fs::create_dir_all(&out2).unwrap();
        unpack(&stream[..], &[&ws2, &out2]).unwrap();
        let mut want = tree_of(&ws);
        want.retain(|(p, _, _)| p != "link");
        assert_eq!(tree_of(&ws2), want, "links are not kept");
        assert_eq!(tree_of(&out2), tree_of(&out));

        // Over the cap: refused, not cut.
        assert!(pack(&[(0, &ws)], 1 << 20, &mut Vec::new()).is_err());
        // Damaged or cut short: refused.
        let fresh = || {
            let d = Temp::new();
            fs::create_dir_all(d.path().join("w")).unwrap();
            fs::create_dir_all(d.path().join("o")).unwrap();
            d
        };
        for broken in [
            stream[..stream.len() - 3].to_vec(),
            stream[..stream.len() / 2].to_vec(),
            {
                let mut s = stream.clone();
                let i = s.len() - 10;
                s[i] ^= 0x40;
                s
            },
        ] {
            let d = fresh();
            let (w, o) = (d.path().join("w"), d.path().join("o"));
            assert!(unpack(&broken[..], &[&w, &o]).is_err());
        }
        // A path out of its folder: refused before anything is written there.
        for path in [&b"../x"[..], b"/etc/x", b"a//b", b"."] {
            let mut raw = MAGIC.to_vec();
            raw.extend_from_slice(&[FILE, 0]);
            raw.extend_from_slice(&(path.len() as u32).to_le_bytes());
            raw.extend_from_slice(path);
            raw.extend_from_slice(&0o644u32.to_le_bytes());
            raw.extend_from_slice(&1u64.to_le_bytes());
            raw.push(b'x');
            raw.push(END);
            let z = zstd::stream::encode_all(&raw[..], 1).unwrap();
            let d = fresh();
            let (w, o) = (d.path().join("w"), d.path().join("o"));
            let err = unpack(&z[..], &[&w, &o]).unwrap_err();
            assert!(err.to_string().contains("outside"), "{path:?}: {err}");
        }
        // Folders deeper than a copy keeps: refused, as packing them is.
        let mut raw = MAGIC.to_vec();
        let mut path = Vec::new();
        for _ in 0..=MAX_DEPTH {
            if !path.is_empty() {
                path.push(b'/');
            }
            path.push(b'd');
            raw.extend_from_slice(&[DIR, 0]);
            raw.extend_from_slice(&(path.len() as u32).to_le_bytes());
            raw.extend_from_slice(&path);
            raw.extend_from_slice(&0o755u32.to_le_bytes());
        }
        raw.push(END);
        let z = zstd::stream::encode_all(&raw[..], 1).unwrap();
        let d = fresh();
        let (w, o) = (d.path().join("w"), d.path().join("o"));
        let err = unpack(&z[..], &[&w, &o]).unwrap_err();
        assert!(err.to_string().contains("nest deeper"), "{err}");
    }
}
