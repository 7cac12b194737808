//! Code-interpreter sessions: one live CPython instance per session, kept between calls, so
//! imports and variables carry over; paused into a self-contained snapshot that any runner can
//! restore.
//!
//! A session starts from the same pre-initialised runtime as an exec ([`super::preinit`]),
//! instantiated copy-on-write, and installs its half of the protocol ([`SESSION_PY`]) in a
//! first turn. Each call is one more turn. A session is an actor: a task on the guest threads
//! owns the instance and takes its calls one at a time, so one session's calls are serialised.
//!
//! A call stopped mid-way (wall time, output cap, a trap) leaves the interpreter in no known
//! state: the session is restarted from the runtime, its files kept, and the call's outcome
//! says so (`reset`).
//!
//! # Snapshots
//! A pause reads the instance's state through the exports the runtime carries for it: the
//! mutable globals, and the linear memory's pages that differ from the runtime's own image (the
//! rest is the module itself). The session's files (`/workspace`, `/tmp`) go along. The whole is
//! compressed (zstd), named with the runtime it was taken from and checksummed: a snapshot from
//! another runtime, or a damaged one, is refused, never half-restored. A resume instantiates
//! the runtime, grows the memory to its saved size, writes the saved pages back and sets the
//! globals. Descriptors the guest opened itself do not survive a pause (the host's side of
//! them is gone): [`SESSION_PY`] closes the runtime's own (matplotlib's fonts) before one.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sbx_core::exec::{CellOutcome, CellSpec, ExecStatus, OutputFile, Usage};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use wasmtime::{Engine, Instance, InstancePre, Memory, Store, UpdateDeadline, Val};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use super::pipes::{CappedPipe, OutputLimitExceeded};
use super::workspace::{O_NOFOLLOW, output_file, read_back, read_capped, scan};
use super::{DeadlinePassed, Foreground, Guest, MemoryLimiter, PythonFiles, python_wasi, turn};
use crate::snapshot::{self, PackedFile, Reader, put_bytes};
use sbx_core::{BackendError, OutputStream};

/// The guest half of the protocol, installed as the module `_sbx_session`.
pub const SESSION_PY: &str = include_str!("session.py");

/// The first turn of every interpreter: installs [`SESSION_PY`] and starts it with `env` (a
/// JSON object, which is a Python literal) and the cap on a result's length.
fn init_turn(env: &str, result_cap: u64) -> String {
    format!(
        "import sys, types\n\
         _m = types.ModuleType('_sbx_session')\n\
         _m.__file__ = '<sbx session>'\n\
         exec(compile({src}, '<sbx session>', 'exec'), _m.__dict__)\n\
         sys.modules['_sbx_session'] = _m\n\
         _m.start({env}, {result_cap})\n",
        src = json(SESSION_PY)
    )
}

/// How long the first turn and the pre-pause turn may take.
const HOUSEKEEPING_TIMEOUT: Duration = Duration::from_secs(30);
/// The unit of a snapshot's memory diff.
const PAGE: usize = 4096;
/// Size of a wasm memory page, the unit of `memory.grow`.
const WASM_PAGE: u64 = 65_536;
/// The first bytes of every snapshot, with its format version.
const MAGIC: &[u8; 8] = b"SBXSNAP\x01";
/// Most bytes of files a session may carry through a pause.
const MAX_SNAPSHOT_FILES_BYTES: u64 = 1 << 30;
/// Most bytes a session snapshot's body may claim: memory and files.
const MAX_SNAPSHOT_BODY: u64 = 8 << 30;
/// Most bytes of `out.json` the host reads back.
const MAX_OUT_JSON: u64 = 4 << 20;
/// Most bytes of figures returned by one call.
const MAX_FIGURE_BYTES: u64 = 16 << 20;

/// What a session is made with.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Its linear memory limit, in bytes.
    pub memory_bytes: u64,
    /// Environment variables, set in `os.environ` when the interpreter starts.
    pub env: Vec<(String, String)>,
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No such session is live on this runner.
    #[error("the session is not live on this runner")]
    NotLive,
    /// The snapshot cannot be restored: damaged or truncated.
    #[error("the snapshot cannot be restored: {0}")]
    BadSnapshot(String),
    /// The snapshot was taken with another Python runtime: a runner with that runtime (during
    /// an upgrade, an older one) can restore it; this one cannot.
    #[error("{0}")]
    OtherRuntime(String),
    /// The caller's input cannot be used (a file path that crosses a link or a file the code
    /// made in its way).
    #[error("{0}")]
    BadInput(String),
    /// The runtime failed.
    #[error(transparent)]
    Runner(#[from] BackendError),
}

type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

enum Command {
    Cell(CellSpec, CancellationToken, Reply<CellOutcome>),
    Pause(Reply<Vec<u8>>),
}

struct Handle {
    tx: mpsc::Sender<Command>,
    last_used: Arc<Mutex<Instant>>,
    busy: Arc<AtomicBool>,
    /// Fired when the session is closed: a call running in it stops at once.
    closed: CancellationToken,
}

/// The sessions of one backend and what they are made from.
pub(super) struct Sessions {
    engine: Engine,
    pre: InstancePre<Guest>,
    runtime_key: String,
    files: PythonFiles,
    root: PathBuf,
    foreground: Arc<Foreground>,
    /// An untouched instance of the runtime: what a snapshot's memory is a diff against. Made
    /// at the first pause.
    pristine: tokio::sync::OnceCell<Mutex<(Store<Guest>, Memory)>>,
    /// Opens one at a time: a session's folder is made afresh only while it is not live.
    opening: tokio::sync::Mutex<()>,
    live: Mutex<HashMap<uuid::Uuid, Handle>>,
}

impl Sessions {
    /// Sessions on `engine` from `pre` (the runtime keyed `runtime_key`), their folders under
    /// `root`.
    pub(super) fn new(
        engine: Engine,
        pre: InstancePre<Guest>,
        runtime_key: String,
        files: PythonFiles,
        root: PathBuf,
        foreground: Arc<Foreground>,
    ) -> Result<Self, BackendError> {
        let runtime = |e: &dyn std::fmt::Display| BackendError::Runtime(format!("sessions: {e:#}"));
        if pre.module().get_export("__wizer_global_0").is_none() {
            return Err(runtime(
                &"the runtime does not export its globals; rebuild it (sbx prepare)",
            ));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| runtime(&e))?;
        Ok(Self {
            engine,
            pre,
            runtime_key,
            files,
            root,
            foreground,
            pristine: tokio::sync::OnceCell::new(),
            opening: tokio::sync::Mutex::new(()),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// The untouched instance of the runtime, made on first use.
    async fn pristine(&self) -> Result<&Mutex<(Store<Guest>, Memory)>, SessionError> {
        self.pristine
            .get_or_try_init(|| async {
                let mut store = Store::new(
                    &self.engine,
                    Guest {
                        wasi: WasiCtxBuilder::new().build_p1(),
                        limiter: MemoryLimiter::new(usize::MAX),
                    },
                );
                let instance = self
                    .pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| host(format!("instantiating the runtime: {e:#}")))?;
                let memory = instance
                    .get_memory(&mut store, "memory")
                    .ok_or_else(|| host("the runtime exports no memory"))?;
                Ok(Mutex::new((store, memory)))
            })
            .await
    }

    /// Start session `id`: a fresh interpreter, or the one `snapshot` holds. Starting one that
    /// is already live does nothing.
    pub(super) async fn open(
        self: &Arc<Self>,
        id: uuid::Uuid,
        options: SessionOptions,
        snapshot: Option<Vec<u8>>,
    ) -> Result<(), SessionError> {
        let _opening = self.opening.lock().await;
        if self.live.lock().expect("sessions lock").contains_key(&id) {
            return Ok(());
        }
        let dir = SessionDir::create(&self.root, id).map_err(host)?;
        let live = match snapshot {
            None => self.fresh(&options, &dir).await?,
            Some(bytes) => {
                let image = Image::decode(&bytes, &self.runtime_key)?;
                drop(bytes);
                image.write_files(&dir).map_err(host)?;
                self.restore(&options, &dir, &image).await?
            }
        };
        let (tx, rx) = mpsc::channel(64);
        let handle = Handle {
            tx,
            last_used: Arc::new(Mutex::new(Instant::now())),
            busy: Arc::new(AtomicBool::new(false)),
            closed: CancellationToken::new(),
        };
        let busy = handle.busy.clone();
        let closed = handle.closed.clone();
        self.live.lock().expect("sessions lock").insert(id, handle);
        let actor = Actor {
            sessions: self.clone(),
            options,
            dir,
            live: Some(live),
            busy,
            closed,
        };
        tokio::spawn(actor.run(rx));
        Ok(())
    }

    /// Run `spec` in session `id`, after any call already queued on it.
    pub(super) async fn cell(
        &self,
        id: uuid::Uuid,
        spec: CellSpec,
        cancel: CancellationToken,
    ) -> Result<CellOutcome, SessionError> {
        let tx = {
            let map = self.live.lock().expect("sessions lock");
            let h = map.get(&id).ok_or(SessionError::NotLive)?;
            *h.last_used.lock().expect("last-used lock") = Instant::now();
            h.tx.clone()
        };
        let (reply, answer) = oneshot::channel();
        tx.send(Command::Cell(spec, cancel, reply))
            .await
            .map_err(|_| SessionError::NotLive)?;
        let outcome = answer.await.map_err(|_| SessionError::NotLive)?;
        if let Some(h) = self.live.lock().expect("sessions lock").get(&id) {
            *h.last_used.lock().expect("last-used lock") = Instant::now();
        }
        outcome
    }

    /// Pause session `id`: its snapshot, and the session is no longer live here.
    pub(super) async fn pause(&self, id: uuid::Uuid) -> Result<Vec<u8>, SessionError> {
        let tx = self
            .live
            .lock()
            .expect("sessions lock")
            .get(&id)
            .ok_or(SessionError::NotLive)?
            .tx
            .clone();
        let (reply, answer) = oneshot::channel();
        tx.send(Command::Pause(reply))
            .await
            .map_err(|_| SessionError::NotLive)?;
        let snapshot = answer.await.map_err(|_| SessionError::NotLive)?;
        if snapshot.is_ok() {
            self.live.lock().expect("sessions lock").remove(&id);
        }
        snapshot
    }

    /// End session `id` here, if it is live: its instance and files go.
    pub(super) fn close(&self, id: uuid::Uuid) -> bool {
        match self.live.lock().expect("sessions lock").remove(&id) {
            Some(h) => {
                h.closed.cancel();
                true
            }
            None => false,
        }
    }

    /// The live sessions, least recently used first, with how long each has been idle and
    /// whether a call runs in it now.
    pub(super) fn live(&self) -> Vec<(uuid::Uuid, Duration, bool)> {
        let map = self.live.lock().expect("sessions lock");
        let mut all: Vec<_> = map
            .iter()
            .map(|(id, h)| {
                (
                    *id,
                    h.last_used.lock().expect("last-used lock").elapsed(),
                    h.busy.load(Ordering::Relaxed),
                )
            })
            .collect();
        all.sort_by_key(|l| std::cmp::Reverse(l.1));
        all
    }

    fn store(&self, options: &SessionOptions, dir: &SessionDir) -> Result<Live, SessionError> {
        let stdout = CappedPipe::new(0, OutputStream::Stdout, None);
        let stderr = CappedPipe::new(0, OutputStream::Stderr, None);
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_blocking_current_thread(true)
            .stdin(MemoryInputPipe::new(Vec::new()))
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        python_wasi(&mut wasi, &self.files, dir.workspace(), dir.tmp())
            .map_err(|e| host(format!("{e:#}")))?;
        let mut store = Store::new(
            &self.engine,
            Guest {
                wasi: wasi.build_p1(),
                limiter: MemoryLimiter::new(options.memory_bytes as usize),
            },
        );
        store.limiter(|g| &mut g.limiter);
        let deadline = Arc::new(Deadline::default());
        let guest_deadline = deadline.clone();
        store.epoch_deadline_callback(move |_| {
            if guest_deadline.passed() {
                Err(DeadlinePassed.into())
            } else {
                // Hand the thread back every tick, so the deadline and cancel futures are polled.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        Ok(Live {
            store,
            instance: None,
            stdout,
            stderr,
            deadline,
        })
    }

    async fn fresh(
        &self,
        options: &SessionOptions,
        dir: &SessionDir,
    ) -> Result<Live, SessionError> {
        let mut live = self.store(options, dir)?;
        let instance = self
            .pre
            .instantiate_async(&mut live.store)
            .await
            .map_err(|e| host(format!("instantiating the runtime: {e:#}")))?;
        live.instance = Some(instance);
        let env: serde_json::Map<String, serde_json::Value> = options
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().into()))
            .collect();
        let source = init_turn(&serde_json::to_string(&env).expect("strings"), 1 << 20);
        live.housekeeping(&source, "starting the interpreter")
            .await?;
        Ok(live)
    }

    async fn restore(
        &self,
        options: &SessionOptions,
        dir: &SessionDir,
        image: &Image,
    ) -> Result<Live, SessionError> {
        let mut live = self.store(options, dir)?;
        let store = &mut live.store;
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(|e| host(format!("instantiating the runtime: {e:#}")))?;
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| host("the runtime exports no memory"))?;
        let have = memory.data_size(&*store) as u64;
        if image.memory_len < have || !image.memory_len.is_multiple_of(WASM_PAGE) {
            return Err(SessionError::BadSnapshot(format!(
                "its memory ({} bytes) does not fit the runtime's ({have} bytes)",
                image.memory_len
            )));
        }
        if image.memory_len > options.memory_bytes {
            return Err(SessionError::BadSnapshot(format!(
                "it holds {} MiB of memory, over the session's limit of {} MiB",
                image.memory_len >> 20,
                options.memory_bytes >> 20
            )));
        }
        memory
            .grow_async(&mut *store, (image.memory_len - have) / WASM_PAGE)
            .await
            .map_err(|e| host(format!("growing the memory: {e:#}")))?;
        let data = memory.data_mut(&mut *store);
        for (page, bytes) in image.pages() {
            let at = page as usize * PAGE;
            data.get_mut(at..at + PAGE)
                .ok_or_else(|| SessionError::BadSnapshot(format!("page {page} is out of range")))?
                .copy_from_slice(bytes);
        }
        for &(index, kind, bits) in &image.globals {
            let name = format!("__wizer_global_{index}");
            let global = instance.get_global(&mut *store, &name).ok_or_else(|| {
                SessionError::BadSnapshot(format!("the runtime has no global {index}"))
            })?;
            if global.ty(&*store).mutability() == wasmtime::Mutability::Var {
                let value = match kind {
                    0 => Val::I32(bits as u32 as i32),
                    1 => Val::I64(bits as i64),
                    2 => Val::F32(bits as u32),
                    3 => Val::F64(bits),
                    k => {
                        return Err(SessionError::BadSnapshot(format!(
                            "global {index} has unknown type {k}"
                        )));
                    }
                };
                global
                    .set(&mut *store, value)
                    .map_err(|e| SessionError::BadSnapshot(format!("global {index}: {e:#}")))?;
            }
        }
        live.instance = Some(instance);
        Ok(live)
    }

    /// The snapshot of `live`, whose files are in `dir`.
    async fn snapshot(&self, live: &mut Live, dir: &SessionDir) -> Result<Vec<u8>, SessionError> {
        live.housekeeping(
            "__import__('_sbx_session').before_pause()",
            "preparing the pause",
        )
        .await?;
        let out = dir.read_out().unwrap_or_default();
        if let Some(fds) = out.get("open_fds").and_then(|v| v.as_array())
            && !fds.is_empty()
        {
            tracing::info!(
                ?fds,
                "pausing a session with files open; they will be closed"
            );
        }
        let instance = live.instance.ok_or(SessionError::NotLive)?;
        let store = &mut live.store;
        let mut globals = Vec::new();
        for index in 0u32.. {
            let Some(global) = instance.get_global(&mut *store, &format!("__wizer_global_{index}"))
            else {
                break;
            };
            let (kind, bits) = match global.get(&mut *store) {
                Val::I32(x) => (0u8, x as u32 as u64),
                Val::I64(x) => (1, x as u64),
                Val::F32(x) => (2, u64::from(x)),
                Val::F64(x) => (3, x),
                other => {
                    return Err(host(format!(
                        "a global of a kind a pause cannot keep: {other:?}"
                    )));
                }
            };
            globals.push((index, kind, bits));
        }
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| host("the runtime exports no memory"))?;
        let data = memory.data(&*store);
        let pristine = self.pristine().await?;
        let (pages, page_bytes) = {
            let pristine = pristine.lock().expect("pristine lock");
            let base = pristine.1.data(&pristine.0);
            diff_pages(base, data)
        };
        let (workspace, tmp) = (dir.workspace(), dir.tmp());
        let files = snapshot::pack_files(
            &[(0, &workspace), (1, &tmp)],
            |tree, rel| tree == 1 && rel.starts_with(".sbx/"),
            MAX_SNAPSHOT_FILES_BYTES,
        )
        .map_err(host)?;
        let image = Image {
            runtime_key: self.runtime_key.clone(),
            memory_len: data.len() as u64,
            globals,
            page_index: pages,
            page_bytes,
            files,
        };
        image.encode()
    }
}

/// The pages of `data` that differ from `base` (pages past `base`'s end: those not all zero),
/// as their indices and their bytes end to end.
fn diff_pages(base: &[u8], data: &[u8]) -> (Vec<u32>, Vec<u8>) {
    let mut pages = Vec::new();
    let mut bytes = Vec::new();
    for (i, page) in data.chunks(PAGE).enumerate() {
        let at = i * PAGE;
        let same = match base.get(at..at + page.len()) {
            Some(b) => b == page,
            None => page.iter().all(|&b| b == 0),
        };
        if !same {
            pages.push(i as u32);
            bytes.extend_from_slice(page);
            bytes.resize(pages.len() * PAGE, 0);
        }
    }
    (pages, bytes)
}

/// The session's deadline for the running call, as microseconds after `base`; none when 0.
struct Deadline {
    base: Instant,
    at_us: AtomicU64,
}

impl Default for Deadline {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            at_us: AtomicU64::new(0),
        }
    }
}

impl Deadline {
    fn set(&self, after: Duration) -> Instant {
        let at = Instant::now() + after;
        let us = (at - self.base).as_micros() as u64;
        self.at_us.store(us.max(1), Ordering::Relaxed);
        at
    }

    fn clear(&self) {
        self.at_us.store(0, Ordering::Relaxed);
    }

    fn passed(&self) -> bool {
        let at = self.at_us.load(Ordering::Relaxed);
        at != 0 && self.base.elapsed().as_micros() as u64 >= at
    }
}

/// A session's interpreter.
struct Live {
    store: Store<Guest>,
    instance: Option<Instance>,
    stdout: CappedPipe,
    stderr: CappedPipe,
    deadline: Arc<Deadline>,
}

/// How a turn ended.
enum Ending {
    Returned(wasmtime::Result<i32>),
    DeadlineWait,
    Cancelled,
}

impl Live {
    /// Run `source` as one turn, stopping it at `deadline`, or when `cancel` fires.
    async fn run(&mut self, source: &str, timeout: Duration, cancel: &CancellationToken) -> Ending {
        let Some(instance) = self.instance else {
            return Ending::Returned(Err(wasmtime::format_err!("no interpreter")));
        };
        let deadline = self.deadline.set(timeout);
        let call = turn(&mut self.store, &instance, source);
        tokio::pin!(call);
        let ending = tokio::select! {
            r = &mut call => Ending::Returned(r),
            () = tokio::time::sleep_until(deadline.into()) => Ending::DeadlineWait,
            () = cancel.cancelled() => Ending::Cancelled,
        };
        self.deadline.clear();
        ending
    }

    /// A turn of the host's own, which must succeed; returns the `out.json` it wrote.
    async fn housekeeping(&mut self, source: &str, what: &str) -> Result<(), SessionError> {
        self.stdout.reset(64 << 10);
        self.stderr.reset(64 << 10);
        let ending = self
            .run(source, HOUSEKEEPING_TIMEOUT, &CancellationToken::new())
            .await;
        let err = String::from_utf8_lossy(&self.stderr.take()).into_owned();
        match ending {
            Ending::Returned(Ok(0)) => {}
            Ending::Returned(Ok(v)) => {
                return Err(host(format!("{what}: status {v}: {err}")));
            }
            Ending::Returned(Err(e)) => return Err(host(format!("{what}: {e:#}: {err}"))),
            _ => {
                return Err(host(format!(
                    "{what}: it took over {HOUSEKEEPING_TIMEOUT:?}"
                )));
            }
        }
        Ok(())
    }
}

/// A session's host folders (`workspace/`, `tmp/`); removed when dropped.
struct SessionDir(PathBuf);

impl SessionDir {
    fn create(root: &Path, id: uuid::Uuid) -> std::io::Result<Self> {
        let dir = root.join(id.simple().to_string());
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let this = Self(dir);
        fs::DirBuilder::new().mode(0o700).create(this.workspace())?;
        fs::DirBuilder::new().mode(0o700).create(this.tmp())?;
        Ok(this)
    }

    fn workspace(&self) -> PathBuf {
        self.0.join("workspace")
    }

    fn tmp(&self) -> PathBuf {
        self.0.join("tmp")
    }

    /// `/tmp/.sbx`, where the guest half leaves what a turn cannot return, if it is a real
    /// folder (a guest could have put a link there).
    fn out_dir(&self) -> Option<PathBuf> {
        let dir = self.tmp().join(".sbx");
        fs::symlink_metadata(&dir)
            .ok()
            .filter(|m| m.is_dir())
            .map(|_| dir)
    }

    /// What the guest half wrote about the last turn, if it did.
    fn read_out(&self) -> Option<serde_json::Value> {
        let bytes = read_capped(&self.out_dir()?.join("out.json"), MAX_OUT_JSON).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

impl Drop for SessionDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "could not remove a session's folder");
        }
    }
}

/// Write `content` at `rel` under `root`, a folder the guest has written in: no component may
/// be a link (the guest could point one anywhere), and none is followed. The guest does not run
/// meanwhile (a session's calls are serialised), so what is checked stays as it was.
fn write_input(root: &Path, rel: &str, content: &[u8]) -> Result<(), SessionError> {
    let refuse = |why: &str| SessionError::BadInput(format!("files: {rel:?}: {why}"));
    let mut at = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let last = i + 1 == parts.len();
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse("the session made a link there; it is not followed"));
            }
            Ok(m) if !last && !m.is_dir() => {
                return Err(refuse("a file of the session is in the way"));
            }
            Ok(m) if last && m.is_dir() => return Err(refuse("the session has a folder there")),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !last => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&at)
                    .map_err(host)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(host(e)),
        }
    }
    use std::io::Write as _;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW)
        .open(&at)
        .and_then(|mut f| f.write_all(content))
        .map_err(host)
}

/// The actor owning one session's interpreter.
struct Actor {
    sessions: Arc<Sessions>,
    options: SessionOptions,
    dir: SessionDir,
    live: Option<Live>,
    busy: Arc<AtomicBool>,
    closed: CancellationToken,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(command) = rx.recv().await {
            match command {
                Command::Cell(spec, cancel, reply) => {
                    self.busy.store(true, Ordering::Relaxed);
                    let outcome = self.cell(spec, cancel).await;
                    self.busy.store(false, Ordering::Relaxed);
                    let _ = reply.send(outcome);
                }
                Command::Pause(reply) => {
                    let snapshot = match self.live.as_mut() {
                        Some(live) => self.sessions.snapshot(live, &self.dir).await,
                        None => match self.sessions.fresh(&self.options, &self.dir).await {
                            Ok(mut live) => self.sessions.snapshot(&mut live, &self.dir).await,
                            Err(e) => Err(e),
                        },
                    };
                    let paused = snapshot.is_ok();
                    let _ = reply.send(snapshot);
                    if paused {
                        return;
                    }
                }
            }
        }
    }

    async fn cell(
        &mut self,
        spec: CellSpec,
        cancel: CancellationToken,
    ) -> Result<CellOutcome, SessionError> {
        let started = Instant::now();
        for f in &spec.files {
            write_input(&self.dir.workspace(), &f.path, &f.content)?;
        }
        let before: HashMap<String, (u64, Option<SystemTime>)> = scan(&self.dir.workspace())
            .map_err(host)?
            .into_iter()
            .map(|(p, m)| (p, (m.len(), m.modified().ok())))
            .collect();
        let mut reset_note = None;
        if self.live.is_none() {
            self.live = Some(self.sessions.fresh(&self.options, &self.dir).await?);
            reset_note = Some("the interpreter had been reset by an earlier call".to_owned());
        }
        let live = self.live.as_mut().expect("live");
        live.stdout.reset(spec.output_limit_bytes as usize);
        live.stderr.reset(spec.output_limit_bytes as usize);
        live.store.data_mut().limiter.refused = false;
        if let Some(dir) = self.dir.out_dir() {
            let _ = fs::remove_dir_all(dir);
        }
        let source = format!("__import__('_sbx_session').cell({})", json(&spec.code));
        let ending = {
            let _foreground = self.sessions.foreground.enter();
            if self.sessions.foreground.background.load(Ordering::SeqCst) > 0 {
                self.sessions.engine.increment_epoch();
            }
            // The caller hanging up or the session closing both stop the call.
            let stop = CancellationToken::new();
            let (caller, closed, stopper) = (cancel.clone(), self.closed.clone(), stop.clone());
            let watch = tokio::spawn(async move {
                tokio::select! {
                    () = caller.cancelled() => {}
                    () = closed.cancelled() => {}
                }
                stopper.cancel();
            });
            let ending = live
                .run(&source, Duration::from_millis(spec.timeout_ms), &stop)
                .await;
            watch.abort();
            ending
        };
        let wall = started.elapsed();
        let limiter = &live.store.data().limiter;
        let (memory_refused, memory_peak) = (limiter.refused, limiter.peak);
        let memory_now = live
            .instance
            .and_then(|i| i.get_memory(&mut live.store, "memory"))
            .map_or(0, |m| m.data_size(&live.store));
        let stdout = live.stdout.take();
        let stderr = live.stderr.take();
        let mut truncated = Vec::new();
        if live.stdout.truncated() {
            truncated.push(OutputStream::Stdout.as_str().to_owned());
        }
        if live.stderr.truncated() {
            truncated.push(OutputStream::Stderr.as_str().to_owned());
        }
        let out = self.dir.read_out();
        let (mut status, mut message, reset) = match ending {
            Ending::Returned(Ok(0)) => match out.as_ref().and_then(|o| o["status"].as_i64()) {
                Some(0) => (ExecStatus::Succeeded, None, false),
                Some(_) => (ExecStatus::Failed, None, false),
                None => (
                    ExecStatus::Error,
                    Some("the session did not report how the call ended".to_owned()),
                    true,
                ),
            },
            Ending::Returned(Ok(v)) => (
                ExecStatus::Error,
                Some(format!("the session's turn ended with status {v}")),
                true,
            ),
            Ending::DeadlineWait => (ExecStatus::Timeout, Some(timeout(spec.timeout_ms)), true),
            Ending::Cancelled => (
                ExecStatus::Cancelled,
                Some("the call was cancelled".to_owned()),
                true,
            ),
            Ending::Returned(Err(e)) => {
                if e.downcast_ref::<DeadlinePassed>().is_some() {
                    (ExecStatus::Timeout, Some(timeout(spec.timeout_ms)), true)
                } else if e.downcast_ref::<OutputLimitExceeded>().is_some() {
                    (ExecStatus::OutputLimit, None, true)
                } else {
                    (ExecStatus::Failed, Some(super::describe_trap(&e)), true)
                }
            }
        };
        if !truncated.is_empty() {
            status = ExecStatus::OutputLimit;
            message = Some(format!(
                "output passed the limit of {} bytes per stream; the call was stopped",
                spec.output_limit_bytes
            ));
        } else if memory_refused && status != ExecStatus::Succeeded {
            status = ExecStatus::MemoryLimit;
            message = Some(format!(
                "the call needed more than the session's memory limit of {} MiB",
                self.options.memory_bytes >> 20
            ));
        }
        if reset {
            // The guest was stopped mid-way: its interpreter may hold half-made objects or
            // locks. A fresh one replaces it now, so the next call does not pay for it.
            self.live = None;
            let note = "the interpreter was restarted: variables and imports from earlier calls \
                        are gone; files under /workspace remain";
            message = Some(match message {
                Some(m) => format!("{m}; {note}"),
                None => note.to_owned(),
            });
            if !self.closed.is_cancelled() {
                match self.sessions.fresh(&self.options, &self.dir).await {
                    Ok(live) => self.live = Some(live),
                    Err(e) => tracing::warn!(error = %e, "a session could not be restarted"),
                }
            }
        } else if let Some(note) = reset_note {
            message = Some(note);
        }
        let figures = out
            .as_ref()
            .map(|o| self.read_figures(o))
            .unwrap_or_default();
        let result = out
            .as_ref()
            .and_then(|o| o["result"].as_str().map(str::to_owned));
        let changed = scan(&self.dir.workspace())
            .map_err(host)?
            .into_iter()
            .filter(|(p, m)| before.get(p) != Some(&(m.len(), m.modified().ok())))
            .map(|(p, m)| (p, m.len()));
        let (files, files_omitted) =
            read_back(&self.dir.workspace(), changed, |_, _| false).map_err(host)?;
        Ok(CellOutcome {
            status,
            result,
            stdout: sbx_core::exec::output_text(&stdout),
            stderr: sbx_core::exec::output_text(&stderr),
            truncated,
            files,
            files_omitted,
            figures,
            reset,
            message,
            duration_ms: super::millis(started.elapsed()),
            usage: Usage {
                wall_ms: super::millis(wall),
                memory_peak_bytes: memory_peak.max(memory_now) as u64,
            },
        })
    }

    fn read_figures(&self, out: &serde_json::Value) -> Vec<OutputFile> {
        let Some(dir) = self.dir.out_dir() else {
            return Vec::new();
        };
        let mut total = 0u64;
        let mut figures = Vec::new();
        for name in out["figures"].as_array().into_iter().flatten() {
            let Some(name) = name.as_str() else { continue };
            if name.contains('/') || !name.ends_with(".png") {
                continue;
            }
            let Ok(bytes) = read_capped(&dir.join(name), MAX_FIGURE_BYTES - total) else {
                continue;
            };
            total += bytes.len() as u64;
            figures.push(output_file(name.to_owned(), bytes));
            if total >= MAX_FIGURE_BYTES {
                break;
            }
        }
        let _ = fs::remove_dir_all(dir);
        figures
    }
}

fn timeout(ms: u64) -> String {
    format!("the call ran past its time limit of {ms} ms and was stopped")
}

fn host(e: impl std::fmt::Display) -> SessionError {
    SessionError::Runner(BackendError::Host(e.to_string()))
}

/// `s` as a Python string literal (a JSON string is one).
fn json(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// A session's state, as a snapshot carries it.
struct Image {
    runtime_key: String,
    memory_len: u64,
    /// (index, kind: 0 i32, 1 i64, 2 f32, 3 f64, bits)
    globals: Vec<(u32, u8, u64)>,
    page_index: Vec<u32>,
    page_bytes: Vec<u8>,
    files: Vec<PackedFile>,
}

impl Image {
    fn pages(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.page_index
            .iter()
            .copied()
            .zip(self.page_bytes.chunks(PAGE))
    }

    /// The image in a frame marked [`MAGIC`] ([`snapshot::seal`]).
    fn encode(&self) -> Result<Vec<u8>, SessionError> {
        let mut body = Vec::with_capacity(self.page_bytes.len() + 4096);
        put_bytes(&mut body, self.runtime_key.as_bytes());
        body.extend_from_slice(&self.memory_len.to_le_bytes());
        body.extend_from_slice(&(self.globals.len() as u32).to_le_bytes());
        for &(index, kind, bits) in &self.globals {
            body.extend_from_slice(&index.to_le_bytes());
            body.push(kind);
            body.extend_from_slice(&bits.to_le_bytes());
        }
        body.extend_from_slice(&(self.page_index.len() as u32).to_le_bytes());
        for p in &self.page_index {
            body.extend_from_slice(&p.to_le_bytes());
        }
        body.extend_from_slice(&self.page_bytes);
        snapshot::put_files(&mut body, &self.files);
        snapshot::seal(MAGIC, &body).map_err(host)
    }

    fn decode(bytes: &[u8], runtime_key: &str) -> Result<Self, SessionError> {
        let bad = |m: String| SessionError::BadSnapshot(m);
        let body = snapshot::open(MAGIC, bytes, MAX_SNAPSHOT_BODY, "an sbx session snapshot")
            .map_err(bad)?;
        let mut r = Reader(&body);
        let key = r.bytes().map_err(bad)?;
        if key != runtime_key.as_bytes() {
            return Err(SessionError::OtherRuntime(format!(
                "it was taken with another Python runtime ({}), not this runner's ({runtime_key})",
                String::from_utf8_lossy(key)
            )));
        }
        Self::read_state(&mut r, runtime_key).map_err(bad)
    }

    /// What follows the runtime's key in a body.
    fn read_state(r: &mut Reader<'_>, runtime_key: &str) -> Result<Self, String> {
        let memory_len = r.u64()?;
        let n = r.u32()?;
        let mut globals = Vec::new();
        for _ in 0..n {
            globals.push((r.u32()?, r.u8()?, r.u64()?));
        }
        let n = r.u32()? as usize;
        let mut page_index = Vec::with_capacity(n.min(1 << 21));
        for _ in 0..n {
            let p = r.u32()?;
            if (u64::from(p) + 1) * PAGE as u64 > memory_len {
                return Err("a page lies past the memory's end".into());
            }
            page_index.push(p);
        }
        let page_bytes = r.take(n * PAGE)?.to_vec();
        let files = snapshot::read_files(r, 2)?;
        Ok(Self {
            runtime_key: runtime_key.to_owned(),
            memory_len,
            globals,
            page_index,
            page_bytes,
            files,
        })
    }

    fn write_files(&self, dir: &SessionDir) -> std::io::Result<()> {
        let (workspace, tmp) = (dir.workspace(), dir.tmp());
        snapshot::write_files(&self.files, |tree| {
            if tree == 0 {
                workspace.as_path()
            } else {
                tmp.as_path()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_only_changed_and_nonzero_pages() {
        let base = vec![1u8; PAGE * 3];
        let mut data = base.clone();
        data[PAGE + 5] = 9;
        data.extend(vec![0u8; PAGE * 2]);
        data[PAGE * 4] = 7;
        let (pages, bytes) = diff_pages(&base, &data);
        assert_eq!(pages, [1, 4]);
        assert_eq!(bytes.len(), 2 * PAGE);
        assert_eq!(bytes[5], 9);
        assert_eq!(bytes[PAGE], 7);
    }

    #[test]
    fn a_snapshot_round_trips_and_damage_is_refused() {
        let image = Image {
            runtime_key: "k1".into(),
            memory_len: 4 * WASM_PAGE,
            globals: vec![(0, 0, 42), (1, 1, 7)],
            page_index: vec![3],
            page_bytes: vec![5u8; PAGE],
            files: vec![(0, "a/b.txt".into(), b"hi".to_vec())],
        };
        let bytes = image.encode().unwrap();
        let back = Image::decode(&bytes, "k1").unwrap();
        assert_eq!(back.globals, image.globals);
        assert_eq!(back.page_index, [3]);
        assert_eq!(back.files, image.files);
        assert!(matches!(
            Image::decode(&bytes, "k2"),
            Err(SessionError::OtherRuntime(m)) if m.contains("another Python runtime")
        ));
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(matches!(
            Image::decode(&damaged, "k1"),
            Err(SessionError::BadSnapshot(m)) if m.contains("checksum")
        ));
        assert!(Image::decode(&bytes[..40], "k1").is_err());
        assert!(
            Image::decode(b"not a snapshot at all, not one bit of it, nope....", "k1").is_err()
        );
    }
}
