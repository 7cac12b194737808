//! What an exec is made of and what comes of it: the program and its inputs ([`ExecSpec`]),
//! how it ended ([`ExecOutcome`]); the same for a code-interpreter cell ([`CellSpec`],
//! [`CellOutcome`]) and a command in a container sandbox ([`CommandOutcome`]). The API, the
//! store and the runners all speak these types.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The program an exec runs.
#[derive(Debug, Clone)]
pub enum Program {
    /// Python source, run as `python -c code`.
    Python {
        /// The source.
        code: String,
    },
    /// A WASI preview-1 command module, run through its `_start` export.
    Wasi {
        /// The module's bytes (binary or text format).
        module: Arc<[u8]>,
    },
}

impl Program {
    /// The language name the API uses.
    pub fn language(&self) -> &'static str {
        match self {
            Self::Python { .. } => "python",
            Self::Wasi { .. } => "wasi",
        }
    }
}

/// A file handed to an exec, placed under `/workspace`.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Path relative to `/workspace`, already checked: no `..`, not absolute, not empty.
    pub path: String,
    /// The file's bytes.
    pub content: Vec<u8>,
}

/// A program's output as text: invalid UTF-8 and NUL both become U+FFFD. PostgreSQL keeps
/// neither a NUL in `text` nor `\u0000` in `jsonb`, and one would fail the whole statement
/// that records the result.
pub fn output_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.into_owned()
    }
}

/// Everything a runner needs to run one exec, checked by the API.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    /// What to run.
    pub program: Program,
    /// Arguments after the program (`sys.argv[1:]` in Python).
    pub args: Vec<String>,
    /// Bytes on standard input.
    pub stdin: Vec<u8>,
    /// Environment variables, added to the runtime's own.
    pub env: Vec<(String, String)>,
    /// Files placed under `/workspace` before the program starts.
    pub files: Vec<InputFile>,
}

impl ExecSpec {
    /// Python `code`, with no arguments, input, environment or files.
    pub fn python(code: impl Into<String>) -> Self {
        Self {
            program: Program::Python { code: code.into() },
            args: vec![],
            stdin: vec![],
            env: vec![],
            files: vec![],
        }
    }
}

crate::vocabulary! {
    /// How an exec ended. A limit hit is a status, not an error.
    ExecStatus ("exec status") {
        /// The program exited with code 0.
        Succeeded = "succeeded",
        /// The program exited with a non-zero code, or trapped.
        Failed = "failed",
        /// The wall-time limit passed; the program was stopped.
        Timeout = "timeout",
        /// The program needed more memory than its limit allowed.
        MemoryLimit = "memory_limit",
        /// The program wrote more than its output limit; it was stopped.
        OutputLimit = "output_limit",
        /// The program failed with its disk cap full: a write or a new file was refused
        /// (`ENOSPC` inside the guest).
        DiskLimit = "disk_limit",
        /// The exec was cancelled before it ended.
        Cancelled = "cancelled",
        /// Our fault: the program could not be run.
        Error = "error",
    }
}

/// A file the program created or changed under `/workspace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputFile {
    /// Path relative to `/workspace`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The content, when it is UTF-8 text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The content in base64, when it is not UTF-8 text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_b64: Option<String>,
}

/// What an exec used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Wall time the program ran, in milliseconds.
    pub wall_ms: f64,
    /// The most linear memory the program held, in bytes.
    pub memory_peak_bytes: u64,
}

/// The result of an exec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecOutcome {
    /// How it ended.
    pub status: ExecStatus,
    /// The exit code, when the program exited.
    pub exit_code: Option<i32>,
    /// Standard output (invalid UTF-8 and NUL replaced: [`output_text`]), cut at the output
    /// limit.
    pub stdout: String,
    /// Standard error (as `stdout`), cut at the output limit.
    pub stderr: String,
    /// The streams that were cut at the output limit: `stdout`, `stderr`.
    pub truncated: Vec<String>,
    /// Wall time from the start of the exec to its end, in milliseconds.
    pub duration_ms: f64,
    /// Files created or changed under `/workspace`, up to the files cap.
    pub files: Vec<OutputFile>,
    /// Files created or changed but left out of `files` by the cap.
    #[serde(default)]
    pub files_omitted: u32,
    /// Why the status is what it is, for statuses other than `succeeded` and `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the exec used.
    pub usage: Usage,
}

/// One call to a code-interpreter session: a cell of Python run in its persistent interpreter.
#[derive(Debug, Clone)]
pub struct CellSpec {
    /// The source. When its last statement is an expression, that expression's value is
    /// returned as `result`, as a notebook shows it.
    pub code: String,
    /// Files placed under `/workspace` before the cell runs (they stay there).
    pub files: Vec<InputFile>,
    /// The cell's own wall-time limit.
    pub timeout_ms: u64,
    /// Cap per output stream, in bytes.
    pub output_limit_bytes: u64,
}

/// How a session call ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CellOutcome {
    /// `succeeded`, `failed` (an exception, or `exit(n)` with n ≠ 0), `timeout`,
    /// `memory_limit`, `output_limit`, `cancelled` or `error` (ours: the code never ran).
    pub status: ExecStatus,
    /// The exit code, when the code exited: `sys.exit(n)`, `exit()`, `quit()` or
    /// `raise SystemExit(…)` end the cell (0 for no code or `None`, 1 for a message) and keep
    /// the interpreter; `os._exit(n)` ends the interpreter too (`reset`). `null` otherwise.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The `repr()` of the cell's final expression, when it has one and it is not `None`.
    pub result: Option<String>,
    /// Standard output of this call, cut at the output limit.
    pub stdout: String,
    /// Standard error of this call (tracebacks land here), cut at the output limit.
    pub stderr: String,
    /// The streams that were cut at the output limit.
    pub truncated: Vec<String>,
    /// Files this call created or changed under `/workspace`.
    pub files: Vec<OutputFile>,
    /// Files changed but left out of `files` by the cap.
    #[serde(default)]
    pub files_omitted: u32,
    /// matplotlib figures left open by the call, as PNG files (`figure-1.png`, …), then
    /// closed.
    pub figures: Vec<OutputFile>,
    /// Whether the interpreter had to be restarted because the call was stopped mid-way (a
    /// limit or a trap): variables and imports from earlier calls are gone; files remain.
    pub reset: bool,
    /// What happened, in one line, for any status other than `succeeded` and `failed`, on a
    /// reset, and on an exit (`SystemExit: 3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Wall time of the call, in milliseconds.
    pub duration_ms: f64,
    /// What the call used; `memory_peak_bytes` is the session's linear memory.
    pub usage: Usage,
}

/// A command's result inside a container sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommandOutcome {
    /// `succeeded` (exit 0), `failed`, `timeout` or `output_limit`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: ExecStatus,
    /// The exit code, when the command exited.
    pub exit_code: Option<i64>,
    /// Standard output, cut at the cap.
    pub stdout: String,
    /// Standard error, cut at the cap.
    pub stderr: String,
    /// Whether output was cut.
    pub truncated: bool,
    /// Wall time in milliseconds, as the runner measured it.
    pub duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_statuses_round_trip() {
        crate::tests::round_trips(ExecStatus::ALL);
    }

    #[test]
    fn output_text_replaces_nul_and_invalid_utf8() {
        assert_eq!(output_text(b"a\0b\xffc"), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(output_text("10%\r50%\n".as_bytes()), "10%\r50%\n");
    }
}
