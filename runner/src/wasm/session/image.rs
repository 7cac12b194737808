//! The snapshot image of a paused session: the mutable globals, the memory pages that differ
//! from the pristine runtime, and the session's files; compressed, checksummed and named with
//! its runtime.

use crate::RunnerError;
use wasmtime::{Global, Instance, Store, Val};

use crate::wasm::Guest;

use crate::snapshot::{self, PackedFile, Reader, put_bytes};

use super::actor::Live;
use super::folders::SessionDir;
use super::{SessionError, SessionOptions, Sessions, host};

/// The unit of a snapshot's memory diff.
pub(super) const PAGE: usize = 4096;
/// Size of a wasm memory page, the unit of `memory.grow`.
pub(super) const WASM_PAGE: u64 = 65_536;
/// The first bytes of every snapshot, with its format version.
pub(crate) const MAGIC: &[u8; 8] = b"SBXSNAP\x01";
/// Most bytes of files a session may carry through a pause.
pub(super) const MAX_SNAPSHOT_FILES_BYTES: u64 = 1 << 30;
/// Most bytes a session snapshot's body may claim: memory and files.
pub(super) const MAX_SNAPSHOT_BODY: u64 = 8 << 30;

impl Sessions {
    pub(super) async fn restore(
        &self,
        options: &SessionOptions,
        dir: &SessionDir,
        image: &Image,
    ) -> Result<Live, SessionError> {
        let mut live = self.store(options, dir)?;
        let store = &mut live.store;
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(|e| host(format!("instantiating the runtime: {e:#}")))?;
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| host("the runtime exports no memory"))?;
        let have = memory.data_size(&*store) as u64;
        if image.memory_len < have || !image.memory_len.is_multiple_of(WASM_PAGE) {
            return Err(SessionError::BadSnapshot(format!(
                "its memory ({} bytes) does not fit the runtime's ({have} bytes)",
                image.memory_len
            )));
        }
        if image.memory_len > options.memory_bytes {
            return Err(SessionError::BadSnapshot(format!(
                "it holds {} MiB of memory, over the session's limit of {} MiB",
                image.memory_len >> 20,
                options.memory_bytes >> 20
            )));
        }
        memory
            .grow_async(&mut *store, (image.memory_len - have) / WASM_PAGE)
            .await
            .map_err(|e| host(format!("growing the memory: {e:#}")))?;
        let data = memory.data_mut(&mut *store);
        for (page, bytes) in image.pages() {
            let at = page as usize * PAGE;
            data.get_mut(at..at + PAGE)
                .ok_or_else(|| SessionError::BadSnapshot(format!("page {page} is out of range")))?
                .copy_from_slice(bytes);
        }
        for &(index, kind, bits) in &image.globals {
            let global = wizer_global(&instance, store, index).ok_or_else(|| {
                SessionError::BadSnapshot(format!("the runtime has no global {index}"))
            })?;
            if global.ty(&*store).mutability() == wasmtime::Mutability::Var {
                let value = match kind {
                    0 => Val::I32(bits as u32 as i32),
                    1 => Val::I64(bits as i64),
                    2 => Val::F32(bits as u32),
                    3 => Val::F64(bits),
                    k => {
                        return Err(SessionError::BadSnapshot(format!(
                            "global {index} has unknown type {k}"
                        )));
                    }
                };
                global
                    .set(&mut *store, value)
                    .map_err(|e| SessionError::BadSnapshot(format!("global {index}: {e:#}")))?;
            }
        }
        live.instance = Some(instance);
        Ok(live)
    }

    /// The snapshot of `live`, whose files are in `dir`.
    pub(super) async fn snapshot(
        &self,
        live: &mut Live,
        dir: &SessionDir,
    ) -> Result<Vec<u8>, SessionError> {
        live.housekeeping(
            "__import__('_sbx_session').before_pause()",
            "preparing the pause",
        )
        .await?;
        let out = dir.read_out().unwrap_or_default();
        if let Some(fds) = out.get("open_fds").and_then(|v| v.as_array())
            && !fds.is_empty()
        {
            tracing::info!(
                ?fds,
                "pausing a session with files open; they will be closed"
            );
        }
        let instance = live.instance.ok_or(SessionError::NotLive)?;
        let store = &mut live.store;
        let mut globals = Vec::new();
        for (index, global) in wizer_globals(&instance, store) {
            let (kind, bits) = match global.get(&mut *store) {
                Val::I32(x) => (0u8, x as u32 as u64),
                Val::I64(x) => (1, x as u64),
                Val::F32(x) => (2, u64::from(x)),
                Val::F64(x) => (3, x),
                other => {
                    return Err(host(format!(
                        "a global of a kind a pause cannot keep: {other:?}"
                    )));
                }
            };
            globals.push((index, kind, bits));
        }
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| host("the runtime exports no memory"))?;
        let data = memory.data(&*store);
        let pristine = self.pristine().await?;
        let (pages, page_bytes) = {
            let pristine = pristine.lock().expect("pristine lock");
            let base = pristine.1.data(&pristine.0);
            diff_pages(base, data)
        };
        let (workspace, tmp) = (dir.workspace(), dir.tmp());
        let files = snapshot::pack_files(
            &[(0, &workspace), (1, &tmp)],
            |tree, rel| tree == 1 && rel.starts_with(".sbx/"),
            MAX_SNAPSHOT_FILES_BYTES,
        )
        .map_err(host)?;
        let image = Image {
            runtime_key: self.runtime_key.clone(),
            memory_len: data.len() as u64,
            globals,
            page_index: pages,
            page_bytes,
            files,
        };
        image.encode()
    }
}

/// The runtime's global `index`, as wizer exports it (`__wizer_global_<index>`).
pub(super) fn wizer_global(
    instance: &Instance,
    store: &mut Store<Guest>,
    index: u32,
) -> Option<Global> {
    instance.get_global(store, &format!("__wizer_global_{index}"))
}

/// Every global of the runtime wizer exports, by index.
pub(super) fn wizer_globals(instance: &Instance, store: &mut Store<Guest>) -> Vec<(u32, Global)> {
    (0u32..)
        .map_while(|index| Some((index, wizer_global(instance, store, index)?)))
        .collect()
}

/// The pages of `data` that differ from `base` (pages past `base`'s end: those not all zero),
/// as their indices and their bytes end to end.
pub(super) fn diff_pages(base: &[u8], data: &[u8]) -> (Vec<u32>, Vec<u8>) {
    let mut pages = Vec::new();
    let mut bytes = Vec::new();
    for (i, page) in data.chunks(PAGE).enumerate() {
        let at = i * PAGE;
        let same = match base.get(at..at + page.len()) {
            Some(b) => b == page,
            None => page.iter().all(|&b| b == 0),
        };
        if !same {
            pages.push(i as u32);
            bytes.extend_from_slice(page);
            bytes.resize(pages.len() * PAGE, 0);
        }
    }
    (pages, bytes)
}

/// A session's state, as a snapshot carries it.
#[derive(Debug, PartialEq)]
pub(super) struct Image {
    pub(super) runtime_key: String,
    pub(super) memory_len: u64,
    /// (index, kind: 0 i32, 1 i64, 2 f32, 3 f64, bits)
    pub(super) globals: Vec<(u32, u8, u64)>,
    pub(super) page_index: Vec<u32>,
    pub(super) page_bytes: Vec<u8>,
    pub(super) files: Vec<PackedFile>,
}

impl Image {
    pub(super) fn pages(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.page_index
            .iter()
            .copied()
            .zip(self.page_bytes.chunks(PAGE))
    }

    /// The image in a frame marked [`MAGIC`] ([`snapshot::seal`]).
    pub(super) fn encode(&self) -> Result<Vec<u8>, SessionError> {
        let mut body = Vec::with_capacity(self.page_bytes.len() + 4096);
        put_bytes(&mut body, self.runtime_key.as_bytes());
        body.extend_from_slice(&self.memory_len.to_le_bytes());
        body.extend_from_slice(&(self.globals.len() as u32).to_le_bytes());
        for &(index, kind, bits) in &self.globals {
            body.extend_from_slice(&index.to_le_bytes());
            body.push(kind);
            body.extend_from_slice(&bits.to_le_bytes());
        }
        body.extend_from_slice(&(self.page_index.len() as u32).to_le_bytes());
        for p in &self.page_index {
            body.extend_from_slice(&p.to_le_bytes());
        }
        body.extend_from_slice(&self.page_bytes);
        snapshot::put_files(&mut body, &self.files);
        snapshot::seal(MAGIC, &body).map_err(host)
    }

    /// The image in frame `bytes`, taken with the runtime `runtime_key`.
    pub(super) fn decode(bytes: &[u8], runtime_key: &str) -> Result<Self, SessionError> {
        let bad = |e: RunnerError| SessionError::BadSnapshot(e.to_string());
        let body = snapshot::open(MAGIC, bytes, MAX_SNAPSHOT_BODY, "an sbx session snapshot")
            .map_err(bad)?;
        let mut r = Reader(&body);
        let key = r.bytes().map_err(bad)?;
        if key != runtime_key.as_bytes() {
            return Err(SessionError::OtherRuntime(format!(
                "it was taken with another Python runtime ({}), not this runner's ({runtime_key})",
                String::from_utf8_lossy(key)
            )));
        }
        Self::read_state(&mut r, runtime_key).map_err(bad)
    }

    /// What follows the runtime's key in a body.
    pub(super) fn read_state(r: &mut Reader<'_>, runtime_key: &str) -> Result<Self, RunnerError> {
        let memory_len = r.u64()?;
        let n = r.u32()?;
        let mut globals = Vec::new();
        for _ in 0..n {
            globals.push((r.u32()?, r.u8()?, r.u64()?));
        }
        let n = r.u32()? as usize;
        let mut page_index = Vec::with_capacity(n.min(1 << 21));
        for _ in 0..n {
            let p = r.u32()?;
            if (u64::from(p) + 1) * PAGE as u64 > memory_len {
                return Err(RunnerError::Damaged(
                    "a page lies past the memory's end".into(),
                ));
            }
            page_index.push(p);
        }
        let page_bytes = r.take(n * PAGE)?.to_vec();
        let files = snapshot::read_files(r, 2)?;
        Ok(Self {
            runtime_key: runtime_key.to_owned(),
            memory_len,
            globals,
            page_index,
            page_bytes,
            files,
        })
    }

    pub(super) fn write_files(&self, dir: &SessionDir) -> std::io::Result<()> {
        let (workspace, tmp) = (dir.workspace(), dir.tmp());
        snapshot::write_files(&self.files, |tree| {
            if tree == 0 {
                workspace.as_path()
            } else {
                tmp.as_path()
            }
        })
    }
}

/// Decode `bytes` as a session snapshot of runtime `runtime_key`; where that works, encode the
/// image and decode it again, which must give the same image (the fuzz target `snapshot`).
#[cfg(feature = "fuzzing")]
pub(crate) fn decode_round_trip(bytes: &[u8], runtime_key: &str) -> Result<(), SessionError> {
    let image = Image::decode(bytes, runtime_key)?;
    let again = Image::decode(&image.encode()?, runtime_key).expect("an encoded image decodes");
    assert_eq!(image, again, "an image changes through encode and decode");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_only_changed_and_nonzero_pages() {
        let base = vec![1u8; PAGE * 3];
        let mut data = base.clone();
        data[PAGE + 5] = 9;
        data.extend(vec![0u8; PAGE * 2]);
        data[PAGE * 4] = 7;
        let (pages, bytes) = diff_pages(&base, &data);
        assert_eq!(pages, [1, 4]);
        assert_eq!(bytes.len(), 2 * PAGE);
        assert_eq!(bytes[5], 9);
        assert_eq!(bytes[PAGE], 7);
    }

    #[test]
    fn a_snapshot_round_trips_and_damage_is_refused() {
        let image = Image {
            runtime_key: "k1".into(),
            memory_len: 4 * WASM_PAGE,
            globals: vec![(0, 0, 42), (1, 1, 7)],
            page_index: vec![3],
            page_bytes: vec![5u8; PAGE],
            files: vec![(0, "a/b.txt".into(), b"hi".to_vec())],
        };
        let bytes = image.encode().unwrap();
        let back = Image::decode(&bytes, "k1").unwrap();
        assert_eq!(back.globals, image.globals);
        assert_eq!(back.page_index, [3]);
        assert_eq!(back.files, image.files);
        assert!(matches!(
            Image::decode(&bytes, "k2"),
            Err(SessionError::OtherRuntime(m)) if m.contains("another Python runtime")
        ));
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(matches!(
            Image::decode(&damaged, "k1"),
            Err(SessionError::BadSnapshot(m)) if m.contains("checksum")
        ));
        assert!(Image::decode(&bytes[..40], "k1").is_err());
        assert!(
            Image::decode(b"not a snapshot at all, not one bit of it, nope....", "k1").is_err()
        );
    }
}
