//! Background processes in a container sandbox (`POST /v1/sandboxes/{id}/processes`): what one
//! is asked to run, what is known of it, the signals it can be sent, the events of its output,
//! and what a runner answers when it cannot do what was asked.
//!
//! A process lives on the runner that runs its sandbox, in memory: it has a number there
//! ([`ProcessInfo::pid`], 1, 2, … per placement; not the kernel's pid), its output is kept in a
//! ring of [`MAX_LOG_BYTES`] for readers that come late or reconnect, and it is gone when the
//! sandbox pauses (its container stops) or ends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Processes a sandbox keeps at once, running or ended; starting one more drops the oldest
/// ended one, and is refused while this many run.
pub const MAX_PROCESSES: usize = 32;
/// Bytes of output kept per process (stdout and stderr together, as text); older output is
/// dropped first.
pub const MAX_LOG_BYTES: usize = 1 << 20;
/// Bytes a tag may have (`[A-Za-z0-9._-]`).
pub const MAX_TAG_BYTES: usize = 64;
/// The longest `timeout_ms` a process may ask for: 7 days (its sandbox's own timeout ends it
/// earlier).
pub const MAX_PROCESS_TIMEOUT_MS: u64 = 7 * 24 * 3600 * 1000;
/// Bytes one `POST …/stdin` may carry.
pub const MAX_STDIN_BYTES: usize = 1 << 20;
/// The widest and tallest terminal, in character cells.
pub const MAX_TERMINAL_CELLS: u16 = 1000;

/// A terminal's size in character cells (`cols` × `rows`), each 1 to [`MAX_TERMINAL_CELLS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

impl Default for TerminalSize {
    /// 80 × 24, a VT100's.
    fn default() -> Self {
        Self { cols: 80, rows: 24 }
    }
}

impl TerminalSize {
    /// The size checked: a dimension of 0 or over [`MAX_TERMINAL_CELLS`] is named.
    pub fn check(self) -> Result<Self, ProcessError> {
        for (field, n) in [("cols", self.cols), ("rows", self.rows)] {
            if !(1..=MAX_TERMINAL_CELLS).contains(&n) {
                return Err(ProcessError::Invalid {
                    field,
                    detail: format!("{field} is 1 to {MAX_TERMINAL_CELLS} character cells"),
                });
            }
        }
        Ok(self)
    }
}

/// A process to start in a container sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// The program and its arguments, as argv (`["python3", "-m", "http.server", "8000"]`),
    /// run as the sandbox user, with the sandbox's environment.
    pub command: Vec<String>,
    /// Variables added to the sandbox's environment for this process.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Its working directory, an absolute path in the sandbox; default `/workspace`.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Whether its standard input stays open for `POST …/processes/{pid}/stdin`; otherwise it
    /// reads end-of-file at once.
    #[serde(default)]
    pub stdin: bool,
    /// Wall-time limit in ms, after which it and everything it started are killed (`SIGKILL`);
    /// none by default (it runs until it exits, is signalled, or its sandbox stops).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 604_800_000))]
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// A label of the caller's, to find it again in the list (1 to 64 of `[A-Za-z0-9._-]`).
    #[serde(default)]
    pub tag: Option<String>,
}

crate::vocabulary! {
    /// Where a process is in its life.
    ProcessState ("process state") {
        /// Started, not ended.
        Running = "running",
        /// Ended: see `exit_code`, `signal` and `timed_out`.
        Exited = "exited",
    }
}

crate::vocabulary! {
    /// A signal a process can be sent (with the names `kill -s` takes).
    Signal ("signal") {
        /// `SIGTERM` (15): ask it to end.
        Term = "TERM",
        /// `SIGKILL` (9): end it now.
        Kill = "KILL",
        /// `SIGINT` (2): what Ctrl-C sends.
        Int = "INT",
        /// `SIGHUP` (1): its terminal went away.
        Hup = "HUP",
    }
}

/// What is known of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessInfo {
    /// Its number in this sandbox (1, 2, …), in `…/processes/{pid}`: sbx's, not the kernel's.
    pub pid: u32,
    /// The caller's label, if it gave one.
    pub tag: Option<String>,
    /// The argv it runs.
    pub command: Vec<String>,
    /// Its working directory.
    pub cwd: String,
    /// Whether its standard input is open for writing (started with `stdin: true`, not
    /// closed, not exited).
    pub stdin: bool,
    /// `running` or `exited`.
    pub state: ProcessState,
    /// Its exit code once it exited; 128 + n when signal n ended it (137 for `SIGKILL`), as
    /// shells report it; none when the sandbox's stop ended it unrecorded.
    pub exit_code: Option<i64>,
    /// Whether its `timeout_ms` ended it.
    pub timed_out: bool,
    /// Whether it runs in a terminal (a shell started by `GET …/pty`, reattached with
    /// `?pid=`); its output is the terminal's, stdout and stderr as one.
    #[serde(default)]
    pub tty: bool,
    /// When it started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When it ended.
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The processes of a sandbox, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessList {
    /// Running and ended processes (at most [`MAX_PROCESSES`]), by `pid`.
    pub processes: Vec<ProcessInfo>,
}

/// What a signal asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    /// `TERM`, `KILL`, `INT` or `HUP`: sent to the process and every process it started.
    pub signal: Signal,
}

/// One event of a process's output, as its log stream gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessEvent {
    /// Output, as text (see [`crate::ChunkText`]), numbered from 1 in the order written.
    Output {
        /// Its number: a reader that reconnects sends the last it had (`Last-Event-ID`).
        seq: u64,
        /// The stream it was written to.
        stream: crate::OutputStream,
        /// The text.
        text: String,
    },
    /// Output before `first` was dropped from the ring before this reader read it.
    Dropped {
        /// The first number still kept.
        first: u64,
    },
    /// The process ended: the last event.
    End(ProcessInfo),
}

/// Why a runner could not do what was asked of a process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// The sandbox is not running on this runner (paused, moved or ended meanwhile).
    #[error("the sandbox is not running on this runner (paused or ended meanwhile)")]
    NotRunning,
    /// No process has that number in this placement of the sandbox.
    #[error(
        "no process {0} in this sandbox (processes end when their sandbox pauses, and only the last {MAX_PROCESSES} are kept)"
    )]
    NoSuchProcess(u32),
    /// The process ended: it takes no input or signal.
    #[error("process {0} has exited")]
    Exited(u32),
    /// It was started without `stdin: true`, or its input was closed.
    #[error("process {0}'s standard input is not open (start it with \"stdin\": true)")]
    NoStdin(u32),
    /// The process could not be found in its container to signal (it cleared its
    /// environment, or ran its course meanwhile).
    #[error(
        "process {0} could not be found in its container (it cleared its environment, or is ending)"
    )]
    Unmarked(u32),
    /// The process was not started in a terminal: it cannot be attached to one.
    #[error("process {0} is not a terminal (start one with GET …/pty)")]
    NotTerminal(u32),
    /// [`MAX_PROCESSES`] run already.
    #[error("{MAX_PROCESSES} processes are running in this sandbox already")]
    TooMany,
    /// A field of the request is wrong.
    #[error("{field}: {detail}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// Docker failed.
    #[error("the container runtime failed: {0}")]
    Runtime(String),
}

/// A process's output events, in batches, the last batch an [`ProcessEvent::End`].
pub type LogEvents = futures_util::stream::BoxStream<'static, Vec<ProcessEvent>>;

/// The background processes of one container sandbox running on this runner: what its
/// internal endpoint serves.
pub trait SandboxProcesses: Send + Sync {
    /// Start `spec` (checked), answering once it runs. Errors: [`ProcessError::TooMany`], a
    /// runtime failure.
    fn start(&self, spec: ProcessSpec) -> crate::BoxFuture<'_, Result<ProcessInfo, ProcessError>>;
    /// Start a login shell (bash if the image has it, else sh) in a terminal of `size`, its
    /// input open, answering once it runs. Errors: as [`Self::start`].
    fn start_terminal(
        &self,
        size: TerminalSize,
    ) -> crate::BoxFuture<'_, Result<ProcessInfo, ProcessError>>;
    /// Resize process `pid`'s terminal. Errors: no such process, it exited, it is not a
    /// terminal, a runtime failure.
    fn resize(
        &self,
        pid: u32,
        size: TerminalSize,
    ) -> crate::BoxFuture<'_, Result<(), ProcessError>>;
    /// Every process kept, by pid.
    fn list(&self) -> Vec<ProcessInfo>;
    /// Process `pid`. Errors: [`ProcessError::NoSuchProcess`].
    fn get(&self, pid: u32) -> Result<ProcessInfo, ProcessError>;
    /// Write `data` to process `pid`'s standard input, then close it if `close`. Errors: no
    /// such process, it exited, its input is not open, the write failed.
    fn write_stdin(
        &self,
        pid: u32,
        data: bytes::Bytes,
        close: bool,
    ) -> crate::BoxFuture<'_, Result<(), ProcessError>>;
    /// Send `signal` to process `pid` and every process it started. Errors: no such process,
    /// it exited, a runtime failure.
    fn signal(&self, pid: u32, signal: Signal) -> crate::BoxFuture<'_, Result<(), ProcessError>>;
    /// Process `pid`'s output after event `after` (0: all that is kept); with `follow`, then
    /// as it is written until it ends, else only what is kept now (with the end if it ended).
    /// Errors: no such process.
    fn logs(&self, pid: u32, after: u64, follow: bool) -> Result<LogEvents, ProcessError>;
}

impl ProcessSpec {
    /// The spec checked: a tag, working directory, timeout or input that is malformed or out of
    /// range is named. (Command and environment are checked by the API's shared rules.)
    pub fn check(&self) -> Result<(), ProcessError> {
        let invalid = |field, detail: &str| ProcessError::Invalid {
            field,
            detail: detail.to_owned(),
        };
        if let Some(tag) = &self.tag
            && (tag.is_empty()
                || tag.len() > MAX_TAG_BYTES
                || !tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
        {
            return Err(invalid(
                "tag",
                "a tag is 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'",
            ));
        }
        if let Some(cwd) = &self.cwd
            && (!cwd.starts_with('/') || cwd.len() > 4096 || cwd.contains('\0'))
        {
            return Err(invalid(
                "cwd",
                "cwd is an absolute path (at most 4096 bytes, no NUL)",
            ));
        }
        if let Some(t) = self.timeout_ms
            && !(1..=MAX_PROCESS_TIMEOUT_MS).contains(&t)
        {
            return Err(invalid(
                "timeout_ms",
                "timeout_ms is 1 to 604800000 (7 days)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProcessSpec {
        ProcessSpec {
            command: vec!["sleep".into(), "1".into()],
            env: BTreeMap::new(),
            cwd: None,
            stdin: false,
            timeout_ms: None,
            tag: None,
        }
    }

    #[test]
    fn vocabularies_round_trip() {
        crate::tests::round_trips(ProcessState::ALL);
        crate::tests::round_trips(Signal::ALL);
    }

    #[test]
    fn check_names_the_field() {
        assert_eq!(spec().check(), Ok(()));
        let field = |s: ProcessSpec| match s.check() {
            Err(ProcessError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        for tag in ["", "a b", &"x".repeat(65), "é"] {
            let s = ProcessSpec {
                tag: Some(tag.into()),
                ..spec()
            };
            assert_eq!(field(s), "tag", "{tag:?}");
        }
        for cwd in ["workspace", "/a\0b"] {
            let s = ProcessSpec {
                cwd: Some(cwd.into()),
                ..spec()
            };
            assert_eq!(field(s), "cwd");
        }
        for t in [0, MAX_PROCESS_TIMEOUT_MS + 1] {
            let s = ProcessSpec {
                timeout_ms: Some(t),
                ..spec()
            };
            assert_eq!(field(s), "timeout_ms");
        }
        let ok = ProcessSpec {
            tag: Some("web-1.0_a".into()),
            cwd: Some("/outputs".into()),
            timeout_ms: Some(MAX_PROCESS_TIMEOUT_MS),
            ..spec()
        };
        assert_eq!(ok.check(), Ok(()));
    }

    #[test]
    fn a_terminal_size_is_1_to_1000_cells_each_way() {
        let size = |cols, rows| TerminalSize { cols, rows }.check();
        assert_eq!(
            size(1, 1000),
            Ok(TerminalSize {
                cols: 1,
                rows: 1000
            })
        );
        for (s, field) in [(size(0, 24), "cols"), (size(80, 1001), "rows")] {
            match s {
                Err(ProcessError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<ProcessSpec>(r#"{"command":["ls"],"cmd":1}"#);
        assert!(e.is_err());
        let s: ProcessSpec = serde_json::from_str(r#"{"command":["ls"]}"#).unwrap();
        assert!(!s.stdin && s.env.is_empty());
    }
}
