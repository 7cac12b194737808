//! `sbx process …`: a container sandbox's background processes
//! (`/v1/sandboxes/{id}/processes`): start one and get its pid at once, list them, show one,
//! follow its output, write to its input, signal it.

use comfy_table::Cell;
use serde_json::{Map, Value, json};

use super::client::{Call, percent_encode};
use super::error::{CliError, CliResult};
use super::exec::name_value;
use super::output::{text, time};
use super::{Conn, Ctx};

/// Arguments of `sbx process`.
#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub cmd: ProcessCmd,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// `sbx process` commands.
#[derive(Debug, clap::Subcommand)]
pub enum ProcessCmd {
    /// Start a process in the background (`sbx process start SANDBOX -- python3 -m
    /// http.server`): prints its pid as soon as it runs.
    Start {
        /// The sandbox id (a container sandbox).
        sandbox: String,
        /// An environment variable, `NAME=VALUE` (repeatable).
        #[arg(long = "env", short = 'e', value_name = "NAME=VALUE", value_parser = name_value)]
        env: Vec<(String, String)>,
        /// Its working directory [default: /workspace].
        #[arg(long)]
        cwd: Option<String>,
        /// Keep its standard input open for `sbx process stdin`.
        #[arg(long, short = 'i')]
        stdin: bool,
        /// Kill it (and what it started) after this many milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// A label to find it by.
        #[arg(long)]
        tag: Option<String>,
        /// The program and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// List the sandbox's processes: pid, state, exit code, started, tag, command.
    #[command(alias = "list")]
    Ls {
        /// The sandbox id.
        sandbox: String,
    },
    /// Show one process.
    Get {
        /// The sandbox id.
        sandbox: String,
        /// The process's pid (as `start` printed it).
        pid: u32,
    },
    /// Print a process's output (what is kept: the last 1 MiB); with `--follow`, until it
    /// ends.
    Logs {
        /// The sandbox id.
        sandbox: String,
        /// The process's pid.
        pid: u32,
        /// Keep printing as it writes, until it ends.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Write this command's standard input to a process's input (started with `--stdin`).
    Stdin {
        /// The sandbox id.
        sandbox: String,
        /// The process's pid.
        pid: u32,
        /// Close its input afterwards (it reads end-of-file).
        #[arg(long)]
        close: bool,
    },
    /// Send a signal to a process and everything it started.
    Kill {
        /// The sandbox id.
        sandbox: String,
        /// The process's pid.
        pid: u32,
        /// TERM, KILL, INT or HUP.
        #[arg(long, short = 's', default_value = "TERM")]
        signal: String,
    },
}

/// The API path of sandbox `id`'s processes, with `rest` after it (`/3/logs`).
fn url(id: &str, rest: &str) -> String {
    format!("/v1/sandboxes/{}/processes{rest}", percent_encode(id))
}

/// Run `sbx process`.
///
/// # Errors
/// What the API refused (a code-interpreter, a paused sandbox, an exited process), the server
/// being unreachable, or stdin that cannot be read.
pub async fn run(args: ProcessArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    match args.cmd {
        ProcessCmd::Start {
            sandbox,
            env,
            cwd,
            stdin,
            timeout_ms,
            tag,
            command,
        } => {
            let mut body = Map::new();
            body.insert("command".into(), json!(command));
            if !env.is_empty() {
                let env: Map<String, Value> = env
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                body.insert("env".into(), Value::Object(env));
            }
            body.insert("stdin".into(), json!(stdin));
            for (name, value) in [
                ("cwd", json!(cwd)),
                ("timeout_ms", json!(timeout_ms)),
                ("tag", json!(tag)),
            ] {
                if !value.is_null() {
                    body.insert(name.into(), value);
                }
            }
            let body = Value::Object(body);
            let info = ctx.api.json(Call::post(url(&sandbox, ""), &body)).await?;
            if ctx.out.json {
                ctx.out.print_json(&info);
            } else {
                say!("{}", text(&info["pid"]));
            }
        }
        ProcessCmd::Ls { sandbox } => {
            let list = ctx.api.get(&url(&sandbox, "")).await?;
            if ctx.out.json {
                ctx.out.print_json(&list);
                return Ok(());
            }
            let mut t = ctx
                .out
                .table(&["pid", "state", "exit", "started", "tag", "command"]);
            for p in list["processes"].as_array().into_iter().flatten() {
                t.add_row(row(p));
            }
            ctx.out.print(&mut t);
        }
        ProcessCmd::Get { sandbox, pid } => {
            let p = ctx.api.get(&url(&sandbox, &format!("/{pid}"))).await?;
            if ctx.out.json {
                ctx.out.print_json(&p);
                return Ok(());
            }
            let mut t = ctx
                .out
                .table(&["pid", "state", "exit", "started", "tag", "command"]);
            t.add_row(row(&p));
            ctx.out.print(&mut t);
        }
        ProcessCmd::Logs {
            sandbox,
            pid,
            follow,
        } => {
            let path = url(&sandbox, &format!("/{pid}/logs?follow={follow}"));
            super::logs::read(&ctx.api, &path, true, ctx.out.json).await?;
        }
        ProcessCmd::Stdin {
            sandbox,
            pid,
            close,
        } => {
            let mut all = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut all)
                .await
                .map_err(CliError::io("reading stdin"))?;
            let path = url(&sandbox, &format!("/{pid}/stdin"));
            let max = sbx_core::process::MAX_STDIN_BYTES;
            let pieces: Vec<&[u8]> = if all.is_empty() {
                vec![&[]]
            } else {
                all.chunks(max).collect()
            };
            let last = pieces.len() - 1;
            for (i, piece) in pieces.into_iter().enumerate() {
                let at = if close && i == last {
                    format!("{path}?close=true")
                } else {
                    path.clone()
                };
                let _answer = ctx
                    .api
                    .send(&Call::post_bytes(at, bytes::Bytes::copy_from_slice(piece)))
                    .await?;
            }
        }
        ProcessCmd::Kill {
            sandbox,
            pid,
            signal,
        } => {
            let name = signal.to_uppercase();
            let body = json!({ "signal": name.trim_start_matches("SIG") });
            let _answer = ctx
                .api
                .send(&Call::post(url(&sandbox, &format!("/{pid}/signal")), &body))
                .await?;
        }
    }
    Ok(())
}

/// A process as a table row.
fn row(p: &Value) -> Vec<Cell> {
    let state = match (&p["state"], p["timed_out"].as_bool()) {
        (s, Some(true)) => format!("{} (timed out)", text(s)),
        (s, _) => text(s),
    };
    let command: Vec<String> = p["command"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    vec![
        Cell::new(text(&p["pid"])),
        Cell::new(state),
        Cell::new(text(&p["exit_code"])),
        Cell::new(time(&p["started_at"])),
        Cell::new(text(&p["tag"])),
        Cell::new(command.join(" ")),
    ]
}
