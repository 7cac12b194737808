//! Code-interpreter sessions as the sandbox lifecycle sees them: the [`SessionHost`] a runner
//! implements (one live interpreter per session, paused into a snapshot any host can restore),
//! what a session is made with, and why an operation on one failed.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backend::{BackendError, BoxFuture};
use crate::exec::{CellOutcome, CellSpec};
use crate::ids::SandboxId;

/// What a session is made with.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Its linear memory limit, in bytes.
    pub memory_bytes: u64,
    /// Its disk cap, in bytes: `/workspace` and `/tmp` together, files too (one per 16 KiB).
    pub disk_bytes: u64,
    /// Environment variables, set in `os.environ` when the interpreter starts.
    pub env: Vec<(String, String)>,
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No such session is live on this host (it moved, or was closed).
    #[error("the session is not live on this runner")]
    NotLive,
    /// The snapshot cannot be restored: damaged or truncated.
    #[error("the snapshot cannot be restored: {0}")]
    BadSnapshot(String),
    /// The snapshot was taken with another Python runtime: a runner with that runtime (during
    /// an upgrade, an older one) can restore it; this one cannot.
    #[error("{0}")]
    OtherRuntime(String),
    /// The caller's input cannot be used (a file path that crosses a link or a file the code
    /// made in its way).
    #[error("{0}")]
    BadInput(String),
    /// The runtime failed.
    #[error(transparent)]
    Runner(#[from] BackendError),
}

/// A session live on a host, as [`SessionHost::live`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSession {
    /// Its sandbox.
    pub id: SandboxId,
    /// Time since its last call ended (or it opened).
    pub idle: Duration,
    /// Whether a call runs in it now.
    pub busy: bool,
}

/// Where code-interpreter sessions live: the wasm backend of the process that holds them.
pub trait SessionHost: Send + Sync {
    /// Start session `id`: fresh with `options`, or restored from `snapshot` (taken by
    /// [`SessionHost::pause`] on any host). Nothing if it is live already.
    fn open(
        &self,
        id: SandboxId,
        options: SessionOptions,
        snapshot: Option<Vec<u8>>,
    ) -> BoxFuture<'_, Result<(), SessionError>>;
    /// Run a cell in live session `id`, after the calls queued before it; `cancel` stops it.
    fn cell(
        &self,
        id: SandboxId,
        spec: CellSpec,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<CellOutcome, SessionError>>;
    /// Pause live session `id` into its snapshot; it is no longer live here.
    fn pause(&self, id: SandboxId) -> BoxFuture<'_, Result<Vec<u8>, SessionError>>;
    /// Open `copies` of live session `id`, after the calls queued before: each `(copy,
    /// options)` a new session live here with `id`'s variables, imports and files, taken
    /// from its live memory; `id` stays live. All are opened or none.
    /// [`SessionError::NotLive`] when `id` is not live here.
    fn fork(
        &self,
        id: SandboxId,
        copies: Vec<(SandboxId, SessionOptions)>,
    ) -> BoxFuture<'_, Result<(), SessionError>>;
    /// The host folder that is live session `id`'s `/workspace`, for the files API to read
    /// and write beneath (never by following a link: the guest can make links there). It
    /// counts as a use of the session (its idle time starts again); the session is not held
    /// live while the folder is used. [`SessionError::NotLive`] when it is not live here.
    fn workspace(&self, id: SandboxId) -> Result<std::path::PathBuf, SessionError>;
    /// End session `id` here; whether it was live.
    fn close(&self, id: SandboxId) -> bool;
    /// The live sessions, least recently used first.
    fn live(&self) -> Vec<LiveSession>;
}
