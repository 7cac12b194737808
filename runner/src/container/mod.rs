//! The container backend: Docker through bollard, on the local daemon's unix socket.
//!
//! [`ContainerBackend`] starts containers from a [`ContainerSpec`] with the isolation of
//! ARCHITECTURE.md's security model applied to every one of them ([`spec::create_body`]), runs
//! commands in them with a wall-time limit and capped output ([`ContainerBackend::exec`]),
//! samples their usage for the meter, and removes them. Long-lived state lives in the host
//! folders bind-mounted at `/workspace` and `/outputs`: the root filesystem is read-only and
//! `/tmp` is a tmpfs, so a container holds nothing worth keeping once it is gone.
//!
//! # Layout
//! - [`build`]: Docker builds of templates: the Dockerfile's bases rewritten, caps on time,
//!   size and each step.
//! - [`spec`]: what a container is asked to be, and its translation into Docker's create
//!   request with the isolation settings.
//! - [`exec`]: commands inside a running container: the in-container kill at the time limit
//!   and the output caps.
//! - [`processes`]: background processes in a running container: started at once, their
//!   output kept in a ring, their input and signals.
//! - [`runtime`]: the OCI runtime containers run under: gVisor (`runsc`) where Docker has it.
//! - [`host`]: container sandboxes on this runner ([`host::ContainerHost`]): placement,
//!   lifecycle, commands, logs, the meter, job artifacts, copies of paused folders.

pub mod build;
pub mod exec;
pub mod host;
mod output_ring;
pub mod ports;
pub mod processes;
pub mod runtime;
pub mod spec;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StatsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use sbx_core::{LogChunk, OutputStream};

pub use crate::error::RunnerError;

pub use exec::ExecOutput;
pub use runtime::ContainerRuntime;
pub use spec::{ContainerSpec, GpuAssignment, RegistryAuth, SANDBOX_UID};

/// How long a container gets between SIGTERM and SIGKILL when it is stopped. Short: what
/// matters of a sandbox is in its host folders, not in its processes.
pub const STOP_GRACE_SECS: i32 = 2;

/// How long after a main process's SIGKILL exit (137) the runner still looks for Docker's `oom`
/// event before calling it no OOM kill. Under load the event was seen to come more than a second
/// after the exit (a CI run reported `oom_killed: false` for a memory-limit kill with a 1 s
/// window); a SIGKILL that is not for memory pays this once, at its end.
const OOM_EVENT_WAIT: Duration = Duration::from_secs(5);

/// How a container's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerExit {
    /// Its exit status (137 after a SIGKILL, including the OOM killer's).
    pub exit_code: i64,
    /// Whether the kernel's OOM killer acted in the container (Docker's `State.OOMKilled`).
    pub oom_killed: bool,
}

/// One usage reading of a container, for the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// CPU time used since the container started, in nanoseconds (all cores summed).
    pub cpu_total_ns: u64,
    /// Memory in use now, in bytes, without the reclaimable page cache (as `docker stats`).
    pub memory_bytes: u64,
    /// Processes and threads alive now.
    pub pids: u64,
}

/// A connection to the local Docker daemon. Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct ContainerBackend {
    docker: Docker,
    /// The runtime containers are created under (runc until [`Self::use_runtime`]).
    runtime: ContainerRuntime,
}

impl ContainerBackend {
    /// Connects to the local daemon (`DOCKER_HOST=unix://…` or `/var/run/docker.sock`), checks
    /// that it answers and agrees on an API version no newer than the daemon's.
    pub async fn connect() -> crate::Result<Self> {
        let docker = Docker::connect_with_local_defaults().map_err(unavailable)?;
        docker.ping().await.map_err(unavailable)?;
        let docker = docker.negotiate_version().await.map_err(unavailable)?;
        tracing::debug!(api_version = %docker.client_version(), "connected to Docker");
        Ok(Self {
            docker,
            runtime: ContainerRuntime::Runc,
        })
    }

    /// Create containers under `runtime` from now on (see [`ContainerRuntime::choose`]).
    pub fn use_runtime(&mut self, runtime: ContainerRuntime) {
        self.runtime = runtime;
    }

    /// The runtime containers are created under.
    pub fn runtime(&self) -> ContainerRuntime {
        self.runtime
    }

    /// The bollard client, for what this backend does not wrap.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Makes sure `image` is on this host: nothing to do when it is, a pull (with `auth` when
    /// given) when it is not.
    pub async fn ensure_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
    ) -> crate::Result<()> {
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(from_bollard(e)),
        }
        let (from_image, tag) = spec::pull_reference(image);
        let mut options = CreateImageOptionsBuilder::new().from_image(&from_image);
        if let Some(tag) = &tag {
            options = options.tag(tag);
        }
        let credentials = RegistryAuth::docker(auth);
        tracing::info!(image, with_credentials = auth.is_some(), "pulling image");
        let mut progress = self
            .docker
            .create_image(Some(options.build()), None, credentials);
        while let Some(item) = progress.next().await {
            if let Err(e) = item {
                return Err(match e {
                    BollardError::DockerResponseServerError { message, .. }
                    | BollardError::DockerStreamError { error: message } => {
                        RunnerError::ImagePullFailed(message)
                    }
                    other => from_bollard(other),
                });
            }
        }
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Err(RunnerError::ImagePullFailed(format!(
                "the pull of {image} ended without the image"
            ))),
            Err(e) => Err(from_bollard(e)),
        }
    }

    /// Creates and starts the container `spec` describes; returns its id. The workspace and
    /// outputs folders are handed to the sandbox user (when we may chown: as root). A
    /// container that was created but would not start is removed again.
    pub async fn start(&self, spec: &ContainerSpec) -> crate::Result<String> {
        let mut spec = spec.clone();
        let (workspace, outputs) = (spec.workspace.clone(), spec.outputs.clone());
        (spec.workspace, spec.outputs) = tokio::task::spawn_blocking(move || {
            Ok::<_, RunnerError>((prepare_mount(&workspace)?, prepare_mount(&outputs)?))
        })
        .await
        .map_err(|e| RunnerError::Docker(format!("preparing mounts: {e}")))??;
        let mut body = spec::create_body(&spec)?;
        if let Some(host) = body.host_config.as_mut() {
            host.runtime = self.runtime.docker_runtime(spec.network).map(str::to_owned);
        }
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| match status_of(&e) {
                Some(404) => RunnerError::ImageMissing(spec.image.clone()),
                _ => from_bollard(e),
            })?;
        for warning in &created.warnings {
            tracing::warn!(container = %spec.name, warning, "Docker warning on create");
        }
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let e = from_bollard(e);
            if let Err(rm) = self.stop_and_remove(&created.id).await {
                tracing::warn!(container = %spec.name, error = %rm, "removing a container that did not start");
            }
            return Err(e);
        }
        tracing::debug!(container = %spec.name, id = %created.id, image = %spec.image, "container started");
        Ok(created.id)
    }

    /// Runs `cmd` in the running container `id` (as its user, in `/workspace`), killing it and
    /// its children after `timeout`, keeping at most `output_cap` bytes of each stream.
    pub async fn exec(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
        output_cap: usize,
    ) -> crate::Result<ExecOutput> {
        exec::run(&self.docker, id, cmd, timeout, output_cap).await
    }

    /// Waits until the container's main process ends; its exit status and whether the OOM
    /// killer acted.
    pub async fn wait(&self, id: &str) -> crate::Result<ContainerExit> {
        let mut waits = self.docker.wait_container(id, None);
        let exit_code = match waits.next().await {
            Some(Ok(r)) => r.status_code,
            // bollard reports a non-zero exit status as an error; for us it is an outcome.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(from_bollard(e)),
            None => {
                return Err(RunnerError::Docker(
                    "the wait ended without a status".into(),
                ));
            }
        };
        let state = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(from_bollard)?
            .state
            .unwrap_or_default();
        let mut oom_killed = state.oom_killed.unwrap_or(false);
        if exit_code == 137 && !oom_killed {
            oom_killed = self.oom_event(id, state.started_at.as_deref()).await;
        }
        Ok(ContainerExit {
            exit_code,
            oom_killed,
        })
    }

    /// Whether Docker announced an OOM kill in container `id` since `started` (its RFC 3339
    /// start), looking until [`OOM_EVENT_WAIT`] from now. The kernel's notice of an OOM kill
    /// can reach Docker after the exit it caused; `State.OOMKilled` then stays false (it is
    /// taken from what was known at the exit), but the `oom` event still comes. Only a main
    /// process ended by SIGKILL (137) that Docker did not already call an OOM kill waits here.
    async fn oom_event(&self, id: &str, started: Option<&str>) -> bool {
        let since = started
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map_or(0, |t| t.timestamp() - 1);
        let wait = OOM_EVENT_WAIT.as_secs() as i64;
        let until = chrono::Utc::now().timestamp() + wait;
        let filters =
            std::collections::HashMap::from([("container", vec![id]), ("event", vec!["oom"])]);
        let options = EventsOptionsBuilder::new()
            .since(&since.to_string())
            .until(&until.to_string())
            .filters(&filters)
            .build();
        let mut events = self.docker.events(Some(options));
        matches!(
            tokio::time::timeout(OOM_EVENT_WAIT + Duration::from_secs(2), events.next()).await,
            Ok(Some(Ok(_)))
        )
    }

    /// The container's output: what it wrote from second `since` (a UNIX time; all of it when
    /// `None`), and with `follow` what it writes next until it ends, each piece with the time
    /// Docker took it. Stdout and stderr only (not exec output, which `exec` returns).
    pub fn logs(
        &self,
        id: &str,
        follow: bool,
        since: Option<i32>,
    ) -> BoxStream<'static, crate::Result<TimedChunk>> {
        let mut options = LogsOptionsBuilder::new()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .timestamps(true);
        if let Some(since) = since {
            options = options.since(since);
        }
        self.docker
            .logs(id, Some(options.build()))
            .filter_map(|item| async move {
                let (stream, message) = match item {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        (OutputStream::Stdout, message)
                    }
                    Ok(LogOutput::StdErr { message }) => (OutputStream::Stderr, message),
                    Ok(LogOutput::StdIn { .. }) => return None,
                    Err(e) => return Some(Err(from_bollard(e))),
                };
                Some(TimedChunk::parse(stream, message))
            })
            .boxed()
    }

    /// One usage reading (Docker's one-shot stats: no second sample for a CPU percentage; the
    /// meter differentiates cumulative CPU time itself). Zeros for a container that is not
    /// running.
    pub async fn stats(&self, id: &str) -> crate::Result<Sample> {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let stats = match self.docker.stats(id, Some(options)).next().await {
            Some(r) => r.map_err(from_bollard)?,
            None => {
                return Err(RunnerError::Docker("stats ended without a sample".into()));
            }
        };
        let cpu_total_ns = stats
            .cpu_stats
            .and_then(|c| c.cpu_usage)
            .and_then(|u| u.total_usage)
            .unwrap_or(0);
        let memory_bytes = stats.memory_stats.map_or(0, |m| {
            let usage = m.usage.unwrap_or(0);
            // As the docker CLI: cgroup v1 names it total_inactive_file, v2 inactive_file.
            let cache = m.stats.as_ref().map_or(0, |s| {
                s.get("total_inactive_file")
                    .or_else(|| s.get("inactive_file"))
                    .copied()
                    .unwrap_or(0)
            });
            usage.saturating_sub(cache)
        });
        let pids = stats.pids_stats.and_then(|p| p.current).unwrap_or(0);
        Ok(Sample {
            cpu_total_ns,
            memory_bytes,
            pids,
        })
    }

    /// Stops the container (SIGTERM, SIGKILL after [`STOP_GRACE_SECS`]) and removes it with its
    /// anonymous volumes. A container that is already gone is fine.
    pub async fn stop_and_remove(&self, id: &str) -> crate::Result<()> {
        let stop = StopContainerOptionsBuilder::new()
            .t(STOP_GRACE_SECS)
            .build();
        match self.docker.stop_container(id, Some(stop)).await {
            // 304: not running.
            Ok(()) => {}
            Err(e) if matches!(status_of(&e), Some(304 | 404)) => {}
            Err(e) => {
                tracing::debug!(container = id, error = %e, "stop failed; removing by force");
            }
        }
        let remove = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(remove)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            // Someone else is removing it already.
            Err(BollardError::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(e) => Err(from_bollard(e)),
        }
    }

    /// Whether the container is running; `None` when there is no such container.
    pub async fn inspect_running(&self, id: &str) -> crate::Result<Option<bool>> {
        match self.docker.inspect_container(id, None).await {
            Ok(c) => Ok(Some(c.state.and_then(|s| s.running).unwrap_or(false))),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(from_bollard(e)),
        }
    }
}

/// The absolute path of a mount folder, owned (with everything in it) by the sandbox user so
/// the guest can write there. Chown needs root; as another user the folders are used as
/// they are, and must already be writable by uid 1000.
fn prepare_mount(dir: &Path) -> crate::Result<PathBuf> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| RunnerError::InvalidSpec(format!("mount folder {}: {e}", dir.display())))?;
    if !dir.is_dir() {
        return Err(RunnerError::InvalidSpec(format!(
            "mount folder {} is not a folder",
            dir.display()
        )));
    }
    match chown_tree(&dir, SANDBOX_UID) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            tracing::debug!(dir = %dir.display(), "not allowed to chown; using the folder as it is");
        }
        Err(e) => {
            return Err(RunnerError::Docker(format!(
                "handing {} to the sandbox user: {e}",
                dir.display()
            )));
        }
    }
    Ok(dir)
}

/// Chowns `root` and everything under it to `id:id`, without following symlinks: a folder a
/// previous guest wrote to may hold links pointing anywhere on the host.
fn chown_tree(root: &Path, id: u32) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.uid() != id || meta.gid() != id {
            std::os::unix::fs::lchown(&path, Some(id), Some(id))?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                todo.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// The HTTP status Docker answered with, if the error is an answer.
pub(crate) fn status_of(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// A connection-level failure reads "unavailable"; anything else goes through [`from_bollard`].
fn unavailable(e: BollardError) -> RunnerError {
    match e {
        BollardError::DockerResponseServerError { .. } => from_bollard(e),
        other => RunnerError::Unavailable(format!(
            "{} (is dockerd running, and is its socket — DOCKER_HOST or /var/run/docker.sock — \
             usable by this user?)",
            chain(&other)
        )),
    }
}

/// Our error for a bollard error, with the whole cause chain in the message.
pub(crate) fn from_bollard(e: BollardError) -> RunnerError {
    match e {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RunnerError::NotFound(message),
        BollardError::DockerResponseServerError { message, .. } => RunnerError::Docker(message),
        BollardError::SocketNotFoundError(_)
        | BollardError::HyperLegacyError { .. }
        | BollardError::RequestTimeoutError => RunnerError::Unavailable(chain(&e)),
        other => RunnerError::Docker(chain(&other)),
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        // hyper's errors repeat their source in their own message.
        let cause_text = cause.to_string();
        if !s.contains(&cause_text) {
            s.push_str(": ");
            s.push_str(&cause_text);
        }
        source = cause.source();
    }
    s
}

/// A piece of a container's output and when Docker took it (its log's `timestamps`).
#[derive(Debug, Clone)]
pub struct TimedChunk {
    /// When Docker took it, to the nanosecond.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The output.
    pub chunk: LogChunk,
}

impl TimedChunk {
    /// Split `message` as Docker sends it with timestamps on: an RFC 3339 time, a space, the
    /// bytes.
    fn parse(stream: OutputStream, message: bytes::Bytes) -> crate::Result<Self> {
        let damaged = || RunnerError::Damaged("a container log line without its timestamp".into());
        let space = message
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(damaged)?;
        let at = std::str::from_utf8(&message[..space])
            .ok()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .ok_or_else(damaged)?;
        Ok(Self {
            at: at.to_utc(),
            chunk: LogChunk {
                stream,
                data: message.slice(space + 1..),
            },
        })
    }
}
