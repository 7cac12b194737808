//! Wiring: the store, the embedded runner's wasm backend and the API in one process.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use std::time::Duration;

use sbx_api::ApiConfig;
use sbx_api::admission::QueueCaps;
use sbx_limits::RatePolicy;
use sbx_limits::billing::Prices;
use sbx_runner::container::host::{ContainerHost, HostConfig};
use sbx_runner::container::{ContainerBackend, ContainerRuntime};
use sbx_runner::{CancellationToken, WasmBackend, WasmConfig};
use sbx_runner::{Worker, WorkerConfig};
use sbx_sandboxes::{Sandboxes, SandboxesConfig};
use sbx_store::Pool;
use sbx_store::notify::Notes;
use sbx_store::seal::Sealer;

use crate::Settings;

/// The key secrets kept in the database are sealed with: `SBX_SECRET_KEY`, else the key file
/// in the data folder, made (0600) on first use.
pub fn sealer(settings: &Settings) -> anyhow::Result<Sealer> {
    if let Some(k) = &settings.secret_key {
        return Ok(Sealer::from_hex(k)?);
    }
    let path = settings.data_dir.join("secret.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Sealer::from_hex(&k).with_context(|| format!("the key in {}", path.display()));
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    // Written whole under a private name, then linked into place: a process that loses the
    // race reads the winner's key, never a half-written file.
    let key: [u8; 32] = rand::random();
    let tmp = settings.data_dir.join(format!(
        "secret.key.{}.{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        writeln!(f, "{}", hex::encode(key))?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(Sealer::new(key)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(Sealer::from_hex(&std::fs::read_to_string(&path)?)?)
        }
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

/// The OCI runtime a runner with `settings` runs containers under on `backend`'s Docker:
/// `SBX_CONTAINER_RUNTIME`, or gVisor where it passes its probe in the local build of the
/// `python` catalog image, else runc ([`ContainerRuntime::choose`]).
///
/// # Errors
/// As [`ContainerRuntime::choose`]: a runtime asked for that Docker lacks, Docker silent.
pub async fn container_runtime(
    settings: &Settings,
    backend: &ContainerBackend,
) -> anyhow::Result<ContainerRuntime> {
    let probe_image = sbx_limits::catalog::find("python").and_then(|c| c.local_image.clone());
    let probe_image = match probe_image {
        Some(i) if backend.docker().inspect_image(&i).await.is_ok() => Some(i),
        _ => None,
    };
    Ok(ContainerRuntime::choose(
        backend.docker(),
        settings.container_runtime.as_deref(),
        probe_image.as_deref(),
    )
    .await?)
}

/// The container sandboxes of runner `runner`, if a Docker daemon answers here.
async fn container_host(
    settings: &Settings,
    pool: &Pool,
    runner: sbx_core::ids::RunnerId,
) -> anyhow::Result<Option<Arc<ContainerHost>>> {
    let mut backend = match ContainerBackend::connect().await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "container sandboxes are unavailable on this runner");
            return Ok(None);
        }
    };
    let runtime = container_runtime(settings, &backend).await?;
    backend.use_runtime(runtime);
    tracing::info!(
        runtime = runtime.as_str(),
        "containers run under {}",
        match runtime {
            ContainerRuntime::Gvisor => "gVisor (runsc)",
            ContainerRuntime::Runc => "runc",
        }
    );
    let declared = settings.gpus.clone();
    let gpus =
        tokio::task::spawn_blocking(move || sbx_runner::gpu::detect(declared.as_deref())).await??;
    let config = HostConfig {
        cpu_millis: settings.container_cpu_millis(),
        memory_bytes: settings.container_memory_bytes(),
        gpus: gpus.clone(),
        dir: settings
            .sandboxes_dir
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("sandboxes")),
        prices: prices(settings)?,
        egress: settings.egress_config()?,
        template_max_bytes: settings.template_max_mb << 20,
        template_registry: settings.template_registry.clone().map(|prefix| {
            let server = prefix.split('/').next().map(str::to_owned);
            sbx_runner::container::host::TemplateRegistry {
                prefix,
                auth: settings.template_registry_username.clone().map(|username| {
                    sbx_runner::container::RegistryAuth {
                        username,
                        password: settings
                            .template_registry_password
                            .clone()
                            .unwrap_or_default(),
                        server,
                    }
                }),
            }
        }),
    };
    let cards: Vec<serde_json::Value> = gpus
        .cards
        .iter()
        .map(|c| {
            serde_json::json!({
                "uuid": c.uuid, "model": c.model, "memory_bytes": c.memory_bytes, "declared": c.declared,
            })
        })
        .collect();
    sbx_store::runners::set_capacity(
        pool,
        runner,
        config.cpu_millis as i32,
        config.memory_bytes as i64,
        &serde_json::Value::Array(cards),
        runtime.as_str(),
    )
    .await?;
    // The database's name tells this deployment's runners apart from others sharing the folder.
    let database = settings
        .database_url
        .rsplit('/')
        .next()
        .and_then(|d| d.split('?').next())
        .unwrap_or("sbx")
        .to_owned();
    match ContainerHost::new(
        pool.clone(),
        backend,
        runner.0,
        sealer(settings)?,
        config,
        &database,
    ) {
        Ok(host) => Ok(Some(host)),
        Err(e) => {
            tracing::error!(error = %e, "container sandboxes are unavailable on this runner");
            Ok(None)
        }
    }
}

/// A server running as a task, stopped when this is dropped.
struct ServerGuard(
    actix_web::dev::ServerHandle,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let stop = self.0.stop(false);
        self.1.abort();
        drop(stop);
    }
}

/// The prices the settings name.
pub fn prices(settings: &Settings) -> anyhow::Result<Prices> {
    Prices::parse(&settings.prices).map_err(|e| anyhow::anyhow!("SBX_PRICES: {e}"))
}

/// Build the wasm backend the settings describe: loads (or, the first time, compiles and
/// caches) CPython. Blocking; call it off the async threads.
pub fn wasm_backend(settings: &Settings) -> anyhow::Result<WasmBackend> {
    let config = WasmConfig {
        python_dir: settings.python_dir(),
        cache_dir: settings.data_dir.join("cache"),
        work_dir: settings.data_dir.join("work"),
        slots: settings.wasm_slots,
        max_memory_bytes: settings.wasm_max_memory_mb << 20,
        threads: settings.wasm_threads(),
    };
    WasmBackend::new(config).context("starting the wasm backend")
}

/// A running sbx: API and embedded runner.
pub struct Application {
    addr: SocketAddr,
    pool: Pool,
    server: actix_web::dev::Server,
    /// The embedded runner: its worker and container host (none with `--no-embedded-runner`).
    runner: Option<Task>,
    /// The webhook sender.
    webhooks: Task,
    /// The sandbox lifecycle, and its once-a-second upkeep.
    sandboxes: Arc<Sandboxes>,
    sandbox_upkeep: Task,
}

/// A background task and what stops it.
struct Task {
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl Task {
    /// Ask the task to stop and wait until it has.
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.handle.await;
    }
}

fn worker_config(settings: &Settings) -> WorkerConfig {
    WorkerConfig {
        slots: settings.runner_slots(),
        // As many held ready as run: a claim then takes a slot's worth of jobs at once.
        prefetch: settings.runner_slots(),
        lease: Duration::from_secs(settings.lease_s.max(1)),
        ..WorkerConfig::default()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Start a runner against the database in `settings` on `backend`; it stops (finishing or
/// handing back its jobs) when `shutdown` fires.
pub async fn start_runner(
    settings: &Settings,
    pool: Pool,
    notes: Notes,
    backend: Arc<WasmBackend>,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let worker = Worker::register(
        pool.clone(),
        backend,
        notes.clone(),
        &hostname(),
        worker_config(settings),
    )
    .await?;
    let containers = container_host(settings, &pool, worker.id()).await?;
    let endpoint = match &containers {
        Some(host) => Some(
            crate::endpoint::runner_endpoint(settings, &pool, worker.id(), host.clone()).await?,
        ),
        None => None,
    };
    Ok(tokio::spawn(async move {
        let _endpoint = endpoint.map(|server| ServerGuard(server.handle(), tokio::spawn(server)));
        let containers = async {
            if let Some(host) = containers {
                host.run(notes, shutdown.clone()).await;
            }
        };
        tokio::join!(worker.run(shutdown.clone()), containers);
    }))
}

impl Application {
    /// Connect, migrate, start the runner and bind the API (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let s = settings.clone();
        let backend = tokio::task::spawn_blocking(move || wasm_backend(&s)).await??;
        Self::build_with_backend(settings, Arc::new(backend)).await
    }

    /// As [`Application::build`], with a backend already made (tests share one per process).
    pub async fn build_with_backend(
        settings: &Settings,
        backend: Arc<WasmBackend>,
    ) -> anyhow::Result<Self> {
        let pool = sbx_store::pool(&settings.database_url, settings.db_pool_size)?;
        sbx_store::migrate::migrate(&pool)
            .await
            .context("migrating the database")?;
        let notes = sbx_store::notify::listen(settings.database_url.clone());
        let runner = if settings.no_embedded_runner {
            None
        } else {
            let stop = CancellationToken::new();
            let handle = start_runner(
                settings,
                pool.clone(),
                notes.clone(),
                backend.clone(),
                stop.clone(),
            )
            .await?;
            Some(Task { stop, handle })
        };
        let listener = TcpListener::bind(settings.addr)
            .with_context(|| format!("binding {}", settings.addr))?;
        let addr = listener.local_addr()?;
        if let Some(secret) = &settings.kyc_webhook_secret {
            sbx_api::kyc::check_secret(secret).map_err(anyhow::Error::msg)?;
        }
        let config = ApiConfig {
            rate: RatePolicy {
                per_second: settings.rate_per_second,
                burst: settings.rate_burst,
            },
            workers: settings.http_workers(),
            queue_caps: QueueCaps {
                per_project: settings.max_queued_per_project,
                total: settings.max_queued_total,
            },
            dashboard_dir: dashboard_dir(settings),
            kyc: settings.kyc_required.into(),
            kyc_webhook_secret: settings.kyc_webhook_secret.clone(),
            trusted_proxies: sbx_api::client_addr::TrustedProxies::new(
                settings.trusted_proxies.clone(),
            ),
            preview_site: sbx_api::previews::PreviewSite::parse(
                settings
                    .preview_url
                    .as_deref()
                    .unwrap_or(&format!("http://preview.localhost:{}", addr.port())),
            )
            .map_err(anyhow::Error::msg)?,
        };
        let webhooks = {
            let stop = CancellationToken::new();
            let config = sbx_api::webhooks::WebhookConfig {
                retry_base: Duration::from_millis(settings.webhook_retry_base_ms.max(1)),
                max_attempts: settings.webhook_max_attempts.max(1),
                timeout: Duration::from_millis(settings.webhook_timeout_ms.max(1)),
                ..Default::default()
            };
            // The sender's HTTP client lives on this (actix) thread.
            let handle = actix_web::rt::spawn(sbx_api::webhooks::run(
                pool.clone(),
                notes.clone(),
                config,
                stop.clone(),
            ));
            Task { stop, handle }
        };
        // Sessions live in this process's wasm backend, beside its execs.
        let sandboxes = Arc::new(Sandboxes::new(
            pool.clone(),
            notes.clone(),
            backend.clone(),
            SandboxesConfig {
                max_live: settings.max_live_sessions.max(1),
                max_open_per_project: settings.max_sandboxes_per_project,
                ..SandboxesConfig::default()
            },
        ));
        let sandbox_upkeep = {
            let stop = CancellationToken::new();
            let handle = tokio::spawn(sandboxes.clone().run(notes.clone(), stop.clone()));
            Task { stop, handle }
        };
        let server = sbx_api::serve(
            listener,
            pool.clone(),
            notes,
            sbx_api::Wiring {
                backend,
                sandboxes: sandboxes.clone(),
                prices: prices(settings)?,
                sealer: sealer(settings)?,
            },
            &config,
        )?;
        Ok(Self {
            addr,
            pool,
            server,
            runner,
            webhooks,
            sandboxes,
            sandbox_upkeep,
        })
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The database pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until stopped (SIGINT/SIGTERM stop it gracefully); then stop the embedded runner,
    /// which finishes or hands back its jobs.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // Live interpreters are paused into the database, so a restart resumes them.
        self.sandbox_upkeep.stop().await;
        self.sandboxes.shutdown().await;
        self.webhooks.stop().await;
        if let Some(runner) = self.runner {
            runner.stop().await;
        }
        served
    }
}

/// The dashboard's folder, when it is on; a missing build is said once and `/` stays a 404.
fn dashboard_dir(settings: &Settings) -> Option<std::path::PathBuf> {
    if settings.dashboard == crate::settings::Toggle::Off {
        return None;
    }
    let dir = &settings.dashboard_dir;
    if !dir.join("index.html").is_file() {
        tracing::warn!(dir = %dir.display(), "the dashboard is not built (npm run build in dashboard/): / is a 404");
        return None;
    }
    Some(dir.clone())
}

/// The dev login in `path` (email, then password), if it still signs in; else a dev user
/// with a new generated password, an owner of the "dev" project, written there (0600).
/// Returns the email and password.
pub async fn ensure_dev_login(pool: &Pool, path: &Path) -> anyhow::Result<(String, String)> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let mut lines = existing.lines();
        if let (Some(email), Some(password)) = (lines.next(), lines.next()) {
            let found = sbx_store::users::credentials(pool, email).await?;
            let hash = found.and_then(|c| c.password_hash);
            let (e, p) = (email.to_owned(), password.to_owned());
            let ok = tokio::task::spawn_blocking(move || {
                hash.is_some_and(|h| sbx_api::accounts::verify_password(&p, &h))
            })
            .await?;
            if ok {
                return Ok((e, password.to_owned()));
            }
        }
    }
    let email = "dev@sbx.local";
    let password = {
        use base64::Engine as _;
        use rand::RngCore as _;
        let mut bytes = [0u8; 15];
        rand::rng().fill_bytes(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || sbx_api::accounts::hash_password(&pw)).await?;
    let user = sbx_store::users::upsert(pool, email).await?;
    sbx_store::users::set_password(pool, email, &hash).await?;
    let project = match sbx_store::projects::find_by_name(pool, "dev").await? {
        Some(p) => p,
        None => sbx_store::projects::create(pool, "dev", Some(user.user_id)).await?,
    };
    sbx_store::projects::adopt(pool, project.project_id, user.user_id).await?;
    sbx_store::members::add(pool, user.user_id, project.project_id, "owner").await?;
    write_private(path, &format!("{email}\n{password}\n"))?;
    Ok((email.to_owned(), password))
}

/// Write `text` to `path`, readable by its owner only (0600), making its folder.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// The dev key in `path`, if it is still valid; else a new "dev" project and key, written there
/// (0600). Returns the key.
pub async fn ensure_dev_key(pool: &Pool, path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let key = existing.trim().to_owned();
        if sbx_store::keys::authenticate(pool, &key).await?.is_some() {
            return Ok(key);
        }
    }
    // The project and its key are made together or not at all.
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let project = match sbx_store::projects::find_by_name(&tx, "dev").await? {
        Some(p) => p,
        None => sbx_store::projects::create(&tx, "dev", None).await?,
    };
    let (_, key) = sbx_store::keys::create(&tx, project.project_id, "dev").await?;
    tx.commit().await?;
    write_private(path, &format!("{key}\n"))?;
    Ok(key)
}
