//! [`RunnerError`]: why the runner could not do what it was asked, outside the wasm backend
//! (whose errors are `sbx_core::BackendError`, the contract of `Backend`). Limits hit by a
//! workload (timeouts, OOM kills, truncated output) are outcomes, never errors.

use sbx_core::sandbox::StateReason;
use sbx_store::StoreError;

/// Why the runner could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// No Docker daemon answers on the socket (API: 503).
    #[error("the Docker daemon is unavailable: {0}")]
    Unavailable(String),
    /// The image is not on this host and was not pulled (API: 422 `image_missing`).
    #[error("image {0} is not present on this host")]
    ImageMissing(String),
    /// Pulling the image failed: Docker's message (API: 422 `image_pull_failed`).
    #[error("pulling the image failed: {0}")]
    ImagePullFailed(String),
    /// The container does not exist (any more) (API: 404).
    #[error("no such container: {0}")]
    NotFound(String),
    /// The spec is unusable: bad limits, paths or GPU share (API: 422).
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    /// Docker refused or failed otherwise: Docker's message (API: 500).
    #[error("docker: {0}")]
    Docker(String),
    /// The GPUs declared in config (`SBX_GPUS`) do not parse.
    #[error("declared GPUs")]
    DeclaredGpus(#[source] sbx_limits::LimitError),
    /// NVML started but could not count the cards.
    #[error("NVML could not count the GPUs")]
    Nvml(#[source] nvml_wrapper::error::NvmlError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file operation on this host failed: what was being done, and why.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot, a copy of a sandbox's folders or a sealed value cannot be read: what is
    /// wrong with it.
    #[error("{0}")]
    Damaged(String),
    /// What was to be kept is over what may be kept: by how much.
    #[error("{0}")]
    TooLarge(String),
    /// A copy of a paused sandbox's folders stopped because the sandbox was resumed here
    /// first: nothing is wrong.
    #[error("the sandbox was resumed here first")]
    Cancelled,
    /// A sandbox's container could not start: the reason its failed state records, and the
    /// account.
    #[error("{detail}")]
    StartFailed {
        /// Why, in the sandbox vocabulary (`start_failed`, `image_pull_failed`, …).
        reason: StateReason,
        /// What went wrong.
        detail: String,
    },
    /// A sandbox's container could not be paused: why, as its failed state tells it.
    #[error("{0}")]
    PauseFailed(String),
}

impl RunnerError {
    /// A failed start for `reason`, told by `detail`.
    pub fn start_failed(reason: StateReason, detail: impl std::fmt::Display) -> Self {
        Self::StartFailed {
            reason,
            detail: detail.to_string(),
        }
    }

    /// An I/O error met while doing `what`.
    pub fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { what, source }
    }
}
