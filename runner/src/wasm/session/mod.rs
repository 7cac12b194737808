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
//!
//! # Layout
//! - this module: the registry of live sessions ([`Sessions`]), how one is opened, called,
//!   paused and closed.
//! - [`actor`]: the task that owns one session's interpreter and runs its calls.
//! - [`image`]: the snapshot image of a paused session: encode, decode, restore.
//! - [`fork`]: copies of a live session, made from its live memory.
//! - [`folders`]: a session's host folders and the files handed into them.

mod actor;
mod folders;
pub(super) mod fork;
mod image;
#[cfg(feature = "fuzzing")]
pub(crate) use image::{MAGIC as SNAPSHOT_MAGIC, decode_round_trip};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sbx_core::exec::{CellOutcome, CellSpec};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use wasmtime::{Engine, InstancePre, Memory, Store};
use wasmtime_wasi::WasiCtxBuilder;

use super::guest::{Guest, StoreBuilder, Tick};
use super::pipes::CappedPipe;
use super::{Foreground, PythonFiles};
use sbx_core::{BackendError, OutputStream};
use sbx_core::{SessionError, SessionOptions};

use actor::{Actor, Deadline, Live};
use folders::SessionDir;
use image::Image;

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

type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

enum Command {
    Cell(CellSpec, CancellationToken, Reply<CellOutcome>),
    Pause(Reply<Vec<u8>>),
    /// Copies of the session, not live yet; the session stays live.
    Fork(Vec<(uuid::Uuid, SessionOptions)>, Reply<Vec<fork::Copy>>),
}

struct Handle {
    tx: mpsc::Sender<Command>,
    last_used: Arc<Mutex<Instant>>,
    busy: Arc<AtomicBool>,
    /// Fired when the session is closed: a call running in it stops at once.
    closed: CancellationToken,
    /// The host folder that is its `/workspace`.
    workspace: PathBuf,
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
    /// Sessions on `engine` from `pre` (the runtime keyed `runtime_key`), their folders in
    /// this process's folder under `root` (see [`crate::disk::process_dir`]).
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
        let root = crate::disk::process_dir(&root).map_err(|e| runtime(&e))?;
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
                let mut store =
                    StoreBuilder::from_wasi(WasiCtxBuilder::new()).build_untimed(&self.engine);
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
        let dir = SessionDir::create(&self.root, id, options.disk_bytes).map_err(host)?;
        let live = match snapshot {
            None => self.fresh(&options, &dir).await?,
            Some(bytes) => {
                let image = Image::decode(&bytes, &self.runtime_key)?;
                drop(bytes);
                image.write_files(&dir).map_err(host)?;
                self.restore(&options, &dir, &image).await?
            }
        };
        self.adopt(&tokio::runtime::Handle::current(), id, options, dir, live);
        Ok(())
    }

    /// Make session `id`, whose interpreter is `live` and folders `dir`, live here: its actor,
    /// spawned on `guests` (the guest threads' runtime), starts taking calls.
    fn adopt(
        self: &Arc<Self>,
        guests: &tokio::runtime::Handle,
        id: uuid::Uuid,
        options: SessionOptions,
        dir: SessionDir,
        live: Live,
    ) {
        let (tx, rx) = mpsc::channel(64);
        let handle = Handle {
            tx,
            last_used: Arc::new(Mutex::new(Instant::now())),
            busy: Arc::new(AtomicBool::new(false)),
            closed: CancellationToken::new(),
            workspace: dir.workspace(),
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
        guests.spawn(actor.run(rx));
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

    /// Send session `id`'s actor the command `make` builds around a reply channel; its answer.
    /// [`SessionError::NotLive`] when the session is not live here (or ends meanwhile).
    async fn ask<T>(
        &self,
        id: uuid::Uuid,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, SessionError> {
        let tx = self
            .live
            .lock()
            .expect("sessions lock")
            .get(&id)
            .ok_or(SessionError::NotLive)?
            .tx
            .clone();
        let (reply, answer) = oneshot::channel();
        tx.send(make(reply))
            .await
            .map_err(|_| SessionError::NotLive)?;
        answer.await.map_err(|_| SessionError::NotLive)?
    }

    /// Pause session `id`: its snapshot, and the session is no longer live here.
    pub(super) async fn pause(&self, id: uuid::Uuid) -> Result<Vec<u8>, SessionError> {
        let snapshot = self.ask(id, Command::Pause).await;
        if snapshot.is_ok() {
            self.live.lock().expect("sessions lock").remove(&id);
        }
        snapshot
    }

    /// Make the copies `made` by [`Sessions::fork`] live here, their actors spawned on
    /// `guests`.
    pub(super) fn adopt_copies(
        self: &Arc<Self>,
        guests: &tokio::runtime::Handle,
        made: Vec<fork::Copy>,
    ) {
        for c in made {
            self.adopt(guests, c.id, c.options, c.dir, c.live);
        }
    }

    /// `copies` of live session `id` (which stays live), each `(id, options)` a new session
    /// with the source's memory, globals and files, not live yet: all or none (see [`fork`]).
    /// Dropped, they go whole (instances, folders).
    pub(super) async fn fork(
        &self,
        id: uuid::Uuid,
        copies: Vec<(uuid::Uuid, SessionOptions)>,
    ) -> Result<Vec<fork::Copy>, SessionError> {
        self.ask(id, |reply| Command::Fork(copies, reply)).await
    }

    /// The host folder that is live session `id`'s `/workspace`; a use of the session.
    pub(super) fn workspace(&self, id: uuid::Uuid) -> Result<PathBuf, SessionError> {
        let map = self.live.lock().expect("sessions lock");
        let h = map.get(&id).ok_or(SessionError::NotLive)?;
        *h.last_used.lock().expect("last-used lock") = Instant::now();
        Ok(h.workspace.clone())
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
        let mut builder = StoreBuilder::new(Vec::new(), stdout.clone(), stderr.clone());
        builder
            .memory_limit(options.memory_bytes)
            .python(&self.files, dir.workspace(), dir.tmp())
            .map_err(|e| host(format!("{e:#}")))?;
        let deadline = Arc::new(Deadline::default());
        let guest_deadline = deadline.clone();
        let store = builder.build(&self.engine, move || {
            if guest_deadline.passed() {
                Tick::Trap
            } else {
                Tick::Yield
            }
        });
        Ok(Live {
            store,
            instance: None,
            stdout,
            stderr,
            deadline,
            fonts_open: false,
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
}

pub(super) fn host(e: impl std::fmt::Display) -> SessionError {
    SessionError::Runner(BackendError::Host(e.to_string()))
}

/// `s` as a Python string literal (a JSON string is one).
fn json(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}
