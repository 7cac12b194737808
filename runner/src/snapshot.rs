//! The frame and the file list both kinds of sandbox snapshot share: a code-interpreter
//! session's (memory pages, globals and files, [`crate::wasm::session`]) and a container
//! sandbox's (its writable folders, [`crate::container::host`]).
//!
//! A frame is an 8-byte magic naming the kind and version, the body's length, the SHA-256 of
//! the compressed body, then the body compressed with zstd (level 1: a pause is measured in
//! milliseconds). A damaged frame is refused whole, never half-used.

use crate::{Result, RunnerError};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::wasm::workspace::{read_capped, scan};

/// zstd level of snapshots.
const ZSTD_LEVEL: i32 = 1;
/// Bytes before the compressed body: magic, length, digest.
const HEADER: usize = 8 + 8 + 32;

/// A frame or body that cannot be read: `what` is wrong with it.
fn damaged(what: impl Into<String>) -> RunnerError {
    RunnerError::Damaged(what.into())
}

/// `body` in a frame marked `magic`.
pub fn seal(magic: &[u8; 8], body: &[u8]) -> Result<Vec<u8>> {
    let compressed = zstd::bulk::compress(body, ZSTD_LEVEL)
        .map_err(RunnerError::io("compressing the snapshot"))?;
    let mut out = Vec::with_capacity(compressed.len() + HEADER);
    out.extend_from_slice(magic);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&compressed));
    out.extend_from_slice(&compressed);
    Ok(out)
}

/// The body of frame `bytes`, if it is marked `magic`, intact, and at most `max_body` long.
/// `what` names the kind in the error ("an sbx session snapshot").
pub fn open(magic: &[u8; 8], bytes: &[u8], max_body: u64, what: &str) -> Result<Vec<u8>> {
    if bytes.len() < HEADER || &bytes[..8] != magic {
        return Err(damaged(format!("it is not {what}")));
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let compressed = &bytes[HEADER..];
    if Sha256::digest(compressed).as_slice() != &bytes[16..HEADER] {
        return Err(damaged("its checksum does not match: the data is damaged"));
    }
    if len > max_body {
        return Err(damaged("it claims an impossible size"));
    }
    // The length is outside the checksum: it must agree with the one zstd keeps in its frame
    // before that many bytes are set aside, and with what comes out.
    if !matches!(zstd::zstd_safe::get_frame_content_size(compressed), Ok(Some(n)) if n == len) {
        return Err(damaged("its length does not match its body"));
    }
    let body = zstd::bulk::decompress(compressed, len as usize)
        .map_err(|e| damaged(format!("it does not decompress: {e}")))?;
    if body.len() as u64 != len {
        return Err(damaged("its length does not match its body"));
    }
    Ok(body)
}

/// Append `b` with its length.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

/// Reads a body front to back; every read past the end is "truncated".
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(damaged("it is truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    /// Bytes written by [`put_bytes`].
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.u64()?).map_err(|_| damaged("a length too long"))?;
        self.take(n)
    }
}

/// A file of a snapshot: (tree, path relative to it, bytes). Trees are numbered by the caller
/// (a session: 0 `/workspace`, 1 `/tmp`; a container: 0 `/workspace`, 1 `/outputs`).
pub type PackedFile = (u8, String, Vec<u8>);

/// The regular files under each of `trees` (links are neither followed nor kept), but those
/// `skip` names, at most `cap` bytes together.
pub fn pack_files(
    trees: &[(u8, &Path)],
    skip: impl Fn(u8, &str) -> bool,
    cap: u64,
) -> Result<Vec<PackedFile>> {
    let mut files = Vec::new();
    let mut total = 0u64;
    for &(tree, root) in trees {
        for (rel, meta) in scan(root).map_err(RunnerError::io("listing the files"))? {
            if skip(tree, &rel) {
                continue;
            }
            total += meta.len();
            if total > cap {
                return Err(RunnerError::TooLarge(format!(
                    "the files hold over {} MiB, more than a pause keeps",
                    cap >> 20
                )));
            }
            let bytes = read_capped(&root.join(&rel), meta.len())
                .map_err(|e| RunnerError::Damaged(format!("{rel}: {e}")))?;
            files.push((tree, rel, bytes));
        }
    }
    Ok(files)
}

/// Append `files` to a body.
pub fn put_files(body: &mut Vec<u8>, files: &[PackedFile]) {
    body.extend_from_slice(&(files.len() as u32).to_le_bytes());
    for (tree, path, bytes) in files {
        body.push(*tree);
        put_bytes(body, path.as_bytes());
        put_bytes(body, bytes);
    }
}

/// Files written by [`put_files`], their trees below `trees` and their paths checked to stay
/// inside them.
pub fn read_files(r: &mut Reader<'_>, trees: u8) -> Result<Vec<PackedFile>> {
    let n = r.u32()?;
    let mut files = Vec::new();
    for _ in 0..n {
        let tree = r.u8()?;
        let path = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| damaged("a bad path"))?;
        if tree >= trees
            || path.is_empty()
            || path.starts_with('/')
            || path.split('/').any(|c| c.is_empty() || c == "..")
        {
            return Err(damaged("a file path outside the sandbox"));
        }
        files.push((tree, path, r.bytes()?.to_vec()));
    }
    Ok(files)
}

/// Write `files` below the folder `root` gives for each tree, all fresh.
pub fn write_files<'a>(files: &[PackedFile], root: impl Fn(u8) -> &'a Path) -> std::io::Result<()> {
    for (tree, path, bytes) in files {
        let path = root(*tree).join(path);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        fs::write(path, bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_damage_is_refused() {
        let framed = seal(b"SBXTEST1", b"hello").unwrap();
        assert_eq!(open(b"SBXTEST1", &framed, 10, "a test").unwrap(), b"hello");
        assert!(
            open(b"SBXTEST2", &framed, 10, "a test")
                .unwrap_err()
                .to_string()
                .contains("not a test")
        );
        assert!(
            open(b"SBXTEST1", &framed, 2, "a test")
                .unwrap_err()
                .to_string()
                .contains("impossible")
        );
        let mut bad = framed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(
            open(b"SBXTEST1", &bad, 10, "a test")
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
        assert!(open(b"SBXTEST1", &framed[..20], 10, "a test").is_err());
        // The length (outside the checksum) must be the body's.
        for len in [4u64, 6] {
            let mut bad = framed.clone();
            bad[8..16].copy_from_slice(&len.to_le_bytes());
            let err = open(b"SBXTEST1", &bad, 10, "a test").unwrap_err();
            assert!(err.to_string().contains("length does not match"), "{err}");
        }
    }

    #[test]
    fn files_outside_their_trees_are_refused() {
        for path in ["../x", "/etc/x", "a//b", ""] {
            let mut body = Vec::new();
            put_files(&mut body, &[(0, path.into(), b"x".to_vec())]);
            assert!(read_files(&mut Reader(&body), 2).is_err(), "{path:?}");
        }
        let mut body = Vec::new();
        put_files(&mut body, &[(2, "a".into(), b"x".to_vec())]);
        assert!(read_files(&mut Reader(&body), 2).is_err());
    }
}
