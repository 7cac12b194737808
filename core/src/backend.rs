//! The [`Backend`] trait: one way of running a workload under its limits, and how a run is
//! steered ([`Control`]) and heard from while it runs ([`LogChunk`]). A limit the workload hits
//! is an [`ExecOutcome`] status; an `Err` ([`BackendError`]) means the code never ran.

use std::future::Future;
use std::pin::Pin;

use sbx_limits::ExecLimits;
pub use tokio_util::sync::CancellationToken;

use crate::exec::{ExecOutcome, ExecSpec};

crate::vocabulary! {
    /// Which output stream of a program a piece of output came from.
    OutputStream ("output stream") {
        /// Standard output.
        Stdout = "stdout",
        /// Standard error.
        Stderr = "stderr",
    }
}

/// A piece of output a running program wrote, as it wrote it.
#[derive(Debug, Clone)]
pub struct LogChunk {
    /// The stream it was written to.
    pub stream: OutputStream,
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
pub enum BackendError {
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

/// What a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// WebAssembly under wasmtime.
    Wasm,
}

/// A way of running workloads, behind `Arc<dyn Backend>` where the choice is made at run time.
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
    ) -> BoxFuture<'_, Result<ExecOutcome, BackendError>>;

    /// Interactive work starts (someone waits on the answer): background work on this backend
    /// yields to it until the returned guard drops. Nothing by default.
    fn interactive(&self) -> Box<dyn Send> {
        Box::new(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_streams_round_trip() {
        crate::tests::round_trips(super::OutputStream::ALL);
    }
}
