//! Why a sandbox operation was refused or failed: [`SandboxError`], each variant with the HTTP
//! status the API answers it with.

use sbx_core::{BackendError, SessionError};
use sbx_store::StoreError;
use sbx_store::sandboxes::Sandbox;

/// Why a sandbox operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No such sandbox in the caller's project (API: 404).
    #[error("no such sandbox")]
    NotFound,
    /// The sandbox has ended, or is ending: the account says how (API: 409 `sandbox_ended`).
    #[error("{0}")]
    Ended(String),
    /// Its owner paused it: it takes calls again once resumed (API: 409 `sandbox_paused`).
    #[error("the sandbox was paused by its owner; resume it first (POST …/resume)")]
    PausedByOwner,
    /// It is still starting (API: 409 `sandbox_pending`).
    #[error("the sandbox is still starting")]
    Pending,
    /// Its snapshot is gone; the sandbox failed (API: 409 `snapshot_missing`).
    #[error("{0}")]
    SnapshotMissing(String),
    /// Its snapshot cannot be restored; the sandbox failed (API: 409 `snapshot_corrupt`).
    #[error("{0}")]
    SnapshotCorrupt(String),
    /// The session's state is over what a pause can keep; it goes on running (API: 409
    /// `snapshot_too_large`).
    #[error("{0}")]
    SnapshotTooLarge(String),
    /// Code sent to a container sandbox, which runs commands (API: 422 `invalid_request`,
    /// field `code`).
    #[error("this sandbox is a container: send `command` (argv) to run in it")]
    NotAnInterpreter,
    /// A command sent to a code-interpreter sandbox, which runs code (API: 422
    /// `invalid_request`, field `command`).
    #[error("a code-interpreter takes `code`, not a command")]
    NotAContainer,
    /// A container sandbox that is not running takes no commands: the account says its state
    /// (API: 409 `sandbox_not_running`).
    #[error("{0}")]
    NotRunning(String),
    /// The project has as many open sandboxes as it may (API: 429 `project_queue_full`).
    #[error("this project has {open} open sandboxes, its cap; terminate some first")]
    TooManyOpen {
        /// Its open (not ended) sandboxes.
        open: i64,
        /// Its cap.
        cap: i64,
    },
    /// A file handed to a call cannot be placed (API: 422 `invalid_path`, field `files`).
    #[error("{0}")]
    BadPath(String),
    /// Try again: the session moved, its holder did not answer, the host is shutting down
    /// (API: 503).
    #[error("{0}")]
    Unavailable(String),
    /// Our fault (API: 500).
    #[error("{0}")]
    Internal(String),
    /// The database failed (API: 503 when unavailable, else 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SandboxError {
    /// The answer about sandbox `s`, which can take no more calls: its state and why.
    pub fn ended(s: &Sandbox) -> Self {
        Self::Ended(format!(
            "the sandbox is {} ({}){}",
            s.state,
            s.state_reason,
            s.state_detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ))
    }
}

impl SandboxError {
    /// The answer about container sandbox `s`, which is not running: its state and why.
    pub fn not_running(s: &Sandbox) -> Self {
        Self::NotRunning(format!("the sandbox is {} ({})", s.state, s.state_reason))
    }
}

impl From<SessionError> for SandboxError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotLive => Self::Unavailable("the session moved; retry".into()),
            SessionError::BadSnapshot(m) => Self::SnapshotCorrupt(m),
            SessionError::OtherRuntime(m) => Self::Unavailable(m),
            SessionError::BadInput(m) => Self::BadPath(m),
            SessionError::Runner(BackendError::ShuttingDown) => Self::Unavailable(e.to_string()),
            SessionError::Runner(e) => Self::Internal(e.to_string()),
        }
    }
}

/// A session host's failure as a failed sandbox's account: the host's own words.
pub(crate) fn account(e: &SessionError) -> String {
    match e {
        SessionError::NotLive => "the session is not live here".into(),
        SessionError::BadSnapshot(m)
        | SessionError::OtherRuntime(m)
        | SessionError::BadInput(m) => m.clone(),
        SessionError::Runner(e) => e.to_string(),
    }
}
