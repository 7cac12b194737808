//! What a container is asked to be, and the one place that turns it into Docker's create
//! request with the isolation every sandbox gets (ARCHITECTURE.md, "Security model").

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, HostConfigLogConfig, Mount, MountType,
};

use super::RunnerError;

/// The uid and gid guest code runs as: the `sandbox` user of the catalog images. An image
/// without that user still runs fine as a bare uid.
pub const SANDBOX_UID: u32 = 1000;

/// Where the spec's workspace folder appears inside the container (also the working dir).
pub const WORKSPACE_DIR: &str = "/workspace";

/// Where the spec's outputs folder appears inside the container.
pub const OUTPUTS_DIR: &str = "/outputs";

/// Size of the writable `/tmp` (a tmpfs; the root filesystem is read-only). Its pages are
/// charged to the container's memory cgroup, so it counts against the memory limit too.
pub const TMP_SIZE_BYTES: u64 = 256 << 20;

/// Largest container log Docker keeps per file, and how many files: a sandbox printing
/// forever must not fill the host's disk. `logs` sees only what is kept.
pub const LOG_MAX_FILE_BYTES: u64 = 16 << 20;
/// See [`LOG_MAX_FILE_BYTES`].
pub const LOG_MAX_FILES: u32 = 2;

/// Docker refuses memory limits below 6 MiB.
const MIN_MEMORY_BYTES: u64 = 6 << 20;

/// The label every container we create carries, so strays can be found and removed.
pub const SBX_LABEL: (&str, &str) = ("sbx", "1");

/// Credentials for pulling a private image. `Debug` hides the password.
#[derive(Clone)]
pub struct RegistryAuth {
    /// Registry user name.
    pub username: String,
    /// Password or access token; never logged.
    pub password: String,
    /// Registry host (`ghcr.io`), when not the image's own or Docker Hub.
    pub server: Option<String>,
}

impl RegistryAuth {
    /// These credentials as Docker takes them with a pull or a push.
    pub fn docker(auth: Option<&Self>) -> Option<bollard::auth::DockerCredentials> {
        auth.map(|a| bollard::auth::DockerCredentials {
            username: Some(a.username.clone()),
            password: Some(a.password.clone()),
            serveraddress: a.server.clone(),
            ..Default::default()
        })
    }
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .finish()
    }
}

/// The GPUs a container gets, by NVML UUID.
///
/// A fraction below 1 shares one card through NVIDIA MPS: the container is told to use at most
/// that share of the card's SMs (`CUDA_MPS_ACTIVE_THREAD_PERCENTAGE`) and, when the card's
/// memory is known, of its memory (`CUDA_MPS_PINNED_DEVICE_MEM_LIMIT`). That is time-sharing
/// with limits the CUDA client library applies, not hardware isolation: tenants on one card
/// share its memory bus and a fault in one MPS client can disturb the others. The limits only
/// bind when the host runs the MPS control daemon and the container can reach its pipe
/// directory; without it the processes time-slice the whole card.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuAssignment {
    /// NVML UUIDs (`GPU-…`) of the cards; exactly one when `fraction < 1`.
    pub uuids: Vec<String>,
    /// Share of the card(s), in (0, 1].
    pub fraction: f64,
    /// Total memory of the card in bytes (from NVML), to turn `fraction` into a memory limit;
    /// `None` leaves memory unlimited within the card.
    pub device_memory_bytes: Option<u64>,
}

/// A container to start: image, command, limits, mounts. Isolation is not optional and so not
/// in here: [`create_body`] applies it to every container.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// Docker container name, e.g. `sbx-<uuid>`.
    pub name: String,
    /// Image reference, present locally (see `ContainerBackend::ensure_image`).
    pub image: String,
    /// Command; `None` runs the image's default. Long-lived sandboxes pass a keep-alive such as
    /// `["sleep", "infinity"]` and run work through `exec`.
    pub command: Option<Vec<String>>,
    /// Environment variables, in addition to the image's.
    pub env: Vec<(String, String)>,
    /// CPU limit in thousandths of a core (`1500` = 1.5 cores).
    pub cpu_millis: u32,
    /// Memory limit in bytes; swap is not allowed on top of it.
    pub memory_bytes: u64,
    /// Most processes and threads the container may have at once.
    pub pids_limit: i64,
    /// Whether the container gets a network interface besides loopback.
    pub network: bool,
    /// With `network`: the egress network to attach it to instead of Docker's bridge, and
    /// its gateway, the container's DNS server ([`crate::egress`]).
    pub egress: Option<(String, std::net::Ipv4Addr)>,
    /// GPUs, if any.
    pub gpu: Option<GpuAssignment>,
    /// Host folder bind-mounted read-write at `/workspace`; the caller creates it.
    pub workspace: PathBuf,
    /// Host folder bind-mounted read-write at `/outputs`; the caller creates it.
    pub outputs: PathBuf,
    /// Labels, in addition to `sbx=1`.
    pub labels: Vec<(String, String)>,
}

/// Docker's create request for `spec`, with the isolation every container gets: no network
/// unless asked, all capabilities dropped, no-new-privileges, pids, CPU and memory (no swap)
/// limits, a read-only root with a size-capped `/tmp`, the non-root sandbox user, an init
/// process that reaps zombies, and bounded logs. `workspace` and `outputs` must already be
/// absolute paths.
pub fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, RunnerError> {
    validate(spec)?;
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut device_requests = None;
    if let Some(gpu) = &spec.gpu {
        device_requests = Some(vec![DeviceRequest {
            driver: Some("nvidia".into()),
            device_ids: Some(gpu.uuids.clone()),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        }]);
        env.extend(mps_env(gpu));
    }
    let mut labels: HashMap<String, String> = spec.labels.iter().cloned().collect();
    labels.insert(SBX_LABEL.0.into(), SBX_LABEL.1.into());
    let bind = |source: &PathBuf, target: &str| Mount {
        target: Some(target.into()),
        source: Some(source.to_string_lossy().into_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(false),
        ..Default::default()
    };
    let memory = i64::try_from(spec.memory_bytes)
        .map_err(|_| RunnerError::InvalidSpec("memory_bytes is too large".into()))?;
    let host_config = HostConfig {
        // "none" leaves only the loopback interface.
        network_mode: Some(match (&spec.egress, spec.network) {
            (Some((name, _)), true) => name.clone(),
            (_, true) => "bridge".into(),
            (_, false) => "none".into(),
        }),
        dns: spec
            .egress
            .as_ref()
            .filter(|_| spec.network)
            .map(|(_, gateway)| vec![gateway.to_string()]),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        pids_limit: Some(spec.pids_limit),
        nano_cpus: Some(i64::from(spec.cpu_millis) * 1_000_000),
        memory: Some(memory),
        // Equal to `memory`: no swap on top of the limit.
        memory_swap: Some(memory),
        readonly_rootfs: Some(true),
        // `exec` because JIT compilers (Triton, numba) load the libraries they write to /tmp;
        // `nosuid` is moot under no-new-privileges but costs nothing.
        tmpfs: Some(HashMap::from([(
            "/tmp".to_owned(),
            format!("rw,exec,nosuid,nodev,size={TMP_SIZE_BYTES},mode=1777"),
        )])),
        mounts: Some(vec![
            bind(&spec.workspace, WORKSPACE_DIR),
            bind(&spec.outputs, OUTPUTS_DIR),
        ]),
        init: Some(true),
        device_requests,
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_owned(), LOG_MAX_FILE_BYTES.to_string()),
                ("max-file".to_owned(), LOG_MAX_FILES.to_string()),
            ])),
        }),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        env: Some(env),
        user: Some(format!("{SANDBOX_UID}:{SANDBOX_UID}")),
        working_dir: Some(WORKSPACE_DIR.into()),
        labels: Some(labels),
        // Without network the container still gets a namespace of its own (the runtime's
        // default, with `lo` up), but Docker adds no network hook to it: otherwise runc runs
        // dockerd's whole binary again (`libnetwork-setkey`) for every start, which was half of
        // the CPU of 20 starts at once on 2 cores.
        network_disabled: Some(!spec.network),
        host_config: Some(host_config),
        ..Default::default()
    })
}

fn validate(spec: &ContainerSpec) -> Result<(), RunnerError> {
    let invalid = |m: &str| Err(RunnerError::InvalidSpec(m.to_owned()));
    if spec.name.is_empty() || spec.image.is_empty() {
        return invalid("name and image must not be empty");
    }
    if spec.command.as_ref().is_some_and(Vec::is_empty) {
        return invalid("command must not be empty (use None for the image's default)");
    }
    if spec.cpu_millis == 0 {
        return invalid("cpu_millis must be positive");
    }
    if spec.memory_bytes < MIN_MEMORY_BYTES {
        return invalid("memory_bytes must be at least 6 MiB (Docker's minimum)");
    }
    if spec.pids_limit <= 0 {
        return invalid("pids_limit must be positive");
    }
    if !spec.workspace.is_absolute() || !spec.outputs.is_absolute() {
        return invalid("workspace and outputs must be absolute paths");
    }
    if let Some(gpu) = &spec.gpu {
        if gpu.uuids.is_empty() {
            return invalid("a GPU assignment needs at least one UUID");
        }
        if !(gpu.fraction > 0.0 && gpu.fraction <= 1.0) {
            return invalid("a GPU fraction must be in (0, 1]");
        }
        if gpu.fraction < 1.0 && gpu.uuids.len() != 1 {
            return invalid("a GPU fraction below 1 applies to exactly one card");
        }
    }
    Ok(())
}

/// The MPS client limits for a fractional share; nothing for whole cards.
fn mps_env(gpu: &GpuAssignment) -> Vec<String> {
    if gpu.fraction >= 1.0 {
        return Vec::new();
    }
    let percent = (gpu.fraction * 100.0).round().clamp(1.0, 100.0) as u32;
    let mut env = vec![format!("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE={percent}")];
    if let Some(total) = gpu.device_memory_bytes {
        // Device 0: the container sees only its one card.
        let mib = (total as f64 * gpu.fraction / f64::from(1 << 20)).floor() as u64;
        env.push(format!("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0={mib}M"));
    }
    env
}

/// Splits an image reference into what Docker's pull takes: `fromImage` and `tag` (an
/// untagged pull would fetch every tag). A digest reference is passed whole, with no tag.
pub fn pull_reference(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_owned(), None);
    }
    // A colon after the last slash is a tag; one before it is a registry port.
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (image[..at].to_owned(), Some(image[at + 1..].to_owned()))
        }
        None => (image.to_owned(), Some("latest".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "sbx-x".into(),
            image: "sbx/python:local".into(),
            command: Some(vec!["sleep".into(), "infinity".into()]),
            env: vec![("A".into(), "1".into())],
            cpu_millis: 1500,
            memory_bytes: 512 << 20,
            pids_limit: 64,
            network: false,
            egress: None,
            gpu: None,
            workspace: "/w".into(),
            outputs: "/o".into(),
            labels: vec![("sbx.sandbox".into(), "s1".into())],
        }
    }

    #[test]
    fn isolation_is_always_applied() {
        let body = create_body(&spec()).unwrap();
        let hc = body.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("none"));
        assert_eq!(body.network_disabled, Some(true));
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(hc.security_opt, Some(vec!["no-new-privileges".to_owned()]));
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.init, Some(true));
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
        assert_eq!(hc.memory, Some(512 << 20));
        assert_eq!(hc.memory_swap, hc.memory);
        assert_eq!(hc.pids_limit, Some(64));
        assert!(hc.tmpfs.unwrap()["/tmp"].contains("size=268435456"));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert_eq!(body.working_dir.as_deref(), Some("/workspace"));
        let labels = body.labels.unwrap();
        assert_eq!(labels["sbx"], "1");
        assert_eq!(labels["sbx.sandbox"], "s1");
        let mut with_net = spec();
        with_net.network = true;
        let body = create_body(&with_net).unwrap();
        assert_eq!(body.network_disabled, Some(false));
        assert_eq!(
            body.host_config.unwrap().network_mode.as_deref(),
            Some("bridge")
        );
    }

    #[test]
    fn gpus_by_uuid_and_mps_limits_for_fractions() {
        let mut s = spec();
        s.gpu = Some(GpuAssignment {
            uuids: vec!["GPU-abc".into()],
            fraction: 0.25,
            device_memory_bytes: Some(80 << 30),
        });
        let body = create_body(&s).unwrap();
        let req = &body.host_config.unwrap().device_requests.unwrap()[0];
        assert_eq!(req.driver.as_deref(), Some("nvidia"));
        assert_eq!(req.device_ids, Some(vec!["GPU-abc".to_owned()]));
        assert_eq!(req.capabilities, Some(vec![vec!["gpu".to_owned()]]));
        let env = body.env.unwrap();
        assert!(env.contains(&"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25".to_owned()));
        assert!(env.contains(&"CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=20480M".to_owned()));

        s.gpu = Some(GpuAssignment {
            uuids: vec!["GPU-a".into(), "GPU-b".into()],
            fraction: 1.0,
            device_memory_bytes: None,
        });
        let env = create_body(&s).unwrap().env.unwrap();
        assert!(!env.iter().any(|e| e.starts_with("CUDA_MPS")));
    }

    #[test]
    fn bad_specs_are_refused() {
        type Edit = fn(&mut ContainerSpec);
        let cases: [(&str, Edit); 7] = [
            ("empty command", |s| s.command = Some(vec![])),
            ("no cpu", |s| s.cpu_millis = 0),
            ("tiny memory", |s| s.memory_bytes = 1 << 20),
            ("no pids", |s| s.pids_limit = 0),
            ("relative workspace", |s| s.workspace = "w".into()),
            ("fraction of two cards", |s| {
                s.gpu = Some(GpuAssignment {
                    uuids: vec!["a".into(), "b".into()],
                    fraction: 0.5,
                    device_memory_bytes: None,
                })
            }),
            ("zero fraction", |s| {
                s.gpu = Some(GpuAssignment {
                    uuids: vec!["a".into()],
                    fraction: 0.0,
                    device_memory_bytes: None,
                })
            }),
        ];
        for (name, edit) in cases {
            let mut s = spec();
            edit(&mut s);
            assert!(
                matches!(create_body(&s), Err(RunnerError::InvalidSpec(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn pull_references() {
        let cases = [
            ("python", ("python", Some("latest"))),
            ("python:3.12", ("python", Some("3.12"))),
            ("ghcr.io/o/i", ("ghcr.io/o/i", Some("latest"))),
            ("localhost:5000/i:v1", ("localhost:5000/i", Some("v1"))),
            ("localhost:5000/i", ("localhost:5000/i", Some("latest"))),
            ("i@sha256:00", ("i@sha256:00", None)),
        ];
        for (input, (image, tag)) in cases {
            assert_eq!(
                pull_reference(input),
                (image.to_owned(), tag.map(str::to_owned)),
                "{input}"
            );
        }
    }
}
