//! Container sandboxes on this runner: placement, lifecycle and the meter.
//!
//! A runner offers CPU, memory and GPU cards (its books: what it has, what its sandboxes
//! hold). It claims a pending container sandbox only if it fits what is free; one that fits
//! nowhere stays pending with the reason in `waiting_for`, never failed for it. Placing one
//! starts its container ([`crate::container`]) with the sandbox's folders mounted, restoring
//! them when it resumes. Asked to pause (NOTIFY `pause:<id>`), the runner stops the
//! container, keeps `/workspace` and `/outputs` on this host and frees its share; it copies
//! them into PostgreSQL in the background, so that any runner can resume it ([`crate::kept`]).
//! A resume here takes the folders back at once; elsewhere, from the copy. Told it ended
//! (`end:<id>`: deleted, timed out), it removes the container. A container whose command ends
//! by itself ends its sandbox (`exited`, or `oom`).
//!
//! Once a second the meter samples each running container (CPU and memory from Docker, the GPU
//! share it holds) and writes the samples, with their cost at the configured prices, in one
//! batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sbx_core::OutputStream;
use sbx_core::exec::{CommandOutcome, ExecStatus};
use sbx_core::ids::{CommandId, JobId, SandboxId};
use sbx_core::notes::{Note, SandboxNote};
use sbx_core::sandbox::{SandboxState, StateReason};
use sbx_limits::billing::{Prices, Resource};
use sbx_limits::gpu::{Inventory, Ledger};
use sbx_store::Pool;
use sbx_store::sandboxes::{self, PendingContainer, Sandbox, Transition};
use sbx_store::seal::Sealer;
use sbx_store::usage::UsageSample;
use tokio_util::sync::CancellationToken;

use crate::container::{
    ContainerBackend, ContainerError, ContainerSpec, GpuAssignment, RegistryAuth,
};
use crate::{kept, snapshot};

/// The keep-alive a sandbox without a command runs, so that `exec` has something to run in.
pub const KEEP_ALIVE: &[&str] = &["sleep", "infinity"];
/// Processes and threads a sandbox may have at once.
const PIDS_LIMIT: i64 = 512;
/// Most bytes of files of a paused sandbox copied into the database; a sandbox with more
/// resumes only on the host that keeps its folders.
const MAX_STORED_FILES: u64 = 8 << 30;
/// Most bytes of files a snapshot made before folders were kept on hosts holds.
const MAX_LEGACY_SNAPSHOT: u64 = 2 << 30;
/// How long a stopping runner waits for the copies of the sandboxes it paused.
const DRAIN_COPIES: Duration = Duration::from_secs(60);
/// Most files a container job keeps as artifacts.
const MAX_ARTIFACTS: usize = 1000;
/// Most bytes of artifacts a container job keeps.
const MAX_ARTIFACT_BYTES: u64 = 256 << 20;
/// Most bytes of output kept in a container's log per placement.
const MAX_LOG_BYTES: usize = 32 << 20;
/// A command nobody took this long after it was written had its note lost: look for it.
const OVERLOOKED_SECS: f64 = 0.5;
/// First bytes of a container sandbox's snapshot.
const MAGIC: &[u8; 8] = b"SBXFILE2";

/// What this runner offers to container sandboxes.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// CPU, in thousandths of a core.
    pub cpu_millis: u32,
    /// Memory, in bytes.
    pub memory_bytes: u64,
    /// GPU cards (from NVML, or declared in config).
    pub gpus: Inventory,
    /// Where sandboxes' folders live while placed here.
    pub dir: PathBuf,
    /// Prices for the meter.
    pub prices: Prices,
}

/// A sandbox this runner holds.
struct Held {
    sandbox: Sandbox,
    container: Option<String>,
    /// (model, cards' worth) of its GPU share.
    gpu: Option<(String, f64)>,
    /// CPU time at the last sample, and when.
    last: Option<(u64, Instant)>,
    /// Being paused or removed: the exit watcher and the meter leave it alone.
    leaving: bool,
    /// Its folders for this placement: a new one each time it is placed, so that letting go
    /// of one placement never touches the next one's files.
    root: PathBuf,
}

/// The container sandboxes of one runner.
pub struct ContainerHost {
    pool: Pool,
    backend: ContainerBackend,
    runner: uuid::Uuid,
    /// Names where this host keeps paused sandboxes' folders ([`crate::kept::host_id`]).
    host: String,
    /// Holds the folder for this runner of its database ([`crate::kept::lock`]).
    _lock: std::fs::File,
    /// The database's name: labels its containers (`sbx.database`), so that tools can tell
    /// one deployment's from another's on a shared Docker host.
    database: String,
    /// Copies of paused sandboxes' folders into the database under way: (number, stop, task).
    copies: Mutex<HashMap<SandboxId, Copy>>,
    sealer: Sealer,
    config: HostConfig,
    books: Mutex<Books>,
    placing: tokio::sync::Mutex<()>,
}

/// A copy of a paused sandbox's folders into the database, under way.
struct Copy {
    serial: u64,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

struct Books {
    ledger: Ledger,
    held: HashMap<SandboxId, Held>,
}

impl Books {
    fn free(&self, config: &HostConfig) -> (i64, i64) {
        let (cpu, mem) = self.held.values().fold((0i64, 0i64), |(c, m), h| {
            (
                c + i64::from(h.sandbox.cpu_millis),
                m + h.sandbox.memory_bytes,
            )
        });
        (
            i64::from(config.cpu_millis) - cpu,
            config.memory_bytes as i64 - mem,
        )
    }
}

impl ContainerHost {
    /// The container sandboxes of runner `runner` of database `database`, run through
    /// `backend`. Fails if another runner of that database holds `config.dir`.
    pub fn new(
        pool: Pool,
        backend: ContainerBackend,
        runner: uuid::Uuid,
        sealer: Sealer,
        config: HostConfig,
        database: &str,
    ) -> std::io::Result<Arc<Self>> {
        let ledger = Ledger::new(config.gpus.clone());
        let lock = kept::lock(&config.dir, database)?;
        let host = kept::host_id(&config.dir)?;
        Ok(Arc::new(Self {
            pool,
            backend,
            runner,
            _lock: lock,
            database: database.to_owned(),
            host,
            copies: Mutex::new(HashMap::new()),
            sealer,
            config,
            books: Mutex::new(Books {
                ledger,
                held: HashMap::new(),
            }),
            placing: tokio::sync::Mutex::new(()),
        }))
    }

    /// The GPU inventory's free shares, per model.
    pub fn gpu_shares(&self) -> Vec<sbx_limits::gpu::ModelShares> {
        self.books.lock().expect("books lock").ledger.free_shares()
    }

    /// Run until `stop` fires: place pending sandboxes, act on notifications, meter.
    pub async fn run(self: Arc<Self>, notes: sbx_store::notify::Notes, stop: CancellationToken) {
        if let Err(e) = self.adopt().await {
            tracing::warn!(error = %e, "could not take over this runner's earlier sandboxes");
        }
        // Three loops, so that none waits on another: notifications (each handled in a task of
        // its own), placement, and the meter (Docker's stats can take a while).
        let placing = {
            let (this, stop) = (self.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        _ = tick.tick() => {
                            this.clone().place().await;
                            this.clone().overlooked_commands().await;
                        }
                    }
                }
            })
        };
        let metering = {
            let (this, stop) = (self.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut rounds = 0u64;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        _ = tick.tick() => {
                            if let Err(e) = this.meter().await {
                                tracing::warn!(error = %e, "metering failed; retrying in a second");
                            }
                            if rounds.is_multiple_of(30) {
                                this.sweep_strays().await;
                                // Removing big folders may take a while: not on the meter's time.
                                tokio::spawn(this.clone().sweep_kept());
                            }
                            rounds += 1;
                        }
                    }
                }
            })
        };
        let mut rx = notes.subscribe();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                note = rx.recv() => match note {
                    Ok(Note::Sandbox(note)) => {
                        let this = self.clone();
                        tokio::spawn(async move { this.on_note(note).await });
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        let _ = tokio::join!(placing, metering);
        self.shutdown().await;
    }

    /// Pause every running sandbox here (reason `shutdown`): a restart resumes them from their
    /// snapshots, on this runner or another.
    async fn shutdown(self: &Arc<Self>) {
        let running: Vec<SandboxId> = {
            let books = self.books.lock().expect("books lock");
            books
                .held
                .iter()
                .filter(|(_, h)| h.container.is_some() && !h.leaving)
                .map(|(id, _)| *id)
                .collect()
        };
        for id in running {
            if let Err(e) = self.pause(id, StateReason::Shutdown).await {
                tracing::warn!(sandbox = %id, error = %e, "could not pause a container sandbox at shutdown");
            }
        }
        // Their folders stay here, where a restarted runner finds them; the copies let any
        // other runner resume them too.
        let copies: Vec<Copy> = self
            .copies
            .lock()
            .expect("copies lock")
            .drain()
            .map(|(_, c)| c)
            .collect();
        let all = futures_util::future::join_all(copies.into_iter().map(|c| c.task));
        if tokio::time::timeout(DRAIN_COPIES, all).await.is_err() {
            tracing::warn!(
                "stopping before every paused sandbox's copy was stored: they resume on this host only"
            );
        }
    }

    /// Copy the folders kept for sandbox `id`'s pause `nth` into the database, in the
    /// background.
    fn start_copy(self: &Arc<Self>, id: SandboxId, nth: i32) {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stop = CancellationToken::new();
        let this = self.clone();
        let token = stop.clone();
        let mut copies = self.copies.lock().expect("copies lock");
        let task = tokio::spawn(async move {
            let started = Instant::now();
            match kept::store(
                &this.pool,
                &this.config.dir,
                id,
                nth,
                MAX_STORED_FILES,
                token,
            )
            .await
            {
                Ok(bytes) => tracing::info!(
                    sandbox = %id, nth, bytes, ms = started.elapsed().as_millis() as u64,
                    "a paused sandbox's folders are copied: any runner can resume it"
                ),
                Err(kept::CopyError::Cancelled) => {
                    tracing::debug!(sandbox = %id, nth, "resumed here before its folders were copied")
                }
                Err(e) => tracing::warn!(
                    sandbox = %id, nth, error = %e,
                    "a paused sandbox's folders were not copied: it resumes on this host only"
                ),
            }
            let mut copies = this.copies.lock().expect("copies lock");
            if copies.get(&id).is_some_and(|c| c.serial == serial) {
                copies.remove(&id);
            }
        });
        if let Some(old) = copies.insert(id, Copy { serial, stop, task }) {
            old.stop.cancel();
        }
    }

    /// Stop the copy of sandbox `id`'s folders, if one is under way, and wait for it.
    async fn stop_copy(&self, id: SandboxId) {
        let copy = self.copies.lock().expect("copies lock").remove(&id);
        if let Some(c) = copy {
            c.stop.cancel();
            let _ = c.task.await;
        }
    }

    /// Drop the folders kept here of sandboxes that no longer need them (ended, or paused
    /// since on another host), and copy those whose copy a stopped runner left unfinished;
    /// and drop what races left in the database ([`sandboxes::purge`]).
    async fn sweep_kept(self: Arc<Self>) {
        if let Err(e) = sandboxes::purge(&self.pool, 3600.0).await {
            tracing::warn!(error = %e, "could not purge left-over copies and commands");
        }
        let dir = self.config.dir.clone();
        let found = tokio::task::spawn_blocking(move || kept::all_kept(&dir))
            .await
            .unwrap_or_default();
        // Being paused or resumed here right now: left alone.
        let found: Vec<(SandboxId, Option<i32>)> = {
            let books = self.books.lock().expect("books lock");
            found
                .into_iter()
                .filter(|(id, _)| !books.held.contains_key(id))
                .collect()
        };
        if found.is_empty() {
            return;
        }
        let ids: Vec<uuid::Uuid> = found.iter().map(|(id, _)| id.0).collect();
        let Ok(open) = sandboxes::kept_where(&self.pool, &ids).await else {
            return;
        };
        for (id, _) in found {
            // Sandboxes another deployment's database knows (runners sharing this folder)
            // are left alone.
            let Some(row) = open.iter().find(|r| r.sandbox_id == id) else {
                continue;
            };
            // Read again: a pause that ended since the listing has marked its folders by now.
            let nth = kept::kept_gen(&self.config.dir, id);
            let wanted =
                row.waiting && Some(row.nth) == nth && row.host.as_deref() == Some(&self.host);
            if !wanted {
                self.stop_copy(id).await;
                let dir = self.config.dir.clone();
                let _ = tokio::task::spawn_blocking(move || kept::drop_kept(&dir, id)).await;
            } else if row.stored != Some(row.nth)
                && !self.copies.lock().expect("copies lock").contains_key(&id)
            {
                self.start_copy(id, row.nth);
            }
        }
    }

    /// Sandboxes this runner id held before: none, since runner ids are new per process; kept
    /// for a runner that restarts with its id.
    async fn adopt(&self) -> Result<(), sbx_store::StoreError> {
        for s in sandboxes::held_by(&self.pool, self.runner).await? {
            tracing::info!(sandbox = %s.sandbox_id, "a sandbox held by this runner id before: failing it");
            sandboxes::transition(
                &self.pool,
                s.sandbox_id,
                Transition {
                    from: &[SandboxState::Pending, SandboxState::Running],
                    to: SandboxState::Failed,
                    reason: StateReason::RunnerLost,
                    detail: Some("its runner restarted"),
                    holder: None,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Remove containers left by runners of this deployment that died without removing them:
    /// labelled with a runner this database knows, stopped or silent. Containers of runners it
    /// does not know (other deployments on this Docker host) are left alone.
    async fn sweep_strays(&self) {
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), vec!["sbx.runner".to_owned()]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let Ok(containers) = self.backend.docker().list_containers(Some(options)).await else {
            return;
        };
        let owner = |c: &bollard::models::ContainerSummary| {
            c.labels
                .as_ref()
                .and_then(|l| l.get("sbx.runner"))
                .and_then(|r| uuid::Uuid::parse_str(r).ok())
        };
        let mut runners: Vec<uuid::Uuid> = containers.iter().filter_map(owner).collect();
        runners.sort();
        runners.dedup();
        runners.retain(|r| *r != self.runner);
        if runners.is_empty() {
            return;
        }
        let Ok(known) = sbx_store::runners::liveness(&self.pool, &runners, 60.0).await else {
            return;
        };
        for c in &containers {
            let dead = owner(c).is_some_and(|r| known.iter().any(|(k, alive)| *k == r && !alive));
            if dead && let Some(id) = &c.id {
                tracing::info!(container = %id, "removing a container its dead runner left");
                let _ = self.backend.stop_and_remove(id).await;
            }
        }
    }

    async fn on_note(self: &Arc<Self>, note: SandboxNote) {
        match note {
            SandboxNote::Pending(_) => self.clone().place().await,
            SandboxNote::Ended(id) => {
                let job = self
                    .books
                    .lock()
                    .expect("books lock")
                    .held
                    .get(&id)
                    .and_then(|h| h.sandbox.job_id.map(|j| (j, h.sandbox.project_id)));
                if let Some((job, project)) = job {
                    // Stopped before its files are read: nothing changes them meanwhile.
                    self.stop(id).await;
                    let reason = sandboxes::get(&self.pool, project, id)
                        .await
                        .ok()
                        .flatten()
                        .map(|s| s.state_reason);
                    let status = match reason {
                        Some(StateReason::Timeout) => ExecStatus::Timeout,
                        Some(StateReason::User) => ExecStatus::Cancelled,
                        _ => ExecStatus::Error,
                    };
                    let why = reason.map_or("", StateReason::as_str);
                    self.finish_job(id, job, status, None, false, Some(why))
                        .await;
                }
                self.remove(id).await;
                self.stop_copy(id).await;
                let dir = self.config.dir.clone();
                let _ = tokio::task::spawn_blocking(move || kept::drop_kept(&dir, id)).await;
            }
            SandboxNote::Command {
                sandbox: id,
                command,
            } => self.run_command(id, command).await,
            SandboxNote::PauseRequested {
                sandbox: id,
                reason,
            } => {
                if let Err(e) = self.pause(id, reason).await {
                    tracing::warn!(sandbox = %id, error = %e, "could not pause a container sandbox");
                }
                // A resume may have come while this placement was let go: take it now.
                self.clone().place().await;
            }
            SandboxNote::Running(_) | SandboxNote::CommandDone(_) => {}
        }
    }

    /// Claim what fits and start it. One round at a time.
    async fn place(self: Arc<Self>) {
        let _round = self.placing.lock().await;
        let mut booked = Vec::new();
        let claimed = {
            let this = self.clone();
            let booked = &mut booked;
            sandboxes::claim_containers(&self.pool, self.runner, &self.host, 16, move |s| {
                let fits = this.fit(s);
                if fits.is_ok() {
                    booked.push(s.sandbox_id);
                }
                fits
            })
            .await
        };
        let claimed = match claimed {
            Ok(c) => c,
            Err(e) => {
                // The claim rolled back: give back what this round booked, and only that.
                tracing::warn!(error = %e, "claiming container sandboxes failed");
                for id in booked {
                    self.forget(id);
                }
                return;
            }
        };
        for p in claimed {
            let this = self.clone();
            tokio::spawn(async move { this.start(p).await });
        }
    }

    /// Whether `s` fits what is free here; books it if so.
    /// `Err(None)`: not now (its last placement here is still being let go).
    fn fit(&self, s: &Sandbox) -> Result<Option<serde_json::Value>, Option<String>> {
        let mut books = self.books.lock().expect("books lock");
        if books.held.contains_key(&s.sandbox_id) {
            // Its last placement here is still being let go (a pause just committed): the
            // next round takes it.
            return Err(None);
        }
        let (cpu, mem) = books.free(&self.config);
        if i64::from(s.cpu_millis) > cpu || s.memory_bytes > mem {
            return Err(Some(format!(
                "waiting for CPU and memory: {:.2} cores and {} MiB are free on the runners that looked",
                cpu.max(0) as f64 / 1000.0,
                mem.max(0) >> 20
            )));
        }
        let mut gpu = None;
        let mut alloc = None;
        if let Some(req) = &s.gpu {
            let a = books
                .ledger
                .place(req, &s.sandbox_id.to_string())
                .ok_or_else(|| {
                    Some(format!(
                        "waiting for a GPU: {} × {} of a {:?} card is not free on the runners that looked",
                        req.count, req.fraction, req.r#type
                    ))
                })?;
            let model = books
                .ledger
                .cards()
                .find(|c| a.card_uuids.first() == Some(&c.uuid))
                .map(|c| c.model.clone())
                .unwrap_or_default();
            gpu = Some((model.clone(), a.cards_worth()));
            alloc = Some(serde_json::json!({
                "cards": a.card_uuids,
                "quarters": a.quarters_per_card,
                "model": model,
            }));
        }
        books.held.insert(
            s.sandbox_id,
            Held {
                sandbox: s.clone(),
                container: None,
                gpu,
                last: None,
                leaving: false,
                root: self.config.dir.join(format!(
                    "{}-{}",
                    s.sandbox_id.0.simple(),
                    uuid::Uuid::now_v7().simple()
                )),
            },
        );
        Ok(alloc)
    }

    /// The folders of sandbox `id`'s placement here (of none, if it is not held).
    fn folders(&self, id: SandboxId) -> (PathBuf, PathBuf) {
        let root = self
            .root(id)
            .unwrap_or_else(|| self.config.dir.join("none"));
        (root.join("workspace"), root.join("outputs"))
    }

    fn root(&self, id: SandboxId) -> Option<PathBuf> {
        self.books
            .lock()
            .expect("books lock")
            .held
            .get(&id)
            .map(|h| h.root.clone())
    }

    /// Start placed sandbox `p`: its folders (restored from its snapshot when it resumes), its
    /// image, its container. A failure fails the sandbox with the reason.
    async fn start(self: Arc<Self>, p: PendingContainer) {
        let id = p.sandbox.sandbox_id;
        let resumed = p.kept.is_some() || p.legacy_snapshot.is_some();
        let outcome = self.start_container(&p).await;
        let (reason, detail) = match outcome {
            Ok(container) => {
                let reason = if resumed {
                    StateReason::Resumed
                } else {
                    StateReason::Started
                };
                match sandboxes::container_started(&self.pool, id, self.runner, &container, reason)
                    .await
                {
                    Ok(Some(s)) => {
                        if let Some(job) = s.job_id
                            && let Err(e) =
                                sbx_store::container_jobs::started(&self.pool, job).await
                        {
                            tracing::warn!(sandbox = %id, error = %e, "could not mark a container job started");
                        }
                        if let Some(h) = self.books.lock().expect("books lock").held.get_mut(&id) {
                            h.container = Some(container.clone());
                            // Metered from now: the first sample covers the first second.
                            h.last = Some((0, Instant::now()));
                        }
                        let this = self.clone();
                        tokio::spawn(async move { this.watch(id, container).await });
                        return;
                    }
                    Ok(None) => {
                        // Ended meanwhile (deleted, timed out).
                        let _ = self.backend.stop_and_remove(&container).await;
                        self.forget(id);
                        return;
                    }
                    Err(e) => {
                        let _ = self.backend.stop_and_remove(&container).await;
                        (StateReason::StartFailed, e.to_string())
                    }
                }
            }
            Err((reason, detail)) => (reason, detail),
        };
        tracing::warn!(sandbox = %id, %reason, detail, "a container sandbox could not start");
        if let Some(job) = p.sandbox.job_id {
            let why = format!("{reason}: {detail}");
            self.finish_job(id, job, ExecStatus::Error, None, false, Some(&why))
                .await;
        }
        if let Err(e) = sandboxes::transition(
            &self.pool,
            id,
            Transition {
                from: &[SandboxState::Pending],
                to: SandboxState::Failed,
                reason,
                detail: Some(&detail),
                holder: None,
            },
        )
        .await
        {
            tracing::warn!(sandbox = %id, error = %e, "could not record a failed start");
        }
        if let Some(root) = self.root(id) {
            let _ = std::fs::remove_dir_all(root);
        }
        self.forget(id);
    }

    async fn start_container(&self, p: &PendingContainer) -> Result<String, (StateReason, String)> {
        let id = p.sandbox.sandbox_id;
        let root = self
            .root(id)
            .ok_or((StateReason::StartFailed, "it is not held here".to_owned()))?;
        let (workspace, outputs) = self.folders(id);
        if let Some(k) = &p.kept {
            // Its folders: taken back where they were kept, else from their copy.
            self.stop_copy(id).await;
            let here = k.host.as_deref() == Some(self.host.as_str()) && {
                let (dir, root, nth) = (self.config.dir.clone(), root.clone(), k.nth);
                tokio::task::spawn_blocking(move || kept::take_back(&dir, id, nth, &root))
                    .await
                    .map_err(|e| (StateReason::StartFailed, e.to_string()))?
                    .map_err(|e| (StateReason::StartFailed, e.to_string()))?
            };
            if !here {
                if !k.stored {
                    return Err((
                        StateReason::SnapshotLost,
                        "the files of its last pause were kept on a host that no longer has them, and their copy was not complete".to_owned(),
                    ));
                }
                kept::restore(&self.pool, id, k.nth, &root)
                    .await
                    .map_err(|e| (StateReason::SnapshotCorrupt, e))?;
            }
        }
        for d in [&workspace, &outputs] {
            std::fs::create_dir_all(d).map_err(|e| (StateReason::StartFailed, e.to_string()))?;
        }
        if let Some(snapshot) = &p.legacy_snapshot {
            unpack(snapshot, &workspace, &outputs)
                .map_err(|e| (StateReason::SnapshotCorrupt, e))?;
        }
        let auth = match &p.registry_auth {
            Some(sealed) => Some(
                self.open_auth(sealed)
                    .map_err(|e| (StateReason::StartFailed, e))?,
            ),
            None => None,
        };
        let env: Vec<(String, String)> = match &p.env_sealed {
            Some(sealed) => {
                let plain = self
                    .sealer
                    .open(sealed)
                    .map_err(|e| (StateReason::StartFailed, e.to_string()))?;
                serde_json::from_slice::<std::collections::BTreeMap<String, String>>(&plain)
                    .map_err(|e| (StateReason::StartFailed, e.to_string()))?
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        };
        // The root is read-only: tools that write under $HOME get the writable /tmp, unless the
        // caller says otherwise.
        let mut env = env;
        if !env.iter().any(|(k, _)| k == "HOME") {
            env.insert(0, ("HOME".into(), "/tmp".into()));
        }
        let image = self.resolve_image(&p.sandbox.image, &p.docker_image).await;
        self.backend
            .ensure_image(&image, auth.as_ref())
            .await
            .map_err(|e| match e {
                ContainerError::ImagePullFailed(m) | ContainerError::ImageMissing(m) => {
                    (StateReason::ImagePullFailed, m)
                }
                other => (StateReason::StartFailed, other.to_string()),
            })?;
        let gpu = p.sandbox.gpu.as_ref().and_then(|_| {
            let books = self.books.lock().expect("books lock");
            let a = books.ledger.allocation(&id.to_string())?;
            let card = books
                .ledger
                .cards()
                .find(|c| a.card_uuids.first() == Some(&c.uuid))?;
            let fraction = f64::from(a.quarters_per_card) / 4.0;
            if card.declared {
                // No real card backs a declared one: Docker would refuse a device request for
                // it. The container is told what it was given, as a real one would be.
                env.push(("NVIDIA_VISIBLE_DEVICES".into(), a.card_uuids.join(",")));
                if fraction < 1.0 {
                    env.push((
                        "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE".into(),
                        format!("{}", (fraction * 100.0).round() as u32),
                    ));
                }
                env.push(("SBX_GPU_DECLARED".into(), "1".into()));
                return None;
            }
            Some(GpuAssignment {
                uuids: a.card_uuids.clone(),
                fraction,
                device_memory_bytes: Some(card.memory_bytes).filter(|m| *m > 0),
            })
        });
        let command = p
            .sandbox
            .command
            .clone()
            .unwrap_or_else(|| KEEP_ALIVE.iter().map(|s| (*s).to_owned()).collect());
        let spec = ContainerSpec {
            name: format!("sbx-{}", id.0.simple()),
            image,
            command: Some(command),
            env,
            cpu_millis: p.sandbox.cpu_millis as u32,
            memory_bytes: p.sandbox.memory_bytes as u64,
            pids_limit: PIDS_LIMIT,
            network: p.network,
            gpu,
            workspace,
            outputs,
            labels: vec![
                ("sbx.sandbox".into(), id.to_string()),
                ("sbx.project".into(), p.sandbox.project_id.to_string()),
                ("sbx.runner".into(), self.runner.to_string()),
                ("sbx.database".into(), self.database.clone()),
            ],
        };
        // A container of this name left by an earlier placement that failed half-way.
        let _ = self.backend.stop_and_remove(&spec.name).await;
        self.backend
            .start(&spec)
            .await
            .map_err(|e| (StateReason::StartFailed, e.to_string()))
    }

    /// The image to run for catalog name or reference `image`: the catalog's local build when
    /// this host has it, else `reference`.
    async fn resolve_image(&self, image: &str, reference: &str) -> String {
        if let Some(local) = sbx_limits::catalog::find(image).and_then(|c| c.local_image.clone())
            && self.backend.docker().inspect_image(&local).await.is_ok()
        {
            return local;
        }
        reference.to_owned()
    }

    fn open_auth(&self, sealed: &[u8]) -> Result<RegistryAuth, String> {
        let plain = self.sealer.open(sealed).map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
        Ok(RegistryAuth {
            username: v["username"].as_str().unwrap_or_default().to_owned(),
            password: v["password"].as_str().unwrap_or_default().to_owned(),
            server: v["server"].as_str().map(str::to_owned),
        })
    }

    /// Wait for container `container` of sandbox `id` to end by itself, and end the sandbox
    /// (and its job, with the job's output kept as its log as it comes).
    async fn watch(&self, id: SandboxId, container: String) {
        let job = self
            .books
            .lock()
            .expect("books lock")
            .held
            .get(&id)
            .and_then(|h| h.sandbox.job_id);
        // A job's log is its own; a sandbox's goes on over its placements.
        let owner = job.map_or(
            sbx_store::logs::Owner::Sandbox(id),
            sbx_store::logs::Owner::Job,
        );
        let logs = tokio::spawn(follow_logs(
            self.pool.clone(),
            self.backend.clone(),
            container.clone(),
            owner,
        ));
        let exit = self.backend.wait(&container).await;
        // The log is complete before the job or sandbox ends: readers stop at the end.
        let _ = tokio::time::timeout(Duration::from_secs(10), logs).await;
        let leaving = self
            .books
            .lock()
            .expect("books lock")
            .held
            .get(&id)
            // Paused or removed by us; or paused and placed again, as another container.
            .is_none_or(|h| h.leaving || h.container.as_deref() != Some(container.as_str()));
        if leaving {
            return;
        }
        let (to, reason, detail) = match &exit {
            Ok(e) if e.oom_killed => (
                SandboxState::Failed,
                StateReason::Oom,
                format!("the container ran out of memory (exit {})", e.exit_code),
            ),
            Ok(e) if e.exit_code == 0 => (
                SandboxState::Terminated,
                StateReason::Exited,
                "its command exited with 0".into(),
            ),
            Ok(e) => (
                SandboxState::Failed,
                StateReason::Exited,
                format!("its command exited with {}", e.exit_code),
            ),
            Err(e) => (
                SandboxState::Failed,
                StateReason::RunnerError,
                e.to_string(),
            ),
        };
        if let (Some(job), Ok(e)) = (job, exit) {
            let status = if e.oom_killed {
                ExecStatus::MemoryLimit
            } else if e.exit_code == 0 {
                ExecStatus::Succeeded
            } else {
                ExecStatus::Failed
            };
            self.finish_job(id, job, status, Some(e.exit_code), e.oom_killed, None)
                .await;
        }
        if let Err(e) = sandboxes::transition(
            &self.pool,
            id,
            Transition {
                from: &[SandboxState::Running],
                to,
                reason,
                detail: Some(&detail),
                holder: None,
            },
        )
        .await
        {
            tracing::warn!(sandbox = %id, error = %e, "could not record a container's end");
        }
        self.remove(id).await;
    }

    /// End container job `job` (run by sandbox `id`) with `status`, keeping what its command
    /// left under `/outputs` as artifacts and `/outputs/metrics.json` in its result.
    async fn finish_job(
        &self,
        id: SandboxId,
        job: JobId,
        status: ExecStatus,
        exit_code: Option<i64>,
        oom_killed: bool,
        why: Option<&str>,
    ) {
        let (_, outputs) = self.folders(id);
        let mut artifacts = Vec::new();
        let mut total = 0u64;
        let mut left_out = 0u32;
        for (rel, meta) in crate::wasm::workspace::scan(&outputs).unwrap_or_default() {
            if artifacts.len() >= MAX_ARTIFACTS || total + meta.len() > MAX_ARTIFACT_BYTES {
                left_out += 1;
                continue;
            }
            if let Ok(bytes) = crate::wasm::workspace::read_capped(&outputs.join(&rel), meta.len())
            {
                total += bytes.len() as u64;
                artifacts.push((rel, bytes));
            }
        }
        let metrics = artifacts
            .iter()
            .find(|(p, _)| p == "metrics.json")
            .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).ok());
        let result = serde_json::json!({
            "status": status,
            "exit_code": exit_code,
            "oom_killed": oom_killed,
            "sandbox_id": id,
            "metrics": metrics,
            "artifacts": artifacts.iter().map(|(p, b)| serde_json::json!({"path": p, "size": b.len()})).collect::<Vec<_>>(),
            "artifacts_omitted": left_out,
            "message": why,
        });
        let ending = sbx_store::container_jobs::Ending {
            status,
            exit_code: exit_code.map(|c| c as i32),
            result: &result,
            artifacts: &artifacts,
        };
        if let Err(e) = sbx_store::container_jobs::finish(&self.pool, job, &ending).await {
            tracing::warn!(job = %job, error = %e, "could not record a container job's end");
        }
    }

    /// Run command `cmd` in sandbox `id` if it runs here, and record what came of it.
    async fn run_command(&self, id: SandboxId, cmd: CommandId) {
        let container = {
            let books = self.books.lock().expect("books lock");
            match books.held.get(&id) {
                Some(h) if !h.leaving => h.container.clone(),
                _ => None,
            }
        };
        let Some(container) = container else {
            return;
        };
        let command = match sbx_store::commands::take(&self.pool, cmd).await {
            Ok(Some(c)) if c.sandbox_id == id => c,
            Ok(Some(c)) => {
                tracing::warn!(sandbox = %id, command = %cmd, of = %c.sandbox_id, "a command named the wrong sandbox");
                return;
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(sandbox = %id, error = %e, "could not take a command");
                return;
            }
        };
        let recorded = match self
            .backend
            .exec(
                &container,
                &command.argv,
                Duration::from_millis(command.timeout_ms.max(1) as u64),
                command.output_cap.max(0) as usize,
            )
            .await
        {
            Ok(out) => sbx_store::commands::Recorded::Ran(outcome(out)),
            Err(e) => sbx_store::commands::Recorded::Error(e.to_string()),
        };
        if let Err(e) = sbx_store::commands::finish(&self.pool, cmd, &recorded).await {
            tracing::warn!(sandbox = %id, error = %e, "could not record a command's outcome");
        }
    }

    /// Run the commands for sandboxes here whose notes were lost.
    async fn overlooked_commands(self: Arc<Self>) {
        let running: Vec<uuid::Uuid> = {
            let books = self.books.lock().expect("books lock");
            books
                .held
                .iter()
                .filter(|(_, h)| h.container.is_some() && !h.leaving)
                .map(|(id, _)| id.0)
                .collect()
        };
        let Ok(cmds) = sbx_store::commands::overlooked(&self.pool, &running, OVERLOOKED_SECS).await
        else {
            return;
        };
        for (id, cmd) in cmds {
            let this = self.clone();
            tokio::spawn(async move { this.run_command(id, cmd).await });
        }
    }

    /// Pause sandbox `id`, if it runs here: its folders into the snapshot, its container and
    /// share freed.
    async fn pause(self: &Arc<Self>, id: SandboxId, reason: StateReason) -> Result<(), String> {
        // A sandbox still starting here is paused once its container runs.
        let deadline = Instant::now() + Duration::from_secs(30);
        let container = loop {
            {
                let mut books = self.books.lock().expect("books lock");
                let Some(h) = books.held.get_mut(&id) else {
                    return Ok(());
                };
                if h.leaving {
                    return Ok(());
                }
                if let Some(c) = h.container.clone() {
                    h.leaving = true;
                    break c;
                }
            }
            if Instant::now() > deadline {
                return Err("the sandbox did not finish starting".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let started = Instant::now();
        let paused = match self.keep(id, &container).await {
            Ok(bytes) => {
                // The folders are kept: a database that blinks must not cost them.
                let mut tries = 0;
                loop {
                    tries += 1;
                    match sandboxes::pause_container(
                        &self.pool,
                        id,
                        self.runner,
                        reason,
                        &self.host,
                        bytes as i64,
                    )
                    .await
                    {
                        Ok(nth) => break Ok((nth, bytes)),
                        Err(e) if tries >= 5 => break Err(e.to_string()),
                        Err(e) => {
                            tracing::warn!(sandbox = %id, error = %e, "recording a pause failed; trying again");
                            tokio::time::sleep(Duration::from_millis(500 * tries)).await;
                        }
                    }
                }
            }
            Err(e) => Err(e),
        };
        let (nth, bytes) = match paused {
            Ok(k) => k,
            Err(e) => {
                // Its container is stopped and its files could not be kept: say so, rather
                // than leave a sandbox that claims to run.
                let detail = format!("the pause failed: {e}");
                let _ = sandboxes::transition(
                    &self.pool,
                    id,
                    Transition {
                        from: &[SandboxState::Running],
                        to: SandboxState::Failed,
                        reason: StateReason::PauseFailed,
                        detail: Some(&detail),
                        holder: None,
                    },
                )
                .await;
                self.remove(id).await;
                let dir = self.config.dir.clone();
                let _ = tokio::task::spawn_blocking(move || kept::drop_kept(&dir, id)).await;
                return Err(detail);
            }
        };
        let dir = self.config.dir.clone();
        let marked = match nth {
            Some(nth) => tokio::task::spawn_blocking(move || kept::mark(&dir, id, nth))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r),
            // Ended or moved meanwhile: nothing to keep.
            None => {
                let _ = tokio::task::spawn_blocking(move || kept::drop_kept(&dir, id)).await;
                Ok(())
            }
        };
        tracing::info!(
            sandbox = %id,
            nth,
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "container sandbox paused"
        );
        self.remove(id).await;
        match (nth, marked) {
            (Some(nth), Ok(())) => self.start_copy(id, nth),
            (Some(_), Err(e)) => {
                tracing::warn!(sandbox = %id, error = %e, "could not mark a paused sandbox's folders")
            }
            (None, _) => {}
        }
        Ok(())
    }

    /// Container `container` of sandbox `id` stopped, then its folders kept on this host
    /// ([`kept::keep`]): the bytes of files they hold. They are moved only once nothing in the
    /// container can change them.
    async fn keep(&self, id: SandboxId, container: &str) -> Result<u64, String> {
        let stop = bollard::query_parameters::StopContainerOptionsBuilder::new()
            .t(crate::container::STOP_GRACE_SECS)
            .build();
        match self
            .backend
            .docker()
            .stop_container(container, Some(stop))
            .await
        {
            Ok(()) => {}
            // Not running any more (304): as good.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => return Err(format!("the container could not be stopped: {e}")),
        }
        let root = self.root(id).ok_or("it is not held here")?;
        let dir = self.config.dir.clone();
        tokio::task::spawn_blocking(move || kept::keep(&dir, &root, id))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("its folders could not be kept: {e}"))
    }

    /// Stop sandbox `id`'s container, if it has one here.
    async fn stop(&self, id: SandboxId) {
        let container = self
            .books
            .lock()
            .expect("books lock")
            .held
            .get_mut(&id)
            .and_then(|h| {
                h.leaving = true;
                h.container.clone()
            });
        if let Some(c) = container {
            let stop = bollard::query_parameters::StopContainerOptionsBuilder::new()
                .t(crate::container::STOP_GRACE_SECS)
                .build();
            let _ = self.backend.docker().stop_container(&c, Some(stop)).await;
        }
    }

    /// Let sandbox `id` go: its container, folders and share. Its last stretch of running
    /// time is metered first.
    async fn remove(&self, id: SandboxId) {
        let (container, last) = {
            let mut books = self.books.lock().expect("books lock");
            match books.held.get_mut(&id) {
                Some(h) => {
                    h.leaving = true;
                    let tail = h
                        .last
                        .take()
                        .map(|(_, then)| self.sample(h, id, then.elapsed().as_secs_f64(), None));
                    (h.container.clone(), tail)
                }
                None => return,
            }
        };
        if let Some(sample) = last
            && let Err(e) = sbx_store::usage::insert(&self.pool, &[sample]).await
        {
            tracing::warn!(sandbox = %id, error = %e, "could not meter a sandbox's last seconds");
        }
        if let Some(c) = container
            && let Err(e) = self.backend.stop_and_remove(&c).await
        {
            tracing::warn!(sandbox = %id, error = %e, "could not remove a container");
        }
        if let Some(root) = self.root(id) {
            let _ = std::fs::remove_dir_all(root);
        }
        self.forget(id);
    }

    fn forget(&self, id: SandboxId) {
        let mut books = self.books.lock().expect("books lock");
        books.held.remove(&id);
        books.ledger.release(&id.to_string());
    }

    /// One round of the meter, and the heartbeat of what this runner holds.
    async fn meter(&self) -> Result<(), sbx_store::StoreError> {
        let running: Vec<(SandboxId, String)> = {
            let books = self.books.lock().expect("books lock");
            books
                .held
                .iter()
                .filter(|(_, h)| !h.leaving)
                .filter_map(|(id, h)| h.container.clone().map(|c| (*id, c)))
                .collect()
        };
        let stats = futures_util::future::join_all(running.iter().map(|(_, c)| async move {
            // The kernel's own account, read from the container's cgroup: a few file reads,
            // where asking Docker costs the daemon a stats request per container per second.
            match cgroup_sample(c) {
                Some(s) => Ok(s),
                None => self.backend.stats(c).await,
            }
        }))
        .await;
        let now = Instant::now();
        let mut samples = Vec::new();
        {
            let mut books = self.books.lock().expect("books lock");
            for ((id, _), stat) in running.iter().zip(stats) {
                let Ok(stat) = stat else { continue };
                let Some(h) = books.held.get_mut(id) else {
                    continue;
                };
                let Some((cpu_before, then)) = h.last.replace((stat.cpu_total_ns, now)) else {
                    continue; // the first reading only starts the interval
                };
                let seconds = now.duration_since(then).as_secs_f64();
                let used = (
                    stat.cpu_total_ns.saturating_sub(cpu_before) as f64 / 1e9 / seconds,
                    stat.memory_bytes as i64,
                );
                samples.push(self.sample(h, *id, seconds, Some(used)));
            }
        }
        sbx_store::usage::insert(&self.pool, &samples).await?;
        let held: Vec<(SandboxId, i64)> = {
            let books = self.books.lock().expect("books lock");
            books.held.keys().map(|id| (*id, 0)).collect()
        };
        sandboxes::heartbeat(&self.pool, self.runner, &held).await?;
        Ok(())
    }
}

/// Container `id`'s CPU time and memory in use, from its cgroup (v1 or v2, as Docker's
/// cgroupfs driver lays it out), when it is there.
fn cgroup_sample(id: &str) -> Option<crate::container::Sample> {
    let read = |p: String| std::fs::read_to_string(p).ok();
    let stat = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    let v1 = format!("/sys/fs/cgroup/memory/docker/{id}");
    if let Some(usage) = read(format!("{v1}/memory.usage_in_bytes")) {
        let usage: u64 = usage.trim().parse().ok()?;
        let inactive = read(format!("{v1}/memory.stat"))
            .and_then(|m| stat(&m, "total_inactive_file "))
            .unwrap_or(0);
        let cpu: u64 = read(format!("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage"))?
            .trim()
            .parse()
            .ok()?;
        return Some(crate::container::Sample {
            cpu_total_ns: cpu,
            memory_bytes: usage.saturating_sub(inactive),
            pids: 0,
        });
    }
    let v2 = [
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope"),
        format!("/sys/fs/cgroup/docker/{id}"),
    ]
    .into_iter()
    .find(|d| Path::new(d).is_dir())?;
    let usage: u64 = read(format!("{v2}/memory.current"))?.trim().parse().ok()?;
    let inactive = read(format!("{v2}/memory.stat"))
        .and_then(|m| stat(&m, "inactive_file "))
        .unwrap_or(0);
    let cpu_us = stat(&read(format!("{v2}/cpu.stat"))?, "usage_usec ")?;
    Some(crate::container::Sample {
        cpu_total_ns: cpu_us * 1000,
        memory_bytes: usage.saturating_sub(inactive),
        pids: 0,
    })
}

/// Copy container `container`'s output into `owner`'s log, in batches, until it ends or
/// [`MAX_LOG_BYTES`] are kept (a last line then says so).
async fn follow_logs(
    pool: Pool,
    backend: ContainerBackend,
    container: String,
    owner: sbx_store::logs::Owner,
) {
    use futures_util::StreamExt as _;
    let mut seq = match owner {
        sbx_store::logs::Owner::Job(_) => 0,
        sbx_store::logs::Owner::Sandbox(_) => match sbx_store::logs::last_seq(&pool, owner).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(?owner, error = %e, "could not find where a sandbox's log ends");
                return;
            }
        },
    };
    let mut stream = backend.logs(&container, true);
    let mut batch: Vec<(OutputStream, String)> = Vec::new();
    let mut kept = 0usize;
    // Written 200 ms after the first chunk of a batch; an idle container costs no wake-ups.
    let mut flush_at = None;
    loop {
        let due = flush_at;
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(Ok(c)) => {
                    kept += c.data.len();
                    if kept > MAX_LOG_BYTES {
                        batch.push((OutputStream::Stderr, format!(
                            "\n[sbx: the log is over {} MiB; what follows is not kept]\n",
                            MAX_LOG_BYTES >> 20
                        )));
                        break;
                    }
                    batch.push((c.stream, sbx_core::exec::output_text(&c.data)));
                    flush_at.get_or_insert_with(|| {
                        tokio::time::Instant::now() + Duration::from_millis(200)
                    });
                }
                Some(Err(_)) | None => break,
            },
            () = async { tokio::time::sleep_until(due.expect("set")).await }, if due.is_some() => {
                seq = append_log(&pool, owner, seq, &batch).await;
                batch.clear();
                flush_at = None;
            }
        }
    }
    append_log(&pool, owner, seq, &batch).await;
}

/// Append `batch` to `owner`'s log after `seq`: the new last seq. A sandbox's previous
/// placement may still have been writing when this one read where the log ended: on a clash
/// the end is read again and the batch written once more after it.
async fn append_log(
    pool: &Pool,
    owner: sbx_store::logs::Owner,
    seq: i32,
    batch: &[(OutputStream, String)],
) -> i32 {
    match sbx_store::logs::append(pool, owner, seq, batch).await {
        Ok(s) => return s,
        Err(e) => tracing::debug!(?owner, error = %e, "a log append failed; trying once more"),
    }
    let retried = match sbx_store::logs::last_seq(pool, owner).await {
        Ok(last) => sbx_store::logs::append(pool, owner, last, batch).await,
        Err(e) => Err(e),
    };
    retried.unwrap_or_else(|e| {
        tracing::warn!(?owner, error = %e, "could not keep a log");
        seq
    })
}

impl ContainerHost {
    /// A sample of `h` over the last `seconds`, priced; `used`: (cores, bytes) Docker reported.
    fn sample(
        &self,
        h: &Held,
        id: SandboxId,
        seconds: f64,
        used: Option<(f64, i64)>,
    ) -> UsageSample {
        let cores = f64::from(h.sandbox.cpu_millis) / 1000.0;
        let gib = h.sandbox.memory_bytes as f64 / f64::from(1u32 << 30);
        let prices = &self.config.prices;
        let (gpu_model, gpu_share) = h.gpu.clone().unzip();
        let gpu_share = gpu_share.unwrap_or(0.0);
        UsageSample {
            project_id: h.sandbox.project_id,
            sandbox_id: Some(id),
            at: chrono::Utc::now(),
            seconds,
            state: SandboxState::Running,
            cpu_cores: cores,
            memory_bytes: h.sandbox.memory_bytes,
            cpu_used: used.map(|u| u.0),
            memory_used: used.map(|u| u.1),
            gpu_cost: gpu_model.as_ref().map_or(0.0, |m| {
                prices.cost(&Resource::Gpu { model: m.clone() }, gpu_share, seconds)
            }),
            gpu_model,
            gpu_share,
            storage_bytes: 0,
            cpu_cost: prices.cost(&Resource::Cpu, cores, seconds),
            memory_cost: prices.cost(&Resource::Memory, gib, seconds),
            storage_cost: 0.0,
        }
    }
}

/// What came of a command, as the API answers it.
fn outcome(out: crate::container::ExecOutput) -> CommandOutcome {
    let status = if out.timed_out {
        ExecStatus::Timeout
    } else if out.truncated {
        ExecStatus::OutputLimit
    } else if out.exit_code == Some(0) {
        ExecStatus::Succeeded
    } else {
        ExecStatus::Failed
    };
    CommandOutcome {
        status,
        exit_code: out.exit_code,
        stdout: sbx_core::exec::output_text(&out.stdout),
        stderr: sbx_core::exec::output_text(&out.stderr),
        truncated: out.truncated,
        duration_ms: (out.elapsed.as_secs_f64() * 1e6).round() / 1e3,
    }
}

/// Write the files of a snapshot made before folders were kept on hosts (`/workspace` and
/// `/outputs` in one frame, [`crate::snapshot`]) into `workspace` and `outputs`.
pub fn unpack(bytes: &[u8], workspace: &Path, outputs: &Path) -> Result<(), String> {
    let bad = |m: String| format!("the snapshot cannot be restored: {m}");
    let body = snapshot::open(
        MAGIC,
        bytes,
        MAX_LEGACY_SNAPSHOT + (64 << 20),
        "a container sandbox snapshot",
    )
    .map_err(bad)?;
    let files = snapshot::read_files(&mut snapshot::Reader(&body), 2).map_err(bad)?;
    snapshot::write_files(&files, |tree| if tree == 0 { workspace } else { outputs })
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_from_before_kept_folders_is_restored_and_damage_is_refused() {
        let root = std::env::temp_dir().join(format!("sbx-pack-{}", uuid::Uuid::now_v7()));
        let (w, o) = (root.join("w"), root.join("o"));
        std::fs::create_dir_all(w.join("d")).unwrap();
        std::fs::create_dir_all(&o).unwrap();
        std::fs::write(w.join("d/a.txt"), b"alpha").unwrap();
        std::fs::write(o.join("metrics.json"), b"{}").unwrap();
        let files = snapshot::pack_files(&[(0, &w), (1, &o)], |_, _| false, 1 << 20).unwrap();
        let mut body = Vec::new();
        snapshot::put_files(&mut body, &files);
        let snap = snapshot::seal(MAGIC, &body).unwrap();
        let (w2, o2) = (root.join("w2"), root.join("o2"));
        unpack(&snap, &w2, &o2).unwrap();
        assert_eq!(std::fs::read(w2.join("d/a.txt")).unwrap(), b"alpha");
        assert_eq!(std::fs::read(o2.join("metrics.json")).unwrap(), b"{}");
        let mut bad = snap.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(unpack(&bad, &w2, &o2).unwrap_err().contains("checksum"));
        std::fs::remove_dir_all(root).unwrap();
    }
}
