//! The guest core that execs, cells and the snapshot build share: what a guest's store holds
//! ([`Guest`]), the trap its deadline raises ([`DeadlinePassed`]), and [`StoreBuilder`], in the
//! style of spin's `StoreBuilder`, which makes every store: WASI context, memory limit, and what
//! the guest does at each epoch tick ([`Tick`]).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use super::limiter::MemoryLimiter;
use super::pipes::CappedPipe;
use super::python::{PythonFiles, python_wasi};

/// What a guest's store holds.
pub(super) struct Guest {
    /// Its WASI preview 1 context.
    pub(super) wasi: WasiP1Ctx,
    /// Its memory limit, and whether a growth was refused.
    pub(super) limiter: MemoryLimiter,
}

/// Trap raised at an epoch tick once the guest's deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("wall-time limit exceeded")]
pub(super) struct DeadlinePassed;

/// What a running guest does at an epoch tick (the engine ticks every millisecond).
pub(super) enum Tick {
    /// Its deadline passed: trap with [`DeadlinePassed`].
    Trap,
    /// Go on, after handing the thread back to the runtime, so that the deadline and cancel
    /// futures beside the guest are polled even while it computes.
    Yield,
    /// Go on once this future is done: queued work waiting while interactive work runs.
    Wait(Pin<Box<dyn Future<Output = ()> + Send>>),
}

/// Builds a guest's [`Store`]: its WASI context, then its memory limit and tick policy.
pub(super) struct StoreBuilder {
    wasi: WasiCtxBuilder,
    memory_limit: usize,
}

impl StoreBuilder {
    /// A guest that reads `stdin` and writes to `stdout` and `stderr`, with no memory limit
    /// yet. Guests run on the backend's own threads: file operations may block them briefly,
    /// which is cheaper than a hop to tokio's blocking pool for every read.
    pub(super) fn new(stdin: Vec<u8>, stdout: CappedPipe, stderr: CappedPipe) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_blocking_current_thread(true)
            .stdin(MemoryInputPipe::new(stdin))
            .stdout(stdout)
            .stderr(stderr);
        Self::from_wasi(wasi)
    }

    /// A guest with the WASI context `wasi` and no memory limit yet.
    pub(super) fn from_wasi(wasi: WasiCtxBuilder) -> Self {
        Self {
            wasi,
            memory_limit: usize::MAX,
        }
    }

    /// The WASI context, for arguments, environment and preopened folders.
    pub(super) fn wasi(&mut self) -> &mut WasiCtxBuilder {
        &mut self.wasi
    }

    /// The Python runtime's files and environment, with `workspace` as `/workspace` and `tmp`
    /// as `/tmp` (see [`python_wasi`]).
    ///
    /// # Errors
    /// A folder that cannot be opened.
    pub(super) fn python(
        &mut self,
        files: &PythonFiles,
        workspace: PathBuf,
        tmp: PathBuf,
    ) -> wasmtime::Result<&mut Self> {
        python_wasi(&mut self.wasi, files, workspace, tmp)?;
        Ok(self)
    }

    /// Linear memory may grow to `bytes` and no further; a refused growth is recorded.
    pub(super) fn memory_limit(&mut self, bytes: u64) -> &mut Self {
        self.memory_limit = usize::try_from(bytes).unwrap_or(usize::MAX);
        self
    }

    /// The store, with its memory limit, calling `tick` at every epoch tick from the first.
    pub(super) fn build(
        self,
        engine: &Engine,
        mut tick: impl FnMut() -> Tick + Send + Sync + 'static,
    ) -> Store<Guest> {
        let mut store = self.build_untimed(engine);
        store.epoch_deadline_callback(move |_| match tick() {
            Tick::Trap => Err(DeadlinePassed.into()),
            Tick::Yield => Ok(UpdateDeadline::Yield(1)),
            Tick::Wait(until) => Ok(UpdateDeadline::YieldCustom(1, until)),
        });
        store.set_epoch_deadline(1);
        store
    }

    /// The store, with its memory limit and no tick policy: for a store that only
    /// instantiates (a pristine instance), or runs with no deadline (the snapshot build).
    pub(super) fn build_untimed(mut self, engine: &Engine) -> Store<Guest> {
        let mut store = Store::new(
            engine,
            Guest {
                wasi: self.wasi.build_p1(),
                limiter: MemoryLimiter::new(self.memory_limit),
            },
        );
        store.limiter(|g| &mut g.limiter);
        store
    }
}
