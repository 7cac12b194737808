//! How a guest's run ended and what the caller is told: one pure [`classify`] from what the host
//! saw (how the call returned, whether a limit stopped it) to a status, an exit code and a
//! message, for execs and code-interpreter cells alike. A limit that stopped the guest outranks
//! how the stop looked from inside: a program killed at its output cap may have trapped on the
//! way out, but it ended because of the cap.

use sbx_core::exec::ExecStatus;
use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

use super::DeadlinePassed;
use super::pipes::OutputLimitExceeded;

/// How a guest call ended, as the host saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The guest's code returned, or exited, with this code.
    Exited(i32),
    /// A session's interpreter itself exited with this code (`os._exit`, or C code calling
    /// `exit`): the call ended and so did the interpreter.
    InterpreterExited(i32),
    /// Its wall-time limit passed: the epoch deadline trapped it, or the host stopped waiting.
    Deadline,
    /// The write that passed its output cap stopped it.
    OutputLimit,
    /// The caller cancelled it.
    Cancelled,
    /// It trapped, or the runtime stopped it: the account in words (see `describe_trap`).
    Trapped(String),
    /// The host's side of the protocol failed (a session's turn that did not report): ours.
    Broken(String),
}

/// What runs: an exec (a fresh instance per run) or a call in a session's interpreter. The
/// words differ ("the program" and "the call"), and so does the memory rule: a session's
/// interpreter that was refused memory and did not succeed ran out of memory whatever else
/// stopped it, while an exec that timed out after a refusal timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// An exec under its own memory limit.
    Exec,
    /// A call in a code-interpreter session, under the session's memory limit.
    Cell,
}

/// What the host knows of the run besides its ending, and the limits it ran under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// A stream passed its output cap.
    pub output_truncated: bool,
    /// The memory limiter refused a growth.
    pub memory_refused: bool,
    /// The wall-time limit, in milliseconds.
    pub timeout_ms: u64,
    /// The output cap per stream, in bytes.
    pub output_limit_bytes: u64,
    /// The memory limit, in bytes.
    pub memory_limit_bytes: u64,
    /// The disk cap was full (no byte or no file left) when the run ended.
    pub disk_full: bool,
    /// The disk cap, in bytes.
    pub disk_limit_bytes: u64,
}

/// What the caller is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status.
    pub status: ExecStatus,
    /// The exit code, when the code exited.
    pub exit_code: Option<i32>,
    /// Why the status is what it is, when that needs saying.
    pub message: Option<String>,
    /// The guest was stopped mid-way (not by its own return): a session's interpreter is then
    /// in no known state and must be restarted.
    pub stopped: bool,
}

/// The verdict on a run that ended as `ending`, with `seen` of it, for `subject`.
pub fn classify(ending: Ending, seen: Observed, subject: Subject) -> Verdict {
    let what = match subject {
        Subject::Exec => "program",
        Subject::Cell => "call",
    };
    let timeout = || {
        Some(format!(
            "the {what} ran past its time limit of {} ms and was stopped",
            seen.timeout_ms
        ))
    };
    let stopped = !matches!(ending, Ending::Exited(_));
    let (mut status, exit_code, mut message, trap) = match ending {
        Ending::Exited(0) => (ExecStatus::Succeeded, Some(0), None, None),
        Ending::Exited(code) => (ExecStatus::Failed, Some(code), None, None),
        Ending::InterpreterExited(code) => (
            if code == 0 {
                ExecStatus::Succeeded
            } else {
                ExecStatus::Failed
            },
            Some(code),
            Some(format!(
                "the interpreter exited with code {code} (os._exit, or native code calling exit)"
            )),
            None,
        ),
        Ending::Deadline => (ExecStatus::Timeout, None, timeout(), None),
        Ending::OutputLimit => (ExecStatus::OutputLimit, None, None, None),
        Ending::Cancelled => (
            ExecStatus::Cancelled,
            None,
            Some(match subject {
                Subject::Exec => "the exec was cancelled".to_owned(),
                Subject::Cell => "the call was cancelled".to_owned(),
            }),
            None,
        ),
        Ending::Trapped(t) => (ExecStatus::Failed, None, Some(t.clone()), Some(t)),
        Ending::Broken(why) => (ExecStatus::Error, None, Some(why), None),
    };
    let ran_out_of_memory = seen.memory_refused
        && match subject {
            Subject::Exec => status == ExecStatus::Failed,
            Subject::Cell => status != ExecStatus::Succeeded,
        };
    // A program that failed with its disk full failed because of it (a write or an open
    // refused with ENOSPC); one that coped and succeeded did not.
    let ran_out_of_disk = seen.disk_full && status == ExecStatus::Failed;
    if seen.output_truncated {
        status = ExecStatus::OutputLimit;
        message = Some(format!(
            "output passed the limit of {} bytes per stream; the {what} was stopped",
            seen.output_limit_bytes
        ));
    } else if ran_out_of_memory {
        status = ExecStatus::MemoryLimit;
        let mib = seen.memory_limit_bytes >> 20;
        message = Some(match subject {
            Subject::Exec => format!(
                "the program needed more than its memory limit of {mib} MiB{}",
                trap.map(|t| format!(" ({t})")).unwrap_or_default()
            ),
            Subject::Cell => {
                format!("the call needed more than the session's memory limit of {mib} MiB")
            }
        });
    } else if ran_out_of_disk {
        status = ExecStatus::DiskLimit;
        message = Some(format!(
            "the {what} filled its disk cap of {} MiB ({} files at most) for /workspace and /tmp",
            seen.disk_limit_bytes >> 20,
            crate::disk::inodes_for(seen.disk_limit_bytes)
        ));
    }
    Verdict {
        status,
        exit_code,
        message,
        stopped,
    }
}

// What follows reads wasmtime's errors; `classify` above stays pure.

/// How a guest call that returned `e` ended: an exit (`proc_exit`), a limit's stop, or a trap.
pub(super) fn ending_of(e: &wasmtime::Error) -> Ending {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        Ending::Exited(exit.0)
    } else if e.downcast_ref::<DeadlinePassed>().is_some() {
        Ending::Deadline
    } else if e.downcast_ref::<OutputLimitExceeded>().is_some() {
        Ending::OutputLimit
    } else {
        Ending::Trapped(describe_trap(e))
    }
}

/// A trap in words for the caller. The error's wasm backtrace is for us: it goes to the log,
/// never into the message.
pub(super) fn describe_trap(e: &wasmtime::Error) -> String {
    tracing::debug!(error = ?e, "a guest trapped");
    match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => {
            "the program exhausted its stack (wasm trap: call stack exhausted)".to_owned()
        }
        Some(t) => format!("the program trapped: {t}"),
        None => format!("the program was stopped: {}", e.root_cause()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEN: Observed = Observed {
        output_truncated: false,
        memory_refused: false,
        timeout_ms: 1000,
        output_limit_bytes: 64,
        memory_limit_bytes: 128 << 20,
        disk_full: false,
        disk_limit_bytes: 64 << 20,
    };

    fn truncated() -> Observed {
        Observed {
            output_truncated: true,
            ..SEEN
        }
    }

    fn refused() -> Observed {
        Observed {
            memory_refused: true,
            ..SEEN
        }
    }

    fn status(e: Ending, seen: Observed, s: Subject) -> ExecStatus {
        classify(e, seen, s).status
    }

    #[test]
    fn a_failure_on_a_full_disk_is_the_disk_limit_and_a_success_is_not() {
        let full = Observed {
            disk_full: true,
            ..SEEN
        };
        for s in [Subject::Exec, Subject::Cell] {
            let v = classify(Ending::Exited(1), full, s);
            assert_eq!((v.status, v.exit_code), (ExecStatus::DiskLimit, Some(1)));
            assert!(
                v.message
                    .unwrap()
                    .contains("disk cap of 64 MiB (4096 files at most)")
            );
            assert_eq!(status(Ending::Exited(0), full, s), ExecStatus::Succeeded);
            assert_eq!(status(Ending::Exited(1), SEEN, s), ExecStatus::Failed);
        }
    }

    #[test]
    fn an_interpreter_that_exits_is_reset_and_says_so_in_words() {
        let v = classify(Ending::InterpreterExited(4), SEEN, Subject::Cell);
        assert_eq!(
            (v.status, v.exit_code, v.stopped),
            (ExecStatus::Failed, Some(4), true)
        );
        assert!(
            v.message
                .unwrap()
                .starts_with("the interpreter exited with code 4")
        );
        let v = classify(Ending::InterpreterExited(0), SEEN, Subject::Cell);
        assert_eq!((v.status, v.stopped), (ExecStatus::Succeeded, true));
    }

    #[test]
    fn exits_are_results_with_their_code() {
        for s in [Subject::Exec, Subject::Cell] {
            let ok = classify(Ending::Exited(0), SEEN, s);
            assert_eq!(
                (ok.status, ok.exit_code, ok.stopped),
                (ExecStatus::Succeeded, Some(0), false)
            );
            assert_eq!(ok.message, None);
            let failed = classify(Ending::Exited(3), SEEN, s);
            assert_eq!(
                (failed.status, failed.exit_code),
                (ExecStatus::Failed, Some(3))
            );
        }
    }

    #[test]
    fn time_obeyed_and_violated() {
        assert_eq!(
            status(Ending::Exited(0), SEEN, Subject::Exec),
            ExecStatus::Succeeded
        );
        let v = classify(Ending::Deadline, SEEN, Subject::Exec);
        assert_eq!((v.status, v.stopped), (ExecStatus::Timeout, true));
        assert_eq!(
            v.message.as_deref(),
            Some("the program ran past its time limit of 1000 ms and was stopped")
        );
        let c = classify(Ending::Deadline, SEEN, Subject::Cell);
        assert!(c.message.unwrap().starts_with("the call ran past"));
    }

    #[test]
    fn output_obeyed_and_violated_and_the_cap_outranks_the_ending() {
        assert_eq!(
            status(Ending::Exited(0), SEEN, Subject::Exec),
            ExecStatus::Succeeded
        );
        for e in [
            Ending::Exited(0),
            Ending::OutputLimit,
            Ending::Trapped("x".into()),
            Ending::Deadline,
        ] {
            let v = classify(e.clone(), truncated(), Subject::Exec);
            assert_eq!(v.status, ExecStatus::OutputLimit, "{e:?}");
            assert_eq!(
                v.message.as_deref(),
                Some("output passed the limit of 64 bytes per stream; the program was stopped")
            );
        }
        // Stopped by the cap's trap before the pipe noted it: still the output limit.
        assert_eq!(
            status(Ending::OutputLimit, SEEN, Subject::Cell),
            ExecStatus::OutputLimit
        );
    }

    #[test]
    fn memory_obeyed_and_violated() {
        let trap = Ending::Trapped("the program trapped: unreachable".into());
        assert_eq!(
            status(trap.clone(), SEEN, Subject::Exec),
            ExecStatus::Failed
        );
        let v = classify(trap, refused(), Subject::Exec);
        assert_eq!(v.status, ExecStatus::MemoryLimit);
        assert_eq!(
            v.message.as_deref(),
            Some(
                "the program needed more than its memory limit of 128 MiB (the program trapped: unreachable)"
            )
        );
        // A refusal the program survived is no limit hit.
        assert_eq!(
            status(Ending::Exited(0), refused(), Subject::Exec),
            ExecStatus::Succeeded
        );
        // An exec that timed out after a refusal timed out; a session's call ran out of memory.
        assert_eq!(
            status(Ending::Deadline, refused(), Subject::Exec),
            ExecStatus::Timeout
        );
        let c = classify(Ending::Deadline, refused(), Subject::Cell);
        assert_eq!(c.status, ExecStatus::MemoryLimit);
        assert_eq!(
            c.message.as_deref(),
            Some("the call needed more than the session's memory limit of 128 MiB")
        );
    }

    #[test]
    fn cancels_traps_and_our_faults_say_so() {
        let v = classify(Ending::Cancelled, SEEN, Subject::Exec);
        assert_eq!(
            (v.status, v.message.as_deref()),
            (ExecStatus::Cancelled, Some("the exec was cancelled"))
        );
        let v = classify(Ending::Trapped("stack".into()), SEEN, Subject::Cell);
        assert_eq!(
            (v.status, v.message.as_deref(), v.stopped),
            (ExecStatus::Failed, Some("stack"), true)
        );
        let v = classify(Ending::Broken("no report".into()), SEEN, Subject::Cell);
        assert_eq!((v.status, v.stopped), (ExecStatus::Error, true));
    }
}
