//! Container sandboxes on this runner: placement, lifecycle and the meter.
//!
//! A runner offers CPU, memory and GPU cards (its books: what it has, what its sandboxes
//! hold). It claims a pending container sandbox only if it fits what is free; one that fits
//! nowhere stays pending with the reason in `waiting_for`, never failed for it. Placing one
//! starts its container ([`crate::container`]) with the sandbox's folders mounted, restoring
//! them when it resumes. Asked to pause (NOTIFY `pause:<id>`), the runner stops the
//! container, keeps `/workspace` and `/outputs` on this host and frees its share; it copies
//! them into PostgreSQL in the background, so that any runner can resume it ([`kept`]).
//! A resume here takes the folders back at once; elsewhere, from the copy. Told it ended
//! (`end:<id>`: deleted, timed out), it removes the container. A container whose command ends
//! by itself ends its sandbox (`exited`, or `oom`).
//!
//! Once a second the meter samples each running container (CPU and memory from Docker, the GPU
//! share it holds) and writes the samples, with their cost at the configured prices, in one
//! batch.
//!
//! # Layout
//! - [`placement`]: claiming what fits, taking over or clearing an earlier run's sandboxes.
//! - [`lifecycle`]: start, watch, pause, stop and remove a placement.
//! - [`commands`]: commands asked for through the database.
//! - [`logs`]: containers' output into `sandbox_logs`.
//! - [`meter`]: per-second usage samples.
//! - [`artifacts`]: a container job's end and its artifacts.
//! - [`kept`]: paused sandboxes' folders kept on this host, and their copy in the database.
//! - [`copies`]: those copies made in the background; sweeping kept folders no sandbox needs.
//! - [`forks`]: copies of a running sandbox's folders, kept as a pause's for new sandboxes.
//! - [`templates`]: template builds, queued or on first use, and their images' removal.
//! - [`egress`]: egress rules' networks, opened and closed with placements; their refusals.

mod artifacts;
mod commands;
mod copies;
mod egress;
mod forks;
#[cfg(feature = "fuzzing")]
pub(crate) use copies::{MAGIC as LEGACY_MAGIC, read as read_legacy_snapshot};
pub mod kept;
mod lifecycle;
mod logs;
mod meter;
mod pauses;
mod placement;
mod templates;

pub use templates::TemplateRegistry;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sbx_core::exec::ExecStatus;
use sbx_core::ids::{JobId, ProjectId, SandboxId};
use sbx_core::notes::SandboxNote;
use sbx_core::sandbox::StateReason;
use sbx_limits::billing::Prices;
use sbx_limits::gpu::{Inventory, Ledger};
use sbx_store::Pool;
use sbx_store::sandboxes::{self, Sandbox};
use sbx_store::seal::Sealer;
use tokio_util::sync::CancellationToken;

use crate::container::ContainerBackend;

/// The keep-alive a sandbox without a command runs, so that `exec` has something to run in.
pub const KEEP_ALIVE: &[&str] = &["sleep", "infinity"];
/// How long a stopping runner waits for the copies of the sandboxes it paused.
const DRAIN_COPIES: Duration = Duration::from_secs(60);

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
    /// Largest template image a build here may make, in bytes.
    pub template_max_bytes: u64,
    /// Where built templates are pushed and pulled, if anywhere.
    pub template_registry: Option<TemplateRegistry>,
    /// What sandboxes' egress rules may reach here, and where their networks' addresses
    /// come from.
    pub egress: crate::egress::EgressConfig,
}

/// A sandbox this runner holds.
struct Held {
    sandbox: Sandbox,
    container: Option<String>,
    /// (model, cards' worth) of its GPU share.
    gpu: Option<(String, f64)>,
    /// CPU time at the last sample, and when.
    last: Option<(u64, Instant)>,
    /// Network bytes (received, sent) at the last sample.
    net_last: Option<(u64, u64)>,
    /// Being paused or removed: the exit watcher and the meter leave it alone.
    leaving: bool,
    /// Its folders for this placement: a new one each time it is placed, so that letting go
    /// of one placement never touches the next one's files.
    root: PathBuf,
    /// Background processes started in this placement.
    processes: Arc<crate::container::processes::Processes>,
    /// Its container's first process as the host numbers it, once asked for: whose network
    /// namespace its ports are reached in.
    init_pid: Arc<tokio::sync::OnceCell<u32>>,
}

/// The container sandboxes of one runner.
pub struct ContainerHost {
    pool: Pool,
    backend: ContainerBackend,
    runner: uuid::Uuid,
    /// Names where this host keeps paused sandboxes' folders ([`kept::host_id`]).
    host: String,
    /// Holds the folder for this runner of its database ([`kept::lock`]).
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
    /// A queued template build runs here (one at a time).
    building: std::sync::atomic::AtomicBool,
    /// Per template version, the lock its build here holds.
    template_locks: Mutex<HashMap<sbx_core::ids::TemplateId, Arc<tokio::sync::Mutex<()>>>>,
    /// Egress networks of sandboxes with egress rules.
    egress: Arc<crate::egress::Egress>,
    /// The open ones, per sandbox held here.
    egress_networks: egress::Networks,
    /// Refusals of their gates, until [`ContainerHost::run`] takes them to record.
    denials: Mutex<Option<tokio::sync::mpsc::Receiver<crate::egress::Denial>>>,
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
    /// Bytes of disk cap a new placement may have: the host's free space, less what the caps
    /// of the sandboxes held here may still write (a cap less what its image already took).
    /// Kept folders of paused sandboxes do not grow; what they hold is already not free.
    fn disk_free(&self, config: &HostConfig) -> i64 {
        let may_still_write: u64 = self
            .held
            .values()
            .map(|h| {
                (h.sandbox.disk_bytes as u64).saturating_sub(crate::disk::image_usage(&h.root))
            })
            .sum();
        crate::disk::writable(&config.dir).unwrap_or(0) as i64 - may_still_write as i64
    }

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
        let (deny, denials) = egress::denials();
        let egress = Arc::new(crate::egress::Egress::new(
            backend.docker().clone(),
            config.egress.clone(),
            deny,
        ));
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
            building: std::sync::atomic::AtomicBool::new(false),
            template_locks: Mutex::new(HashMap::new()),
            egress,
            egress_networks: Mutex::new(HashMap::new()),
            denials: Mutex::new(Some(denials)),
        }))
    }

    /// The GPU inventory's free shares, per model.
    pub fn gpu_shares(&self) -> Vec<sbx_limits::gpu::ModelShares> {
        self.books.lock().expect("books lock").ledger.free_shares()
    }

    /// Run until `stop` fires: place pending sandboxes, act on notifications, meter.
    pub async fn run(self: Arc<Self>, notes: sbx_store::notify::Notes, stop: CancellationToken) {
        if let Some(denials) = self.denials.lock().expect("denials lock").take() {
            tokio::spawn(egress::record_denials(self.pool.clone(), denials));
        }
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
                            this.clone().build_queued().await;
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
                                this.sweep_templates().await;
                                this.sweep_egress().await;
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
                note = sbx_store::notify::next_sandbox_note(&mut rx) => {
                    let Some(note) = note else { break };
                    let this = self.clone();
                    tokio::spawn(async move { this.on_note(note).await });
                }
            }
        }
        let _ = tokio::join!(placing, metering);
        self.shutdown().await;
    }

    /// Pause every running sandbox here (reason `shutdown`): a restart resumes them from their
    /// snapshots, on this runner or another.
    pub(super) async fn shutdown(self: &Arc<Self>) {
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

    /// The container job sandbox `id`, held here, runs, and the job's project.
    pub(super) fn job_of(&self, id: SandboxId) -> Option<(JobId, ProjectId)> {
        let books = self.books.lock().expect("books lock");
        let s = &books.held.get(&id)?.sandbox;
        Some((s.job_id?, s.project_id))
    }

    pub(super) async fn on_note(self: &Arc<Self>, note: SandboxNote) {
        match note {
            SandboxNote::Pending(_) => self.clone().place().await,
            SandboxNote::Ended(id) => {
                if let Some((job, project)) = self.job_of(id) {
                    // Stopped before its files are read: nothing changes them meanwhile.
                    self.stop(id).await;
                    let reason = sandboxes::get(&self.pool, project, id)
                        .await
                        .ok()
                        .flatten()
                        .map(|s| s.state_reason);
                    let status = reason.map_or(ExecStatus::Error, StateReason::ended_job_status);
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

    /// The folders of sandbox `id`'s placement here (of none, if it is not held).
    pub(super) fn folders(&self, id: SandboxId) -> (PathBuf, PathBuf) {
        let root = self
            .root(id)
            .unwrap_or_else(|| self.config.dir.join("none"));
        let [workspace, outputs] = kept::trees(&root);
        (workspace, outputs)
    }

    /// The folders (`/workspace`, `/outputs`) of container sandbox `id` if its container runs
    /// here now (placed, not being paused or removed): what the runner's endpoint serves.
    pub fn running_folders(&self, id: SandboxId) -> Option<(PathBuf, PathBuf)> {
        let books = self.books.lock().expect("books lock");
        let held = books.held.get(&id)?;
        if held.container.is_none() || held.leaving {
            return None;
        }
        let [workspace, outputs] = kept::trees(&held.root);
        Some((workspace, outputs))
    }

    /// Sandbox `id`'s background processes if its container runs here now (placed, not being
    /// paused or removed).
    pub fn processes(&self, id: SandboxId) -> Option<crate::container::processes::Here> {
        let books = self.books.lock().expect("books lock");
        let held = books.held.get(&id)?;
        if held.leaving {
            return None;
        }
        Some(crate::container::processes::Here {
            docker: self.backend.docker().clone(),
            container: held.container.clone()?,
            table: held.processes.clone(),
        })
    }

    /// A connection to `port` of sandbox `id`'s container, from inside its network namespace
    /// ([`crate::container::ports::dial`]); none if its container does not run here now.
    /// Errors: Docker failed, the connection failed (`ConnectionRefused`: nothing listens).
    pub async fn dial(
        &self,
        id: SandboxId,
        port: u16,
    ) -> Option<std::io::Result<std::net::TcpStream>> {
        Some(match self.init_pid(id)?.await {
            Ok(pid) => crate::container::ports::dial(pid, port).await,
            Err(e) => Err(e),
        })
    }

    /// The ports a server listens on at sandbox `id`'s own loopback
    /// ([`crate::container::ports::listening`]), ascending; none if its container does not run
    /// here now. Errors: Docker failed, the process table could not be read.
    pub async fn listening(&self, id: SandboxId) -> Option<std::io::Result<Vec<u16>>> {
        let pid = match self.init_pid(id)?.await {
            Ok(pid) => pid,
            Err(e) => return Some(Err(e)),
        };
        let read = tokio::task::spawn_blocking(move || crate::container::ports::listening(pid));
        Some(read.await.map_err(std::io::Error::other).and_then(|r| r))
    }

    /// The host's number of sandbox `id`'s container's first process (asked of Docker once per
    /// placement), if its container runs here now.
    fn init_pid(
        &self,
        id: SandboxId,
    ) -> Option<impl std::future::Future<Output = std::io::Result<u32>> + use<'_>> {
        let (container, init_pid) = {
            let books = self.books.lock().expect("books lock");
            let held = books.held.get(&id)?;
            if held.leaving {
                return None;
            }
            (held.container.clone()?, held.init_pid.clone())
        };
        Some(async move {
            let pid = init_pid
                .get_or_try_init(|| async {
                    let c = self
                        .backend
                        .docker()
                        .inspect_container(&container, None)
                        .await
                        .map_err(std::io::Error::other)?;
                    c.state
                        .and_then(|s| s.pid)
                        .and_then(|p| u32::try_from(p).ok())
                        .filter(|&p| p > 0)
                        .ok_or_else(|| std::io::Error::other("the container is not running"))
                })
                .await?;
            Ok(*pid)
        })
    }

    pub(super) fn root(&self, id: SandboxId) -> Option<PathBuf> {
        self.books
            .lock()
            .expect("books lock")
            .held
            .get(&id)
            .map(|h| h.root.clone())
    }

    pub(super) fn forget(&self, id: SandboxId) {
        {
            let mut books = self.books.lock().expect("books lock");
            books.held.remove(&id);
            books.ledger.release(&id.to_string());
        }
        if let Some(network) = self.take_egress(id) {
            egress::close_later(self.egress.clone(), network);
        }
    }
}
