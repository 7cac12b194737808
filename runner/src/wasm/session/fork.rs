//! Forking a live session: copies that open with the source's memory, globals and files,
//! made from the source's live instance (no snapshot is encoded or decoded).
//!
//! A copy is a fresh instance of the runtime (its memory copy-on-write from the runtime's
//! image, as every session's is), grown to the source's size, with the source's mutable
//! globals and the pages the source changed. Which pages those are, the kernel says: a page of
//! the runtime's image the guest wrote was copied by the kernel on that write and is no longer
//! backed by the image (`/proc/self/pagemap`'s file bit), and a page past the image the guest
//! touched is present. Only those are copied, so a fork costs what the session changed (a
//! 10 MiB DataFrame: about 10 MiB), not its whole memory. Where the page map cannot be read,
//! every page is copied.
//!
//! The source runs nothing meanwhile: the fork is one command of its actor, after the calls
//! queued before it. Like a pause, it first lets go of the runtime's own open files
//! (`before_fork` in [`super::SESSION_PY`]), when the last call said there were any:
//! descriptors are not copied.

use std::fs;
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, FileExt as _, OpenOptionsExt as _};
use std::path::Path;

use rustix::mm::Advice;
use wasmtime::{Memory, Mutability};

use crate::wasm::workspace::{O_NOFOLLOW, scan};

use super::actor::Live;
use super::folders::SessionDir;
use super::image::{wizer_global, wizer_globals};
use super::{SessionError, SessionOptions, Sessions, host};

/// A copy made by [`Sessions::copies`], not yet live ([`Sessions::adopt_copies`] makes it
/// live).
pub(crate) struct Copy {
    pub(super) id: uuid::Uuid,
    pub(super) options: SessionOptions,
    pub(super) dir: SessionDir,
    pub(super) live: Live,
}

/// A transparent huge page (x86-64, and arm64 with 4 KiB pages).
const HUGE_PAGE: usize = 2 << 20;

impl Sessions {
    /// Copies of `source` (whose files are in `dir`), one per `(id, options)`; none is live
    /// yet. All are made or none.
    ///
    /// # Errors
    /// The pre-fork turn fails, a folder cannot be made or filled, an instance cannot be made
    /// or grown (a copy's memory limit below the source's memory).
    pub(super) async fn copies(
        &self,
        source: &mut Live,
        dir: &SessionDir,
        copies: Vec<(uuid::Uuid, SessionOptions)>,
    ) -> Result<Vec<Copy>, SessionError> {
        if source.fonts_open {
            source
                .housekeeping(
                    "__import__('_sbx_session').before_fork()",
                    "preparing the fork",
                )
                .await?;
            source.fonts_open = false;
        }
        let instance = source.instance.ok_or(SessionError::NotLive)?;
        let store = &mut source.store;
        let mut globals = Vec::new();
        for (index, global) in wizer_globals(&instance, store) {
            if global.ty(&*store).mutability() == Mutability::Var {
                globals.push((index, global.get(&mut *store)));
            }
        }
        let memory = memory_of(&instance, &mut *store)?;
        let size = memory.data_size(&*store);
        let mut made = Vec::with_capacity(copies.len());
        // Where a fresh instance's memory ends: the runtime's image lies before it.
        let mut image_end = size;
        for (id, options) in copies {
            if size as u64 > options.memory_bytes {
                return Err(host(format!(
                    "the session holds {} MiB of memory, over the copy's limit of {} MiB",
                    size >> 20,
                    options.memory_bytes >> 20
                )));
            }
            let copy_dir = SessionDir::create(&self.root, id, options.disk_bytes).map_err(host)?;
            copy_tree(&dir.workspace(), &copy_dir.workspace(), |_| true).map_err(host)?;
            copy_tree(&dir.tmp(), &copy_dir.tmp(), |rel| !rel.starts_with(".sbx/"))
                .map_err(host)?;
            let mut live = self.store(&options, &copy_dir)?;
            let copy = self
                .pre
                .instantiate_async(&mut live.store)
                .await
                .map_err(|e| host(format!("instantiating the runtime: {e:#}")))?;
            let copy_memory = memory_of(&copy, &mut live.store)?;
            let have = copy_memory.data_size(&live.store);
            image_end = have;
            copy_memory
                .grow_async(
                    &mut live.store,
                    (size.saturating_sub(have) as u64).div_ceil(super::image::WASM_PAGE),
                )
                .await
                .map_err(|e| host(format!("growing the memory: {e:#}")))?;
            for (index, value) in &globals {
                wizer_global(&copy, &mut live.store, *index)
                    .ok_or_else(|| host(format!("the runtime has no global {index}")))?
                    .set(&mut live.store, *value)
                    .map_err(|e| host(format!("global {index}: {e:#}")))?;
            }
            live.instance = Some(copy);
            made.push(Copy {
                id,
                options,
                dir: copy_dir,
                live,
            });
        }
        let from = memory.data(&*store);
        let runs = changed_pages(from).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the page map cannot be read: a fork copies all the memory");
            std::iter::once(0..from.len()).collect()
        });
        let mut into = Vec::with_capacity(made.len());
        for c in &mut made {
            let instance = c.live.instance.expect("made above");
            let data = memory_of(&instance, &mut c.live.store)?.data_mut(&mut c.live.store);
            let data = &mut data[..from.len()];
            // Past the runtime's image the memory is anonymous: what the session grew into,
            // where its large arrays are. Huge pages there make a copy's page faults few.
            let base = data.as_ptr() as usize;
            let grown = ((base + image_end).next_multiple_of(HUGE_PAGE) - base).min(data.len());
            advise(&mut data[grown..], Advice::LinuxHugepage);
            into.push(data);
        }
        copy_runs(from, into, &runs);
        Ok(made)
    }
}

fn memory_of(
    instance: &wasmtime::Instance,
    store: impl wasmtime::AsContextMut,
) -> Result<Memory, SessionError> {
    instance
        .get_memory(store, "memory")
        .ok_or_else(|| host("the runtime exports no memory"))
}

/// The byte ranges of `data` (a private mapping of this process: a linear memory) that are
/// not the file they map any more, or are past it and were touched: as sorted runs of whole
/// pages. Read from `/proc/self/pagemap`: bit 63 present, 62 swapped, 61 a file's page.
fn changed_pages(data: &[u8]) -> std::io::Result<Vec<Range<usize>>> {
    let page = rustix::param::page_size();
    let start = data.as_ptr() as usize;
    if !start.is_multiple_of(page) {
        return Err(std::io::Error::other("the memory does not start on a page"));
    }
    let pages = data.len().div_ceil(page);
    let mut entries = vec![0u8; pages * 8];
    let map = fs::File::open("/proc/self/pagemap")?;
    map.read_exact_at(&mut entries, (start / page * 8) as u64)?;
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (i, entry) in entries.chunks_exact(8).enumerate() {
        let bits = u64::from_le_bytes(entry.try_into().expect("8 bytes"));
        let (present, swapped, file) = (
            bits >> 63 & 1 == 1,
            bits >> 62 & 1 == 1,
            bits >> 61 & 1 == 1,
        );
        if !(swapped || present && !file) {
            continue;
        }
        let at = i * page;
        let end = (at + page).min(data.len());
        match runs.last_mut() {
            Some(run) if run.end == at => run.end = end,
            _ => runs.push(at..end),
        }
    }
    Ok(runs)
}

/// Copy `runs` of `from` into each of `into` (as long as `from`), on as many threads as the
/// machine has cores (at most 4). Each 2 MiB block of a copy is left to one thread: two
/// threads faulting in the same huge page would both make it.
fn copy_runs(from: &[u8], into: Vec<&mut [u8]>, runs: &[Range<usize>]) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let mut shares: Vec<Vec<(&mut [u8], &[u8])>> = (0..threads).map(|_| Vec::new()).collect();
    let mut turn = 0;
    for dest in into {
        // Blocks by address: a linear memory need not start on a huge page.
        let base = dest.as_ptr() as usize;
        let (mut rest, mut at, mut block) = (dest, 0, usize::MAX);
        for run in runs {
            let mut start = run.start;
            while start < run.end {
                let end = run
                    .end
                    .min(((base + start) / HUGE_PAGE + 1) * HUGE_PAGE - base);
                let (_, tail) = std::mem::take(&mut rest).split_at_mut(start - at);
                let (piece, tail) = tail.split_at_mut(end - start);
                rest = tail;
                at = end;
                if (base + start) / HUGE_PAGE != block {
                    block = (base + start) / HUGE_PAGE;
                    turn = (turn + 1) % threads;
                }
                shares[turn].push((piece, &from[start..end]));
                start = end;
            }
        }
    }
    let mut shares = shares.into_iter().filter(|s| !s.is_empty());
    let Some(mine) = shares.next() else { return };
    std::thread::scope(|scope| {
        for share in shares {
            scope.spawn(move || {
                for (d, s) in share {
                    copy(d, s);
                }
            });
        }
        for (d, s) in mine {
            copy(d, s);
        }
    });
}

/// Copy `s` into `d`, after faulting `d`'s pages in for writing in one call (a page fault per
/// page costs more than the copy on some hosts).
fn copy(d: &mut [u8], s: &[u8]) {
    advise(d, Advice::LinuxPopulateWrite);
    d.copy_from_slice(s);
}

/// Give the kernel `advice` about the pages of `range` (whole pages within it); a kernel that
/// does not know the advice (before Linux 5.14 for populating) is ignored: it only costs time.
#[allow(unsafe_code)]
fn advise(range: &mut [u8], advice: Advice) {
    let page = rustix::param::page_size();
    let start = (range.as_ptr() as usize).next_multiple_of(page);
    let end = (range.as_ptr() as usize + range.len()) / page * page;
    if end <= start {
        return;
    }
    // SAFETY: the range lies within `range`, which this thread may write. Neither advice
    // changes what the memory holds: huge pages only change how it is backed, and populating
    // for writing faults the pages in as a write would (a private copy of a file's page holds
    // the file's bytes).
    let _ = unsafe { rustix::mm::madvise(start as *mut std::ffi::c_void, end - start, advice) };
}

/// Copy the regular files under `from` (links are not followed or kept) that `keep` accepts
/// (by path under `from`) to the same paths under `to`.
fn copy_tree(from: &Path, to: &Path, keep: impl Fn(&str) -> bool) -> std::io::Result<()> {
    for (rel, _) in scan(from)? {
        if !keep(&rel) {
            continue;
        }
        let target = to.join(&rel);
        if let Some(parent) = target.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let mut source = fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NOFOLLOW)
            .open(from.join(&rel))?;
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)?;
        std::io::copy(&mut source, &mut out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn the_page_map_names_the_pages_written() {
        use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous, munmap};
        let page = rustix::param::page_size();
        let len = 64 * page;
        // SAFETY: a fresh private mapping, used only through `data` and unmapped below.
        let ptr = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .unwrap();
        // SAFETY: `ptr` maps `len` bytes, readable and writable, until unmapped below.
        let data = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) };
        assert!(changed_pages(data).unwrap().is_empty());
        data[3 * page + 7] = 1;
        data[10 * page..12 * page].fill(2);
        data[12 * page] = 3;
        assert_eq!(
            changed_pages(data).unwrap(),
            [3 * page..4 * page, 10 * page..13 * page]
        );
        // SAFETY: mapped above; `data` is not used again.
        unsafe { munmap(ptr, len) }.unwrap();
    }

    #[test]
    fn runs_are_copied_into_every_copy_and_nothing_else() {
        let from: Vec<u8> = (0..(5 * HUGE_PAGE)).map(|i| (i % 251) as u8 + 1).collect();
        let runs = [
            4096..8192,
            HUGE_PAGE - 4096..HUGE_PAGE + 8192,
            3 * HUGE_PAGE..5 * HUGE_PAGE,
        ];
        let mut a = vec![0u8; from.len()];
        let mut b = vec![0u8; from.len()];
        copy_runs(&from, vec![&mut a, &mut b], &runs);
        for copy in [&a, &b] {
            for (i, (&got, &want)) in copy.iter().zip(&from).enumerate() {
                let inside = runs.iter().any(|r| r.contains(&i));
                assert_eq!(got, if inside { want } else { 0 }, "byte {i}");
            }
        }
    }
}
