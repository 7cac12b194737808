//! What the fuzz targets in `fuzz/` run (`scripts/fuzz`), and `tests/fuzz_inputs.rs` replays
//! on their seeds and on every input they ever found (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`). Built with the feature `fuzzing`.
//!
//! Each entry takes arbitrary bytes and panics only on a bug: a decoder may refuse its input
//! but must not crash, allocate what the input merely claims, write outside its folders, or
//! accept something it cannot give back the same. The first byte picks how the rest is framed,
//! so that the fuzzer reaches past checksums and compression into the formats themselves.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::container::host::{LEGACY_MAGIC, kept, read_legacy_snapshot};
use crate::snapshot::{self, Reader};
use crate::wasm::session::{SNAPSHOT_MAGIC, decode_round_trip};

/// The runtime key the `snapshot` target's session snapshots carry.
const RUNTIME_KEY: &str = "fuzz";

/// Fuzz target `snapshot`: the snapshot frame ([`snapshot::open`]), a code-interpreter
/// session's snapshot (memory pages, globals, files) and a container sandbox's older
/// snapshot (files).
///
/// `data[0] % 3` picks the framing of `data[1..]`: 0, a whole frame as stored; 1, a frame
/// with a good checksum whose body length is `data[1..4]` (little-endian, under 16 MiB: a
/// decoder sets aside the length a frame claims, up to its cap of GiBs, once zstd's own
/// header agrees) and whose compressed body is the rest; 2, a body (after the session's
/// runtime key) that is compressed and framed here.
pub fn snapshot(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    for magic in [SNAPSHOT_MAGIC, LEGACY_MAGIC] {
        let frame = match mode % 3 {
            0 => rest.to_vec(),
            1 => {
                let Some((&[a, b, c], compressed)) = rest.split_first_chunk::<3>() else {
                    return;
                };
                let mut frame = magic.to_vec();
                frame
                    .extend_from_slice(&u64::from_le_bytes([a, b, c, 0, 0, 0, 0, 0]).to_le_bytes());
                frame.extend_from_slice(&Sha256::digest(compressed));
                frame.extend_from_slice(compressed);
                frame
            }
            _ => {
                let mut body = Vec::new();
                if magic == SNAPSHOT_MAGIC {
                    snapshot::put_bytes(&mut body, RUNTIME_KEY.as_bytes());
                }
                body.extend_from_slice(rest);
                snapshot::seal(magic, &body).expect("zstd compresses anything")
            }
        };
        if magic == SNAPSHOT_MAGIC {
            let _ = decode_round_trip(&frame, RUNTIME_KEY);
        } else if let Ok(files) = read_legacy_snapshot(&frame) {
            let mut body = Vec::new();
            snapshot::put_files(&mut body, &files);
            let again = snapshot::read_files(&mut Reader(&body), 2).expect("written files read");
            assert_eq!(
                files, again,
                "files change through put_files and read_files"
            );
        }
    }
}

/// Fuzz target `kept_stream`: the stream a paused container sandbox's folders are copied in
/// ([`kept::unpack`]), unpacked into two fresh folders under the temporary directory.
///
/// `data[0] % 2` picks the framing of `data[1..]`: 0, the zstd stream as stored; 1, the
/// records after the magic, compressed here. Whatever the input, nothing may appear beside the
/// two folders and no link inside them; an input that unpacks must pack and unpack again to
/// the same tree. Runs as root, as runners do: a file the stream makes unreadable (mode 0)
/// is still read back.
pub fn kept_stream(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let stream = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let raw = [&kept::MAGIC[..], rest].concat();
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).expect("a zstd encoder");
        enc.include_checksum(true).expect("checksums");
        std::io::Write::write_all(&mut enc, &raw).expect("writing to memory");
        enc.finish().expect("writing to memory")
    };
    let first = Scratch::new();
    let unpacked = kept::unpack(&stream[..], &[&first.w, &first.o]);
    let found = first.contents();
    if unpacked.is_ok() {
        let mut again = Vec::new();
        kept::pack(&[(0, &first.w), (1, &first.o)], u64::MAX, &mut again)
            .expect("an unpacked tree packs");
        let second = Scratch::new();
        kept::unpack(&again[..], &[&second.w, &second.o]).expect("a packed tree unpacks");
        assert_eq!(
            found,
            second.contents(),
            "a tree changes through pack and unpack"
        );
    }
}

/// Two fresh folders, `w` and `o`, alone in a folder of their own; removed on drop.
struct Scratch {
    root: PathBuf,
    w: PathBuf,
    o: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let root = std::env::temp_dir().join(format!("sbx-fuzz-{}", uuid::Uuid::now_v7()));
        let (w, o) = (root.join("w"), root.join("o"));
        fs::create_dir_all(&w).expect("a scratch folder");
        fs::create_dir(&o).expect("a scratch folder");
        Scratch { root, w, o }
    }

    /// Every entry below the root: (path, file bytes or `None` for a folder, mode bits).
    /// Panics if anything but `w` and `o` is at the top, or if there is a link anywhere.
    fn contents(&self) -> Vec<(PathBuf, Option<Vec<u8>>, u32)> {
        let mut top: Vec<_> = fs::read_dir(&self.root)
            .expect("the scratch root")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        top.sort();
        assert_eq!(top, ["o", "w"], "something was written beside the folders");
        let mut found = Vec::new();
        walk(&self.root, &self.root, &mut found);
        found
    }
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<(PathBuf, Option<Vec<u8>>, u32)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("a folder")
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).expect("an entry's metadata");
        let rel = path.strip_prefix(root).expect("below the root").to_owned();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            found.push((rel, None, mode));
            walk(root, &path, found);
        } else {
            assert!(meta.is_file(), "{rel:?} is neither a file nor a folder");
            found.push((rel, Some(fs::read(&path).expect("a file")), mode));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}
