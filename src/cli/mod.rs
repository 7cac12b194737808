//! The `sbx` command line: the client of a server (`login`, `exec`, `sandbox`, `job`,
//! `batch`, `usage`, `images`, `gpus`, `completions`) and the operator's `admin` commands.
//!
//! Commands are `noun verb`, as in GitHub's `gh`. Each client command prints a table for
//! people, the API's JSON with `--json`, colours only on a terminal, and fails with one line
//! on stderr (`sbx: …`) and a non-zero exit code ([`error`]).
//!
//! # Layout
//! - [`client`]: where the server is and which key to use (flags, `SBX_*`, the config file),
//!   and the HTTP calls.
//! - [`error`]: [`CliError`], one line per failure, and the exit codes.
//! - [`output`]: tables, JSON and colour.
//! - [`logs`]: following a job's or sandbox's log stream (Server-Sent Events).
//! - one module per noun: [`login`], [`exec`], [`sandbox`], [`files`], [`process`], [`job`], [`batch`], [`template`], [`account`]
//!   (`usage`, `images`, `gpus`), and [`admin`] (projects, keys, users, on the database).

/// `println!` that ignores a closed stdout: `sbx job ls | head -1` is the reader's choice, not
/// an error (and `println!` would panic on it).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod account;
pub mod admin;
pub mod batch;
pub mod client;
pub mod error;
pub mod events;
pub mod exec;
pub mod files;
pub mod job;
pub mod login;
pub mod logs;
pub mod output;
pub mod process;
pub mod sandbox;
pub mod template;
pub mod terminal;

pub use admin::{Admin, admin};
pub use error::{CliError, CliResult};

use client::{Api, Config};
use output::Output;

/// The options every client command takes, after any of its words (`sbx sandbox ls --json`).
#[derive(Debug, Clone, clap::Args)]
pub struct Conn {
    /// The server's base URL [default: the one `sbx login` saved, else http://127.0.0.1:8080].
    #[arg(long, env = "SBX_URL", global = true)]
    pub url: Option<String>,
    /// API key [default: the one `sbx login` saved, else the contents of .data/dev-api-key].
    #[arg(long, env = "SBX_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// Print the API's JSON instead of tables and text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A server to call and how to print what it answers.
pub struct Ctx {
    /// The client.
    pub api: Api,
    /// Tables or JSON.
    pub out: Output,
}

impl Ctx {
    /// The client `conn` asks for: flags and `SBX_*` first, then the config file, then the
    /// defaults.
    ///
    /// # Errors
    /// A bad URL, no key, or an unreadable config file.
    pub fn new(conn: &Conn) -> CliResult<Self> {
        let config = Config::load()?;
        let url = client::resolve_url(conn.url.as_deref(), &config)?;
        let key = client::resolve_key(conn.api_key.as_deref(), &config)?;
        Ok(Self {
            api: Api::new(url, key),
            out: Output::new(conn.json),
        })
    }
}

/// The client commands, flattened into `sbx`'s own.
#[derive(Debug, clap::Subcommand)]
pub enum Client {
    /// Save a server URL and API key in the user's config directory (checked first).
    Login(login::LoginArgs),
    /// Run Python through the API now and print its output; exits with the program's code.
    #[command(long_about = exec::EXEC_LONG_ABOUT)]
    Exec(exec::ExecArgs),
    /// Sandboxes: code interpreters that keep state between cells, and containers.
    Sandbox(sandbox::SandboxArgs),
    /// A sandbox's files: list, print, copy in and out, delete, make folders, watch.
    Files(files::FilesArgs),
    /// A container sandbox's background processes: start, list, follow, write to, signal.
    Process(process::ProcessArgs),
    /// An interactive shell in a container sandbox (`Ctrl-]` detaches, `--pid` reattaches);
    /// exits with the shell's code.
    Terminal(terminal::TerminalArgs),
    /// Jobs: queued runs, recorded with their output.
    Job(job::JobArgs),
    /// Batches: many items at once, with a pass rate.
    Batch(batch::BatchArgs),
    /// Metered usage and cost of the project.
    Usage(account::UsageArgs),
    /// The rates the meter charges per resource-second (and per hour).
    Prices(account::ListArgs),
    /// The project's sandbox events as they happen (pending, running, paused, resumed,
    /// terminated, failed).
    Events(events::EventsArgs),
    /// Webhook endpoints the project's sandbox events are POSTed to.
    Webhook(events::WebhookArgs),
    /// The curated sandbox images.
    Images(account::ListArgs),
    /// The project's own images, built from a Dockerfile: build, list, show, follow, delete.
    Template(template::TemplateArgs),
    /// GPU models and cards, and what is free.
    Gpus(account::ListArgs),
    /// Serve the server's MCP tools to an agent over stdin and stdout (the MCP stdio
    /// transport), forwarding each message to its `/mcp`.
    Mcp(McpArgs),
    /// Print a shell completion script (`sbx completions bash > /etc/bash_completion.d/sbx`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Run client command `cmd`; `command` is the whole `sbx` command, for completions. Returns
/// the exit code; a failure has been printed on stderr as one line.
pub async fn run(cmd: Client, command: fn() -> clap::Command) -> i32 {
    let result = match cmd {
        Client::Login(args) => login::run(args).await.map(|()| 0),
        Client::Exec(args) => return exec::run(args).await,
        Client::Sandbox(args) => return sandbox::run(args).await,
        Client::Files(args) => files::run(args).await.map(|()| 0),
        Client::Process(args) => process::run(args).await.map(|()| 0),
        Client::Terminal(args) => terminal::run(args).await,
        Client::Job(args) => job::run(args).await.map(|()| 0),
        Client::Batch(args) => batch::run(args).await.map(|()| 0),
        Client::Usage(args) => account::usage(args).await.map(|()| 0),
        Client::Prices(args) => account::prices(args).await.map(|()| 0),
        Client::Events(args) => events::events(args).await.map(|()| 0),
        Client::Webhook(args) => events::webhook(args).await.map(|()| 0),
        Client::Images(args) => account::images(args).await.map(|()| 0),
        Client::Template(args) => template::run(args).await.map(|()| 0),
        Client::Gpus(args) => account::gpus(args).await.map(|()| 0),
        Client::Mcp(args) => mcp(args).await.map(|()| 0),
        Client::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command(), "sbx", &mut script);
            output::write_stream("stdout", &String::from_utf8_lossy(&script));
            Ok(0)
        }
    };
    result.unwrap_or_else(|e| fail(&e, error::EXIT_FAILED))
}

/// Arguments of `sbx mcp`.
#[derive(Debug, clap::Args)]
pub struct McpArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// `sbx mcp`: forward stdin's MCP messages to the server until stdin ends.
async fn mcp(args: McpArgs) -> CliResult<()> {
    let config = Config::load()?;
    let url = client::resolve_url(args.conn.url.as_deref(), &config)?;
    let key = client::resolve_key(args.conn.api_key.as_deref(), &config)?;
    crate::mcp_stdio::run(&url, key)
        .await
        .map_err(CliError::io("forwarding MCP messages"))
}

/// Print `e` as one line on stderr; `code`.
pub fn fail(e: &CliError, code: i32) -> i32 {
    eprintln!("sbx: {e}");
    code
}
