//! What an exec job is made of, as runners receive it and as its row keeps it: the program and
//! its inputs ([`ExecSpec`]) and what came of it ([`ExecOutcome`]). Both the API and the runners
//! speak these types; this crate is where the two meet.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

/// How an exec ended. A limit hit is a status, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    /// The program exited with code 0.
    Succeeded,
    /// The program exited with a non-zero code, or trapped.
    Failed,
    /// The wall-time limit passed; the program was stopped.
    Timeout,
    /// The program needed more memory than its limit allowed.
    MemoryLimit,
    /// The program wrote more than its output limit; it was stopped.
    OutputLimit,
    /// The exec was cancelled before it ended.
    Cancelled,
    /// Our fault: the program could not be run.
    Error,
}

impl ExecStatus {
    /// The snake_case name, as in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::MemoryLimit => "memory_limit",
            Self::OutputLimit => "output_limit",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
        }
    }
}

/// A file the program created or changed under `/workspace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// Wall time the program ran, in milliseconds.
    pub wall_ms: f64,
    /// The most linear memory the program held, in bytes.
    pub memory_peak_bytes: u64,
}

/// The result of an exec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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

/// An exec as the queue keeps it until a runner takes it: everything needed to run it,
/// inputs included, in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedExec {
    /// `python` or `wasi`.
    pub language: String,
    /// Python source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The WASI module, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_b64: Option<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Standard input, base64.
    pub stdin_b64: String,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Input files: (path, base64 content).
    pub files: Vec<(String, String)>,
    /// Limits, resolved.
    pub limits: sbx_limits::ExecLimits,
}

impl QueuedExec {
    /// The queue's form of `spec` under `limits`.
    pub fn new(spec: &ExecSpec, limits: sbx_limits::ExecLimits) -> Self {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let (code, module_b64) = match &spec.program {
            Program::Python { code } => (Some(code.clone()), None),
            Program::Wasi { module } => (None, Some(b64(module))),
        };
        Self {
            language: spec.program.language().to_owned(),
            code,
            module_b64,
            args: spec.args.clone(),
            stdin_b64: b64(&spec.stdin),
            env: spec.env.clone(),
            files: spec
                .files
                .iter()
                .map(|f| (f.path.clone(), b64(&f.content)))
                .collect(),
            limits,
        }
    }

    /// Back to what a runner takes; `Err` names what is corrupt.
    pub fn into_spec(self) -> Result<(ExecSpec, sbx_limits::ExecLimits), String> {
        use base64::Engine as _;
        let d = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| e.to_string())
        };
        let program = match (self.language.as_str(), self.code, self.module_b64) {
            ("python", Some(code), None) => Program::Python { code },
            ("wasi", None, Some(m)) => Program::Wasi {
                module: Arc::from(d(&m)?),
            },
            (l, ..) => {
                return Err(format!(
                    "a queued exec of language {l:?} without its program"
                ));
            }
        };
        let files = self
            .files
            .iter()
            .map(|(path, c)| {
                Ok(InputFile {
                    path: path.clone(),
                    content: d(c)?,
                })
            })
            .collect::<Result<_, String>>()?;
        let spec = ExecSpec {
            program,
            args: self.args,
            stdin: d(&self.stdin_b64)?,
            env: self.env,
            files,
        };
        Ok((spec, self.limits))
    }
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CellOutcome {
    /// `succeeded`, `failed` (an exception, or `exit(n)` with n ≠ 0), `timeout`,
    /// `memory_limit`, `output_limit`, `cancelled` or `error`.
    pub status: ExecStatus,
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
    /// What happened, for any status other than `succeeded` and `failed`, and on a reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Wall time of the call, in milliseconds.
    pub duration_ms: f64,
    /// What the call used; `memory_peak_bytes` is the session's linear memory.
    pub usage: Usage,
}
