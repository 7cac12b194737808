//! What can go wrong in a client command, each as one line for the user and an exit code.

/// Exit code of a command that failed: the server refused it, could not be reached, or the
/// input was bad. (`exec` and `sandbox exec`/`run` use [`EXIT_API_ERROR`] instead, since 1 is
/// a program's own failure there.)
pub const EXIT_FAILED: i32 = 1;
/// Exit code of `exec`, `sandbox run` and `sandbox exec` when sbx itself failed (the API
/// refused the call, the server could not be reached): the program never ran, or its outcome
/// is unknown.
pub const EXIT_API_ERROR: i32 = 2;
/// Exit code of `exec`, `sandbox run` and `sandbox exec` when the program hit a limit (time,
/// memory, output, disk) or was cancelled, as `timeout(1)` does.
pub const EXIT_LIMIT: i32 = 124;

/// A failed client command. Each variant prints as one line (after `sbx: `).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Nothing came back from the server: refused connection, unknown host, timeout.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// Why, as the HTTP client says.
        reason: String,
    },
    /// The server answered 401: the key is missing, unknown or revoked.
    #[error(
        "the server at {url} refused the API key ({detail}); run `sbx login`, or pass --api-key or set SBX_API_KEY"
    )]
    KeyRefused {
        /// The server's base URL.
        url: String,
        /// The problem's detail.
        detail: String,
    },
    /// The server answered with a problem document (4xx or 5xx).
    #[error("{detail} ({code}{at}, HTTP {status})", at = .field.as_deref().map(|f| format!(", field {f}")).unwrap_or_default())]
    Api {
        /// HTTP status.
        status: u16,
        /// The problem's stable `code` (`not_found`, `invalid_request`, …).
        code: String,
        /// The problem's `detail`.
        detail: String,
        /// The request field at fault, when the problem names one.
        field: Option<String>,
    },
    /// The server answered something that is not what the API answers (a proxy's error page,
    /// a body that is not JSON).
    #[error("unexpected answer from {url} (HTTP {status}): {text}")]
    BadAnswer {
        /// The server's base URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, or what was wrong with it.
        text: String,
    },
    /// No API key anywhere: no flag, no `SBX_API_KEY`, no config file, no dev key.
    #[error(
        "no API key: run `sbx login`, pass --api-key or set SBX_API_KEY (a local `scripts/run` server writes .data/dev-api-key)"
    )]
    NoKey,
    /// The command's input is wrong: a file that cannot be read, a malformed line, a bad URL.
    #[error("{0}")]
    Input(String),
    /// Reading or writing a local file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`writing out/a.txt`).
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl CliError {
    /// An [`CliError::Io`] about `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// The result of a client command.
pub type CliResult<T> = Result<T, CliError>;
