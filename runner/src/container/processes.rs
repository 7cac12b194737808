//! Background processes in a container sandbox: started with a Docker exec that the runner
//! stays attached to, numbered per placement, their output kept in a ring for late and
//! reconnecting readers, their input open when asked, signalled by the mark they carry.
//!
//! Each process runs with `SANDBOX_COMMAND=<mark>` in its environment, as a command of
//! [`super::exec`] does; children inherit it, so a signal reaches the process and every
//! process it started (a process that clears its environment escapes a signal, not its
//! `timeout_ms`, which `timeout -s KILL` enforces from inside as for commands). The table lives
//! as long as the placement: a pause stops the container, the processes' output ends, and the
//! next placement starts with an empty table.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use sbx_core::BoxFuture;
use sbx_core::OutputStream;
use sbx_core::backend::ChunkText;
use sbx_core::process::{
    LogEvents, MAX_PROCESSES, ProcessError, ProcessEvent, ProcessInfo, ProcessSpec, ProcessState,
    SandboxProcesses, Signal, TerminalSize,
};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::output_ring::OutputRing;

/// A reader that waits this long for output is sent a comment, so that idle connections stay
/// open and one whose reader went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a write to a process's input may wait for it to read.
const STDIN_WAIT: Duration = Duration::from_secs(10);
/// What a terminal runs: a login shell, bash where the image has it.
const SHELL: [&str; 3] = [
    "/bin/sh",
    "-c",
    "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi",
];

/// The processes of one placement of a container sandbox.
#[derive(Default)]
pub struct Processes {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_pid: u32,
    /// Numbers given out for processes still starting.
    starting: usize,
    procs: BTreeMap<u32, Arc<Process>>,
}

/// One process.
struct Process {
    /// The value of its `SANDBOX_COMMAND` mark.
    mark: String,
    /// Its Docker exec's id.
    exec: String,
    /// When it was started.
    started: Instant,
    state: Mutex<Record>,
    /// Its standard input while open.
    input: tokio::sync::Mutex<Option<Pin<Box<dyn AsyncWrite + Send>>>>,
    /// Bumped on each output and at the end: readers wait on it.
    changed: tokio::sync::watch::Sender<()>,
}

/// What is known of a process and the output it kept.
struct Record {
    info: ProcessInfo,
    output: OutputRing,
}

/// A handle on a sandbox's processes while its container runs here.
pub struct Here {
    /// Docker.
    pub docker: Docker,
    /// The sandbox's container.
    pub container: String,
    /// Its processes.
    pub table: Arc<Processes>,
}

impl SandboxProcesses for Here {
    fn start(&self, spec: ProcessSpec) -> BoxFuture<'_, Result<ProcessInfo, ProcessError>> {
        Box::pin(self.start(spec, None))
    }

    fn start_terminal(
        &self,
        size: TerminalSize,
    ) -> BoxFuture<'_, Result<ProcessInfo, ProcessError>> {
        let spec = ProcessSpec {
            command: SHELL.map(str::to_owned).to_vec(),
            env: [("TERM".to_owned(), "xterm-256color".to_owned())].into(),
            cwd: None,
            stdin: true,
            timeout_ms: None,
            tag: None,
        };
        Box::pin(self.start(spec, Some(size)))
    }

    fn resize(&self, pid: u32, size: TerminalSize) -> BoxFuture<'_, Result<(), ProcessError>> {
        Box::pin(self.resize(pid, size))
    }

    fn list(&self) -> Vec<ProcessInfo> {
        let procs: Vec<_> = self.table.lock().procs.values().cloned().collect();
        procs.iter().map(|p| p.record().info.clone()).collect()
    }

    fn get(&self, pid: u32) -> Result<ProcessInfo, ProcessError> {
        Ok(self.table.process(pid)?.record().info.clone())
    }

    fn write_stdin(
        &self,
        pid: u32,
        data: bytes::Bytes,
        close: bool,
    ) -> BoxFuture<'_, Result<(), ProcessError>> {
        Box::pin(self.write_stdin(pid, data, close))
    }

    fn signal(&self, pid: u32, signal: Signal) -> BoxFuture<'_, Result<(), ProcessError>> {
        Box::pin(self.signal(pid, signal))
    }

    fn logs(&self, pid: u32, after: u64, follow: bool) -> Result<LogEvents, ProcessError> {
        self.logs(pid, after, follow)
    }
}

impl Here {
    /// Start `spec` (already checked), in a terminal of that size if `tty`, answering once
    /// Docker started it. Errors: the table is full of running processes
    /// ([`ProcessError::TooMany`]), Docker failed.
    async fn start(
        &self,
        spec: ProcessSpec,
        tty: Option<TerminalSize>,
    ) -> Result<ProcessInfo, ProcessError> {
        let reserved = self.table.reserve()?;
        let pid = reserved.pid;
        let mark = uuid::Uuid::now_v7().simple().to_string();
        let cwd = spec
            .cwd
            .clone()
            .unwrap_or_else(|| super::spec::WORKSPACE_DIR.to_owned());
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("{}={mark}", super::exec::MARKER));
        let timeout = spec.timeout_ms.map(Duration::from_millis);
        let cmd = match timeout {
            Some(t) => super::exec::wrap(&spec.command, t),
            None => spec.command.clone(),
        };
        let started = Instant::now();
        let runtime = |e: bollard::errors::Error| ProcessError::Runtime(e.to_string());
        let exec = self
            .docker
            .create_exec(
                &self.container,
                ExecConfig {
                    attach_stdin: Some(spec.stdin),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(cmd),
                    env: Some(env),
                    working_dir: Some(cwd.clone()),
                    tty: Some(tty.is_some()),
                    console_size: tty.map(|s| vec![usize::from(s.rows), usize::from(s.cols)]),
                    ..Default::default()
                },
            )
            .await
            .map_err(runtime)?;
        let results = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: tty.is_some(),
                    output_capacity: None,
                }),
            )
            .await
            .map_err(runtime)?;
        let StartExecResults::Attached { output, input } = results else {
            return Err(ProcessError::Runtime(
                "Docker detached a process we attached to".into(),
            ));
        };
        if let Some(size) = tty {
            // Docker before API 1.42 ignores `console_size`: the size is set again.
            let _ = self.docker.resize_exec(&exec.id, resize_to(size)).await;
        }
        let info = ProcessInfo {
            pid,
            tag: spec.tag,
            command: spec.command,
            cwd,
            stdin: spec.stdin,
            state: ProcessState::Running,
            exit_code: None,
            timed_out: false,
            tty: tty.is_some(),
            started_at: chrono::Utc::now(),
            ended_at: None,
        };
        let process = Arc::new(Process {
            mark,
            exec: exec.id.clone(),
            started,
            state: Mutex::new(Record {
                info: info.clone(),
                output: OutputRing::default(),
            }),
            input: tokio::sync::Mutex::new(spec.stdin.then_some(input)),
            changed: tokio::sync::watch::channel(()).0,
        });
        reserved.insert(process.clone());
        let docker = self.docker.clone();
        let container = self.container.clone();
        tokio::spawn(async move {
            follow(
                &docker, &container, &exec.id, &process, output, started, timeout,
            )
            .await;
        });
        Ok(info)
    }

    /// Write `data` to process `pid`'s standard input, then close it if `close`. Errors: no
    /// such process, it exited, its input is not open; Docker failed (the process closed it).
    async fn write_stdin(
        &self,
        pid: u32,
        data: bytes::Bytes,
        close: bool,
    ) -> Result<(), ProcessError> {
        let process = self.table.process(pid)?;
        let mut input = process.input.lock().await;
        let Some(w) = input.as_mut() else {
            return Err(if process.exited() {
                ProcessError::Exited(pid)
            } else {
                ProcessError::NoStdin(pid)
            });
        };
        let write = async {
            w.write_all(&data).await?;
            w.flush().await
        };
        let failed = match tokio::time::timeout(STDIN_WAIT, write).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("its input is closed: {e}")),
            Err(_) => Some(format!(
                "it did not read its input for {} s",
                STDIN_WAIT.as_secs()
            )),
        };
        if let Some(why) = failed {
            // What was written of it is unknown: the input is closed for good.
            *input = None;
            process.record().info.stdin = false;
            return Err(ProcessError::Runtime(format!(
                "writing to process {pid}'s input failed: {why}"
            )));
        }
        if close {
            let _ = w.shutdown().await;
            *input = None;
            process.record().info.stdin = false;
        }
        Ok(())
    }

    /// Resize process `pid`'s terminal. Errors: no such process, it exited, it is not a
    /// terminal; Docker failed.
    async fn resize(&self, pid: u32, size: TerminalSize) -> Result<(), ProcessError> {
        let process = self.table.process(pid)?;
        let info = process.record().info.clone();
        if !info.tty {
            return Err(ProcessError::NotTerminal(pid));
        }
        if info.state == ProcessState::Exited {
            return Err(ProcessError::Exited(pid));
        }
        self.docker
            .resize_exec(&process.exec, resize_to(size))
            .await
            .map_err(|e| ProcessError::Runtime(e.to_string()))
    }

    /// Send `signal` to process `pid` and every process it started. Errors: no such process,
    /// it exited; Docker failed.
    async fn signal(&self, pid: u32, signal: Signal) -> Result<(), ProcessError> {
        let process = self.table.process(pid)?;
        // Docker answers a start before the process has its environment: one signalled in
        // its first second may not be found yet, and is looked for again until then.
        let young_until = process.started + Duration::from_secs(1);
        loop {
            if process.exited() {
                return Err(ProcessError::Exited(pid));
            }
            let found = super::exec::signal_marked(
                &self.docker,
                &self.container,
                &process.mark,
                signal.as_str(),
                true,
            )
            .await
            .map_err(ProcessError::Runtime)?;
            if found > 0 {
                return Ok(());
            }
            if Instant::now() >= young_until {
                return Err(ProcessError::Unmarked(pid));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Process `pid`'s output after event `after` (0: from the start), following it until it
    /// ends if `follow`: batches of events, the last an [`ProcessEvent::End`] once it ended.
    /// Errors: no such process.
    fn logs(&self, pid: u32, after: u64, follow: bool) -> Result<LogEvents, ProcessError> {
        let process = self.table.process(pid)?;
        let changes = process.changed.subscribe();
        Ok(futures_util::stream::unfold(
            (process, after, changes, false),
            move |(process, mut after, mut changes, done)| async move {
                if done {
                    return None;
                }
                loop {
                    changes.mark_unchanged();
                    let batch = {
                        let record = process.record();
                        let mut batch = Vec::new();
                        let first = record.output.first();
                        if after.saturating_add(1) < first && after < record.output.last() {
                            batch.push(ProcessEvent::Dropped { first });
                            after = first - 1;
                        }
                        for (seq, stream, text) in record.output.after(after) {
                            batch.push(ProcessEvent::Output {
                                seq: *seq,
                                stream: *stream,
                                text: text.clone(),
                            });
                        }
                        if let Some(ProcessEvent::Output { seq, .. }) = batch.last() {
                            after = *seq;
                        }
                        let ended = record.info.state == ProcessState::Exited;
                        if batch.is_empty() && ended {
                            let end = vec![ProcessEvent::End(record.info.clone())];
                            return Some((end, (process.clone(), after, changes, true)));
                        }
                        batch
                    };
                    if !batch.is_empty() {
                        return Some((batch, (process, after, changes, false)));
                    }
                    if !follow {
                        return None;
                    }
                    match tokio::time::timeout(KEEP_ALIVE, changes.changed()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return None,
                        // Nothing for a while: an empty batch, sent as a comment.
                        Err(_) => return Some((Vec::new(), (process, after, changes, false))),
                    }
                }
            },
        )
        .boxed())
    }
}

impl Processes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().expect("process table lock")
    }

    /// A number for a new process, making room: the oldest ended process goes when the table
    /// is full; none while [`MAX_PROCESSES`] run. The place is held until the returned
    /// reservation is inserted or dropped (a start that failed, or whose caller went).
    fn reserve(&self) -> Result<Reserved<'_>, ProcessError> {
        let mut table = self.lock();
        if table.procs.len() + table.starting >= MAX_PROCESSES {
            let oldest_ended = table
                .procs
                .iter()
                .find(|(_, p)| p.exited())
                .map(|(pid, _)| *pid);
            match oldest_ended {
                Some(pid) => {
                    table.procs.remove(&pid);
                }
                None => return Err(ProcessError::TooMany),
            }
        }
        table.next_pid += 1;
        table.starting += 1;
        Ok(Reserved {
            table: self,
            pid: table.next_pid,
        })
    }
}

/// A place in the table for a process being started.
struct Reserved<'a> {
    table: &'a Processes,
    pid: u32,
}

impl Reserved<'_> {
    /// The process has started: it takes the place.
    fn insert(self, process: Arc<Process>) {
        self.table.lock().procs.insert(self.pid, process);
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.table.lock().starting -= 1;
    }
}

impl Processes {
    fn process(&self, pid: u32) -> Result<Arc<Process>, ProcessError> {
        self.lock()
            .procs
            .get(&pid)
            .cloned()
            .ok_or(ProcessError::NoSuchProcess(pid))
    }
}

impl Process {
    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.state.lock().expect("process lock")
    }

    fn exited(&self) -> bool {
        self.record().info.state == ProcessState::Exited
    }
}

/// Docker's resize of a terminal to `size`.
fn resize_to(size: TerminalSize) -> ResizeExecOptions {
    ResizeExecOptions {
        height: size.rows,
        width: size.cols,
    }
}

/// Read process `exec`'s output into its ring until it ends, then record how it ended.
async fn follow(
    docker: &Docker,
    container: &str,
    exec: &str,
    process: &Process,
    mut output: Pin<
        Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    started: Instant,
    timeout: Option<Duration>,
) {
    let (mut out, mut err) = (ChunkText::default(), ChunkText::default());
    use futures_util::FutureExt as _;
    // `timeout -s KILL` ends the process group at its limit; a process that left the group
    // (`setsid`) and holds the output open is killed by its mark a little later.
    let mut deadline = timeout
        .map(|t| tokio::time::Instant::from_std(started + t + super::exec::HOST_DEADLINE_GRACE));
    let mut past_limit = false;
    loop {
        let next = match deadline {
            Some(at) => match tokio::time::timeout_at(at, output.next()).await {
                Ok(next) => next,
                Err(_) => {
                    past_limit = true;
                    deadline = None;
                    let _ =
                        super::exec::signal_marked(docker, container, &process.mark, "KILL", true)
                            .await;
                    continue;
                }
            },
            None => output.next().await,
        };
        let Some(Ok(chunk)) = next else {
            break;
        };
        // What else is waiting already is joined to it, per stream, so that a program writing
        // a byte at a time makes few entries.
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut next = Some(chunk);
        while let Some(chunk) = next.take() {
            match chunk {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    stdout.extend_from_slice(&message)
                }
                LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                LogOutput::StdIn { .. } => {}
            }
            if stdout.len() + stderr.len() < 64 << 10
                && let Some(Some(Ok(more))) = output.next().now_or_never()
            {
                next = Some(more);
            }
        }
        {
            let mut record = process.record();
            record.output.push(OutputStream::Stdout, out.push(&stdout));
            record.output.push(OutputStream::Stderr, err.push(&stderr));
        }
        process.changed.send_replace(());
    }
    drop(output);
    let exit_code = super::exec::exit_code(docker, exec, true)
        .await
        .ok()
        .flatten();
    let elapsed = started.elapsed();
    {
        let mut record = process.record();
        record.output.push(OutputStream::Stdout, out.finish());
        record.output.push(OutputStream::Stderr, err.finish());
        record.info.state = ProcessState::Exited;
        record.info.exit_code = exit_code;
        record.info.timed_out = past_limit
            || timeout
                .is_some_and(|t| exit_code == Some(super::exec::KILLED_STATUS) && elapsed >= t);
        record.info.ended_at = Some(chrono::Utc::now());
        record.info.stdin = false;
    }
    *process.input.lock().await = None;
    process.changed.send_replace(());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            info: ProcessInfo {
                pid: 1,
                tag: None,
                command: vec!["x".into()],
                cwd: "/workspace".into(),
                stdin: false,
                state: ProcessState::Running,
                exit_code: None,
                timed_out: false,
                tty: false,
                started_at: chrono::Utc::now(),
                ended_at: None,
            },
            output: OutputRing::default(),
        }
    }

    #[test]
    fn a_full_table_drops_the_oldest_ended_process_and_refuses_when_all_run() {
        let table = Processes::default();
        for _ in 0..MAX_PROCESSES {
            let reserved = table.reserve().unwrap();
            let p = Process {
                mark: String::new(),
                exec: String::new(),
                started: Instant::now(),
                state: Mutex::new(record()),
                input: tokio::sync::Mutex::new(None),
                changed: tokio::sync::watch::channel(()).0,
            };
            reserved.insert(Arc::new(p));
        }
        assert!(matches!(table.reserve(), Err(ProcessError::TooMany)));
        table.process(3).unwrap().record().info.state = ProcessState::Exited;
        table.process(5).unwrap().record().info.state = ProcessState::Exited;
        let next = table.reserve().unwrap();
        assert_eq!(next.pid, MAX_PROCESSES as u32 + 1);
        // A start that never finished gives its place back.
        drop(next);
        assert_eq!(table.lock().starting, 0);
        assert!(table.process(3).is_err(), "the oldest ended one went");
        assert!(table.process(5).is_ok());
    }
}
