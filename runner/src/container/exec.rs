//! Commands run inside a running container, with a wall-time limit and capped output.
//!
//! The limit is enforced inside the container: the command runs under `timeout -s KILL`
//! (coreutils; busybox has a compatible one), which leads its own process group and kills the
//! whole group when time is up, children included. Killing from inside also covers a caller
//! that stops waiting: the command cannot outlive its limit. The host keeps a deadline a little
//! later as a backstop for a process that escaped the group (`setsid`) while holding the output
//! pipe open: we stop reading and report the timeout. An image without `timeout` on `PATH`
//! cannot run execs (exit code 126 or 127 with Docker's message on stdout or stderr).

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;

use super::{RunnerError, from_bollard};

/// How long after the in-container kill the host stops waiting for the output to close.
pub(super) const HOST_DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// How long we wait for Docker to record an exec's exit code once its output has closed
/// (the two are not atomic in the daemon).
const EXIT_CODE_WAIT: Duration = Duration::from_secs(2);

/// Exit status of a process killed by SIGKILL, as shells and Docker report it.
pub(super) const KILLED_STATUS: i64 = 128 + 9;

/// How an exec ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit status; `None` when Docker did not report one (the host deadline
    /// fired with the process still running).
    pub exit_code: Option<i64>,
    /// Standard output, at most the cap.
    pub stdout: Vec<u8>,
    /// Standard error, at most the cap.
    pub stderr: Vec<u8>,
    /// Whether either stream was longer than the cap: reading stopped there, and the
    /// command's processes were killed.
    pub truncated: bool,
    /// Whether the wall-time limit stopped the command.
    pub timed_out: bool,
    /// Wall time from creating the exec to its end.
    pub elapsed: Duration,
}

/// One stream's bytes, up to a cap.
struct Capped {
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Self {
            buf: Vec::new(),
            cap,
            truncated: false,
        }
    }

    fn push(&mut self, data: &[u8]) {
        let room = self.cap - self.buf.len();
        if data.len() > room {
            self.truncated = true;
        }
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// The command line that runs `cmd` under a KILL after `timeout`.
pub(super) fn wrap(cmd: &[String], timeout: Duration) -> Vec<String> {
    // GNU timeout reads 0 as "no limit": one millisecond is the least we ask.
    let ms = timeout.as_millis().max(1);
    let mut wrapped = vec![
        "timeout".to_owned(),
        "-s".to_owned(),
        "KILL".to_owned(),
        format!("{}.{:03}", ms / 1000, ms % 1000),
    ];
    wrapped.extend(cmd.iter().cloned());
    wrapped
}

/// The environment variable that marks a command's processes (its value is the command's
/// own), so that they can be found and stopped: children inherit it.
pub(super) const MARKER: &str = "SANDBOX_COMMAND";

/// Kill, inside container `id`, every process of the command marked `marker`: one that wrote
/// past its output cap ends there, as a wasm program does, rather than run to its time limit.
/// A process that cleared its environment escapes this, not the command's time limit.
/// The kill is started, not waited for: the command's output is closed already.
async fn stop(docker: &Docker, id: &str, marker: &str) {
    if let Err(e) = signal_marked(docker, id, marker, "KILL", false).await {
        tracing::warn!(error = %e, "could not stop a command past its output cap");
    }
}

/// Send `signal` (a name `kill -s` takes: `TERM`, `KILL`, …), inside container `id`, to every
/// process whose environment carries mark `marker` ([`MARKER`]): how many it found. They are
/// all stopped first and continued after, so that each has the signal before any of them
/// runs on (a shell whose children die first would otherwise go on to its next command).
/// One `grep` reads every process's environment (a process each would take seconds on a
/// loaded host). With `wait`, the signals have been sent when it returns; without, they are
/// on their way (and the count is 0). Errors: Docker failed, or took over 5 s.
pub(super) async fn signal_marked(
    docker: &Docker,
    id: &str,
    marker: &str,
    signal: &str,
    wait: bool,
) -> Result<usize, String> {
    let script = format!(
        "pids=$(grep -lxzs '{MARKER}={marker}' /proc/[0-9]*/environ | tr '\\0' '\\n' | cut -d/ -f3); \
         if [ -n \"$pids\" ]; then kill -s STOP $pids; kill -s {signal} $pids; kill -s CONT $pids; fi 2>/dev/null; \
         echo $pids | wc -w"
    );
    let config = ExecConfig {
        cmd: Some(["sh", "-c", &script].map(str::to_owned).to_vec()),
        attach_stdout: Some(wait),
        attach_stderr: Some(wait),
        ..Default::default()
    };
    let run = async {
        let exec = docker.create_exec(id, config).await?;
        let mut said = Vec::new();
        if let StartExecResults::Attached { mut output, .. } = docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await?
        {
            // A count: a few bytes. The image's `wc` could write without end; what is past
            // that is not read.
            while let Some(chunk) = output.next().await {
                if let Ok(LogOutput::StdOut { message }) = chunk {
                    said.extend_from_slice(&message);
                }
                if said.len() > 32 {
                    break;
                }
            }
        }
        Ok::<_, bollard::errors::Error>(said)
    };
    match tokio::time::timeout(Duration::from_secs(5), run).await {
        Ok(Ok(said)) => Ok(String::from_utf8_lossy(&said).trim().parse().unwrap_or(0)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("signalling took over 5 s".into()),
    }
}

/// Runs `cmd` in container `id` as the container's user, in its working dir.
pub(super) async fn run(
    docker: &Docker,
    id: &str,
    cmd: &[String],
    timeout: Duration,
    output_cap: usize,
) -> Result<ExecOutput, RunnerError> {
    if cmd.is_empty() {
        return Err(RunnerError::InvalidSpec(
            "an exec needs a command".to_owned(),
        ));
    }
    let started = Instant::now();
    let marker = uuid::Uuid::now_v7().simple().to_string();
    let exec = docker
        .create_exec(
            id,
            ExecConfig {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(wrap(cmd, timeout)),
                env: Some(vec![format!("{MARKER}={marker}")]),
                ..Default::default()
            },
        )
        .await
        .map_err(from_bollard)?;
    let results = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await
        .map_err(from_bollard)?;
    let StartExecResults::Attached {
        mut output,
        // Held until the end: the exec reads no stdin, but the connection stays whole.
        input: _input,
    } = results
    else {
        return Err(RunnerError::Docker(
            "Docker detached an exec we attached to".to_owned(),
        ));
    };

    let mut stdout = Capped::new(output_cap);
    let mut stderr = Capped::new(output_cap);
    let deadline = tokio::time::Instant::from_std(started + timeout + HOST_DEADLINE_GRACE);
    let mut host_deadline_hit = false;
    loop {
        match tokio::time::timeout_at(deadline, output.next()).await {
            Err(_) => {
                host_deadline_hit = true;
                break;
            }
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => {
                match chunk {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        stdout.push(&message)
                    }
                    LogOutput::StdErr { message } => stderr.push(&message),
                    LogOutput::StdIn { .. } => {}
                }
                // Past the cap: stop reading. Dropping our end closes the command's output,
                // so a program that goes on writing gets EPIPE (SIGPIPE) and ends.
                if stdout.truncated || stderr.truncated {
                    break;
                }
            }
            Ok(Some(Err(e))) => return Err(from_bollard(e)),
        }
    }
    drop(output);
    if stdout.truncated || stderr.truncated {
        stop(docker, id, &marker).await;
    }

    let exit_code = exit_code(docker, &exec.id, !host_deadline_hit).await?;
    let elapsed = started.elapsed();
    let timed_out = host_deadline_hit || (exit_code == Some(KILLED_STATUS) && elapsed >= timeout);
    Ok(ExecOutput {
        exit_code,
        truncated: stdout.truncated || stderr.truncated,
        stdout: stdout.buf,
        stderr: stderr.buf,
        timed_out,
        elapsed,
    })
}

/// The exec's exit code, waiting briefly for Docker to record it when `wait` is set.
pub(super) async fn exit_code(
    docker: &Docker,
    exec_id: &str,
    wait: bool,
) -> Result<Option<i64>, RunnerError> {
    let give_up = Instant::now() + EXIT_CODE_WAIT;
    loop {
        let inspect = docker.inspect_exec(exec_id).await.map_err(from_bollard)?;
        if inspect.running != Some(true) {
            return Ok(inspect.exit_code);
        }
        if !wait || Instant::now() >= give_up {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_keeps_the_first_bytes() {
        let mut c = Capped::new(5);
        c.push(b"abc");
        assert!(!c.truncated);
        c.push(b"defg");
        c.push(b"h");
        assert_eq!(c.buf, b"abcde");
        assert!(c.truncated);
        let mut exact = Capped::new(3);
        exact.push(b"abc");
        assert!(!exact.truncated);
    }

    #[test]
    fn wrap_puts_the_limit_in_seconds() {
        let cmd = ["python3".to_owned(), "-V".to_owned()];
        assert_eq!(
            wrap(&cmd, Duration::from_millis(1500)),
            ["timeout", "-s", "KILL", "1.500", "python3", "-V"]
        );
        assert_eq!(wrap(&cmd, Duration::ZERO)[3], "0.001");
    }
}
