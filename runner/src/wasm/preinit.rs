//! sbx's own Python runtime: `python-snapshot.wasm` with its interpreter started and the
//! scientific stack imported, snapshotted into a module that every exec instantiates
//! copy-on-write.
//!
//! A fresh exec of the shipped module pays for CPython's start (about 11 ms) and for every
//! import, each time: `import pandas` alone is 1.2–1.7 s. Here the module is run once, at
//! set-up: a session turn ([`PRELOAD`]) imports what agent code reaches for, then wizer writes
//! the instance's memory and globals out as a new module. An exec instantiates that module
//! (nothing of one exec reaches the next: each gets its own copy-on-write image) and runs its
//! code in one more turn, through the reactor's own `-c` handling, in a fresh `__main__`.
//!
//! What must not be frozen into a snapshot is not: the reactor reseeds `random` and
//! `numpy.random` for every program, `os.urandom` asks the host each time, and clocks are read
//! live. The snapshot run sees the same preopened folders, in the same order, as an exec, so the
//! descriptors wasi-libc remembers for them stay right.
//!
//! The snapshot exports its globals and memory (as wizer's instrumentation names them), so a
//! code-interpreter session can be paused by reading them ([`super::session`]).
//!
//! The result is cached as a `.cwasm` keyed by its inputs: the artifacts' digests, [`PRELOAD`],
//! [`FORMAT`] and the engine's compatibility hash.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Instance, Module, Store};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::PythonFiles;
use super::guest::{Guest, StoreBuilder};
use sbx_core::BackendError;

/// What the runtime runs before it is snapshotted. The imports are those agent and eval code
/// uses most: numpy and pandas above all (0.3 s and 1.2–1.7 s to import in a fresh instance),
/// matplotlib with its file-only backend for plots. `gc.freeze()` then moves every object made
/// so far out of the collector's sight, so a collection in an exec does not walk (and copy,
/// page by page) the whole imported heap. No figure is drawn here: matplotlib keeps each font
/// file it has read open, and an open descriptor must not outlive the snapshot.
pub const PRELOAD: &str = "\
import gc, os, sys
import bisect, collections, copy, csv, dataclasses, datetime, decimal, fractions, functools
import heapq, io, itertools, json, math, operator, random, re, statistics, string
import textwrap, typing, unicodedata
import numpy
import pandas
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot
# A descriptor left open here would be a number in the snapshot that names nothing, or another
# program's file, in every exec: 0-2 are stdio, 3-6 the preopened folders.
for fd in range(7, 256):
    try:
        os.fstat(fd)
    except OSError:
        continue
    raise SystemExit(f'descriptor {fd} is still open after the imports')
gc.collect()
gc.freeze()
";

/// Bumped whenever the way the snapshot is made changes in a way its other inputs do not show.
const FORMAT: u32 = 3;

/// The pre-initialised runtime for `engine`: loaded from the cache, or built from the
/// artifacts in `python_dir` (a minute or two on 2 cores, once per machine) and cached.
///
/// Returns the module and its key, which names the runtime in session snapshots: a snapshot
/// restores only into the runtime it was taken from.
pub(super) fn load(
    engine: &Engine,
    python_dir: &Path,
    files: &PythonFiles,
    cache_dir: &Path,
) -> Result<(Module, String), BackendError> {
    let key = cache_key(python_dir)?;
    let module =
        super::engine::cached_module(engine, cache_dir, &format!("python-preinit-{key}"), || {
            build(python_dir, files, cache_dir)
        })?;
    Ok((module, key))
}

/// The digest of everything the snapshot is made from. The artifacts' digests come from the
/// wheel's `SHA256SUMS`, which set-up checked the files against: no 150 MB to hash per start.
fn cache_key(python_dir: &Path) -> Result<String, BackendError> {
    let sums_path = python_dir.join("SHA256SUMS");
    let sums = std::fs::read_to_string(&sums_path)
        .map_err(|e| BackendError::Runtime(format!("{}: {e}", sums_path.display())))?;
    let mut h = Sha256::new();
    for name in ["python-snapshot.wasm", "python-stdlib.zip"] {
        let line = sums
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .ok_or_else(|| {
                BackendError::Runtime(format!("{} does not list {name}", sums_path.display()))
            })?;
        h.update(line.as_bytes());
    }
    h.update(PRELOAD.as_bytes());
    h.update(FORMAT.to_le_bytes());
    Ok(hex::encode(&h.finalize()[..12]))
}

/// Run `python-snapshot.wasm` once with [`PRELOAD`] and return the snapshot as wasm bytes.
fn build(
    python_dir: &Path,
    files: &PythonFiles,
    cache_dir: &Path,
) -> Result<Vec<u8>, BackendError> {
    let runtime = |what: &str, e: &dyn std::fmt::Display| {
        BackendError::Runtime(format!("building the Python snapshot: {what}: {e:#}"))
    };
    let started = std::time::Instant::now();
    let path = python_dir.join("python-snapshot.wasm");
    let wasm = std::fs::read(&path).map_err(|e| runtime(&path.display().to_string(), &e))?;
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer
        .instrument(&wasm)
        .map_err(|e| runtime("instrumenting", &e))?;
    let engine = super::engine::snapshot_engine()?;
    let module = Module::new(&engine, &instrumented).map_err(|e| runtime("compiling", &e))?;
    drop(instrumented);
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "snapshot: module compiled"
    );

    let scratch = super::workspace::Workspace::create(cache_dir, &[])
        .map_err(|e| runtime("scratch folder", &e))?;
    let stderr = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(1 << 20);
    let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
    wasi.stderr(stderr.clone()).stdout(stderr.clone());
    let mut builder = StoreBuilder::from_wasi(wasi);
    builder
        .python(files, scratch.workspace(), scratch.tmp())
        .map_err(|e| runtime("preopens", &e))?;
    let mut store = builder.build_untimed(&engine);
    let linker = super::linker(&engine, &module)?;
    let threads = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| runtime("runtime", &e))?;
    let snapshot = threads.block_on(async {
        let instance = linker
            .instantiate_async(&mut store, &module)
            .await
            .map_err(|e| runtime("instantiating", &e))?;
        let status = super::turn(&mut store, &instance, PRELOAD)
            .await
            .map_err(|e| runtime("the preload turn trapped", &e))?;
        if status != 0 {
            let output = String::from_utf8_lossy(&stderr.contents()).into_owned();
            return Err(BackendError::Runtime(format!(
                "building the Python snapshot: the preload ended with status {status}: {output}"
            )));
        }
        wizer
            .snapshot(
                &cx,
                &mut Snapshotted {
                    store: &mut store,
                    instance,
                },
            )
            .await
            .map_err(|e| runtime("snapshotting", &e))
    })?;
    // Sessions pause by reading the instance's globals and memory, which the snapshot does not
    // export: the same instrumentation that let wizer read them exports them again. Exports
    // change nothing else; execs ignore them.
    let (_, exported) = Wizer::new()
        .instrument(&snapshot)
        .map_err(|e| runtime("exporting the snapshot's state", &e))?;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        bytes = exported.len(),
        "snapshot: taken"
    );
    Ok(exported)
}

/// The instance wizer reads the state from, through the exports its instrumentation added.
struct Snapshotted<'a> {
    store: &'a mut Store<Guest>,
    instance: Instance,
}

impl InstanceState for Snapshotted<'_> {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wizer exported every global");
        match global.get(&mut *self.store) {
            wasmtime::Val::I32(x) => SnapshotVal::I32(x),
            wasmtime::Val::I64(x) => SnapshotVal::I64(x),
            wasmtime::Val::F32(x) => SnapshotVal::F32(x),
            wasmtime::Val::F64(x) => SnapshotVal::F64(x),
            wasmtime::Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            other => panic!("a global wizer cannot snapshot: {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("wizer exported every memory");
        contents(memory.data(&*self.store))
    }
}
