//! `sbx sandbox …`: create, list, inspect, use and end sandboxes (`/v1/sandboxes`).

use std::path::PathBuf;
use std::time::Duration;

use comfy_table::Cell;
use serde_json::{Map, Value, json};

use super::client::{Call, encode_query, percent_encode};
use super::error::{CliResult, EXIT_API_ERROR, EXIT_FAILED};
use super::exec::{finish, name_value, read_code};
use super::output::{bytes, text, time};
use super::{Conn, Ctx, fail};

/// Arguments of `sbx sandbox`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub cmd: SandboxCmd,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// The exit codes of `sandbox run` and `sandbox exec`.
const CALL_EXIT_CODES: &str = "

Exit codes:
  the program's own   it ran and exited (a cell: 0, 1 for an exception, n for sys.exit(n))
  124                 it hit a limit (time, memory, output) or was cancelled
  2                   sbx failed: the API refused the call (a paused or ended sandbox, the
                      wrong kind of sandbox), or the server could not be reached";

/// Arguments of `sbx sandbox create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// `code-interpreter`, a catalog image (`sbx images`), a template (`sbx template ls`:
    /// `name` or `name:version`) or any image reference.
    #[arg(default_value = "code-interpreter")]
    image: String,
    /// Memory limit as a quantity (`512Mi`, `2Gi`).
    #[arg(long)]
    memory: Option<String>,
    /// Disk cap as a quantity (`10Gi`).
    #[arg(long)]
    disk: Option<String>,
    /// CPU cores [server default: 1].
    #[arg(long)]
    cpu: Option<f64>,
    /// Lifetime in seconds [server default: 3600, at most 86 400].
    #[arg(long)]
    timeout_s: Option<u64>,
    /// Pause an interpreter after this many idle seconds [server default: 300; 0: never].
    #[arg(long)]
    idle_timeout_s: Option<u64>,
    /// An environment variable, `NAME=VALUE` (repeatable).
    #[arg(long = "env", short = 'e', value_name = "NAME=VALUE", value_parser = name_value)]
    env: Vec<(String, String)>,
    /// Containers: give it a network interface besides loopback.
    #[arg(long, conflicts_with = "allow")]
    network: bool,
    /// Containers: let it reach only this host name, `*.` wildcard, address or CIDR range
    /// (repeatable): egress rules, through the runner's proxy.
    #[arg(long, value_name = "HOST|RANGE")]
    allow: Vec<String>,
    /// Containers: a port a server will listen on (repeatable): listed by `sbx sandbox ports`.
    #[arg(long = "port", short = 'p', value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    ports: Vec<u16>,
    /// Containers: a GPU of this model (as `sbx gpus` names it, or `any`).
    #[arg(long, value_name = "MODEL")]
    gpu: Option<String>,
    /// Whole GPU cards [default: 1].
    #[arg(long, requires = "gpu")]
    gpu_count: Option<u32>,
    /// A share of one card: 0.25, 0.5, 0.75 or 1.
    #[arg(long, requires = "gpu")]
    gpu_fraction: Option<f64>,
    /// A custom image's registry user.
    #[arg(long, requires = "registry_password")]
    registry_username: Option<String>,
    /// A custom image's registry password.
    #[arg(long, env = "SBX_REGISTRY_PASSWORD", hide_env_values = true)]
    registry_password: Option<String>,
    /// A custom image's registry server [default: the image's].
    #[arg(long, requires = "registry_username")]
    registry_server: Option<String>,
    /// Containers: the command to run instead of a keep-alive (after `--`); the sandbox
    /// ends when it exits.
    #[arg(last = true)]
    command: Vec<String>,
}

/// `sbx sandbox` commands.
#[derive(Debug, clap::Subcommand)]
pub enum SandboxCmd {
    /// Create a sandbox: a Python interpreter that keeps state between cells
    /// (`code-interpreter`, the default) or a container of an image.
    Create(Box<CreateArgs>),
    /// List the project's sandboxes, newest first.
    #[command(alias = "list")]
    Ls {
        /// Only those in this state: pending, running, paused, terminated or failed.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a sandbox and its state changes.
    Get {
        /// The sandbox id.
        id: String,
    },
    /// Run a cell of Python in a code-interpreter sandbox: variables and imports persist
    /// between cells; a final expression's value is printed after the cell's output.
    #[command(after_long_help = CALL_EXIT_CODES)]
    Run {
        /// The sandbox id.
        id: String,
        /// The cell's code.
        #[arg(short = 'c', long = "code", conflicts_with = "file")]
        code: Option<String>,
        /// A file with the cell's code (`-` for standard input).
        file: Option<PathBuf>,
        /// The cell's wall-time limit in milliseconds [server default: 10 000].
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Cap per output stream in bytes [server default: 1 MiB].
        #[arg(long)]
        output_limit_bytes: Option<u64>,
    },
    /// Run a command in a container sandbox and wait for it (`sbx sandbox exec ID -- ls -l`).
    #[command(after_long_help = CALL_EXIT_CODES)]
    Exec {
        /// The sandbox id.
        id: String,
        /// The command's wall-time limit in milliseconds [server default: 10 000].
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Cap per output stream in bytes [server default: 1 MiB].
        #[arg(long)]
        output_limit_bytes: Option<u64>,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print a container sandbox's output (its command's stdout and stderr): what it wrote
    /// so far (read until the stream is quiet for 1.5 s), or with --follow until it ends.
    Logs {
        /// The sandbox id.
        id: String,
        /// Keep printing as it writes, until the sandbox ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Pause a sandbox: its state is kept, its memory, CPU and GPU freed.
    Pause {
        /// The sandbox id.
        id: String,
    },
    /// Resume a paused sandbox.
    Resume {
        /// The sandbox id.
        id: String,
    },
    /// End a sandbox this many seconds from now (1 to 86 400), running or paused.
    Timeout {
        /// The sandbox id.
        id: String,
        /// Seconds from now.
        seconds: u64,
    },
    /// Copies of a running sandbox (a code-interpreter's variables, imports and files; a
    /// container's /workspace and /outputs); prints their ids.
    Fork {
        /// The sandbox id.
        id: String,
        /// How many copies, 1 to 16.
        #[arg(short = 'n', long, default_value_t = 1)]
        count: u32,
    },
    /// A signed URL that opens a port of a container sandbox in a browser, without an API key,
    /// until it expires or the sandbox ends; prints the URL.
    Preview {
        /// The sandbox id.
        id: String,
        /// The port the server listens on in the sandbox, 1 to 65535.
        port: u16,
        /// Seconds the URL works, 1 to 86400.
        #[arg(long, default_value_t = 3600)]
        expires_in: u32,
    },
    /// A container sandbox's ports: those declared and those a server listens on. With
    /// --expose, declare a port first; with --wait, wait until a server listens on it.
    Ports {
        /// The sandbox id.
        id: String,
        /// Declare this port (1 to 65535), as `--port` at create does.
        #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        expose: Option<u16>,
        /// Wait until a server listens on this port (polled every 0.2 s); exit 1 if none does
        /// within --timeout.
        #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        wait: Option<u16>,
        /// Seconds --wait waits.
        #[arg(long, default_value_t = 60, requires = "wait")]
        timeout: u64,
    },
    /// CPU, memory, disk, network and cost over time, and the cost so far.
    Metrics {
        /// The sandbox id.
        id: String,
        /// Seconds per point [default: at most 300 points].
        #[arg(long)]
        step: Option<u32>,
        /// Start, RFC 3339 [default: the last hour of its life].
        #[arg(long)]
        from: Option<String>,
        /// End, exclusive, RFC 3339 [default: now, or its end].
        #[arg(long)]
        to: Option<String>,
    },
    /// Terminate sandboxes.
    #[command(alias = "delete")]
    Rm {
        /// The sandbox ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// Run `sbx sandbox …`; the exit code (a program's, for `run` and `exec`).
pub async fn run(args: SandboxArgs) -> i32 {
    let calls = matches!(args.cmd, SandboxCmd::Run { .. } | SandboxCmd::Exec { .. });
    match sandbox(args).await {
        Ok(code) => code,
        Err(e) => fail(&e, if calls { EXIT_API_ERROR } else { EXIT_FAILED }),
    }
}

async fn sandbox(args: SandboxArgs) -> CliResult<i32> {
    let ctx = Ctx::new(&args.conn)?;
    let path = |id: &str, action: &str| format!("/v1/sandboxes/{}{action}", percent_encode(id));
    match args.cmd {
        SandboxCmd::Create(create) => {
            let CreateArgs {
                image,
                memory,
                disk,
                cpu,
                timeout_s,
                idle_timeout_s,
                env,
                network,
                allow,
                ports,
                gpu,
                gpu_count,
                gpu_fraction,
                registry_username,
                registry_password,
                registry_server,
                command,
            } = *create;
            let mut body = Map::new();
            body.insert("image".into(), image.into());
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    body.insert(k.into(), v);
                }
            };
            put("memory", memory.map(Value::from));
            put("disk", disk.map(Value::from));
            put("cpu", cpu.map(Value::from));
            put("timeout_s", timeout_s.map(Value::from));
            put("idle_timeout_s", idle_timeout_s.map(Value::from));
            put(
                "network",
                if allow.is_empty() {
                    network.then_some(Value::Bool(true))
                } else {
                    Some(serde_json::json!({ "allow": allow }))
                },
            );
            put(
                "env",
                (!env.is_empty()).then(|| {
                    env.into_iter()
                        .map(|(k, v)| (k, v.into()))
                        .collect::<Map<_, _>>()
                        .into()
                }),
            );
            put("command", (!command.is_empty()).then(|| command.into()));
            put("ports", (!ports.is_empty()).then(|| ports.into()));
            put(
                "gpu",
                gpu.map(|t| json!({"type": t, "count": gpu_count, "fraction": gpu_fraction})),
            );
            put(
                "registry",
                registry_username.map(|u| {
                    json!({"username": u, "password": registry_password, "server": registry_server})
                }),
            );
            let body = Value::Object(body);
            let view = ctx
                .api
                .json(Call::post("/v1/sandboxes", &body).idempotent())
                .await?;
            show(&ctx, &view);
        }
        SandboxCmd::Ls { state, limit } => {
            let query: Vec<_> = state.into_iter().map(|s| ("state", s)).collect();
            let list = ctx.api.pages("/v1/sandboxes", &query, limit).await?;
            if ctx.out.json {
                ctx.out.print_json(&Value::Array(list));
                return Ok(0);
            }
            let mut t = ctx.out.table(&[
                "id", "image", "state", "cpu", "memory", "calls", "created", "expires",
            ]);
            for s in &list {
                t.add_row(vec![
                    Cell::new(text(&s["id"])),
                    Cell::new(text(&s["image"])),
                    ctx.out.state(s["state"].as_str().unwrap_or("")),
                    Cell::new(text(&s["cpu"])),
                    Cell::new(bytes(&s["memory_bytes"])),
                    Cell::new(text(&s["calls"])),
                    Cell::new(time(&s["created_at"])),
                    Cell::new(time(&s["expires_at"])),
                ]);
            }
            if list.is_empty() {
                eprintln!("no sandboxes");
            } else {
                ctx.out.print(&mut t);
            }
        }
        SandboxCmd::Get { id } => {
            let view = ctx.api.get(&path(&id, "")).await?;
            show(&ctx, &view);
            if let Some(events) = view["events"].as_array().filter(|_| !ctx.out.json) {
                let mut t = ctx.out.table(&["at", "state", "reason", "detail"]);
                for e in events {
                    t.add_row(vec![
                        Cell::new(time(&e["at"])),
                        ctx.out.state(e["state"].as_str().unwrap_or("")),
                        Cell::new(text(&e["reason"])),
                        Cell::new(text(&e["detail"])),
                    ]);
                }
                say!();
                ctx.out.print(&mut t);
            }
        }
        SandboxCmd::Run {
            id,
            code,
            file,
            timeout_ms,
            output_limit_bytes,
        } => {
            let code = read_code(code.as_deref(), file.as_ref())?;
            let body = json!({"code": code, "timeout_ms": timeout_ms, "output_limit_bytes": output_limit_bytes});
            return call(&ctx, &path(&id, "/exec"), body, timeout_ms).await;
        }
        SandboxCmd::Exec {
            id,
            timeout_ms,
            output_limit_bytes,
            command,
        } => {
            let body = json!({"command": command, "timeout_ms": timeout_ms, "output_limit_bytes": output_limit_bytes});
            return call(&ctx, &path(&id, "/exec"), body, timeout_ms).await;
        }
        SandboxCmd::Logs { id, follow } => {
            super::logs::read(&ctx.api, &path(&id, "/logs"), follow, ctx.out.json).await?;
        }
        SandboxCmd::Pause { id } => {
            let view = ctx
                .api
                .json(Call::post(path(&id, "/pause"), &json!({})).safe())
                .await?;
            show(&ctx, &view);
        }
        SandboxCmd::Resume { id } => {
            let view = ctx
                .api
                .json(Call::post(path(&id, "/resume"), &json!({})).safe())
                .await?;
            show(&ctx, &view);
        }
        SandboxCmd::Timeout { id, seconds } => {
            let body = json!({"timeout_s": seconds});
            let view = ctx
                .api
                .json(Call::post(path(&id, "/timeout"), &body).safe())
                .await?;
            show(&ctx, &view);
        }
        SandboxCmd::Fork { id, count } => {
            let body = json!({"count": count});
            let made = ctx.api.json(Call::post(path(&id, "/fork"), &body)).await?;
            if ctx.out.json {
                ctx.out.print_json(&made["data"]);
            } else {
                for s in made["data"].as_array().into_iter().flatten() {
                    say!("{}", text(&s["id"]));
                }
            }
        }
        SandboxCmd::Preview {
            id,
            port,
            expires_in,
        } => {
            let body = json!({"port": port, "expires_in": expires_in});
            let made = ctx
                .api
                .json(Call::post(path(&id, "/previews"), &body))
                .await?;
            if ctx.out.json {
                ctx.out.print_json(&made);
            } else {
                say!("{}", text(&made["url"]));
            }
        }
        SandboxCmd::Ports {
            id,
            expose,
            wait,
            timeout,
        } => {
            if let Some(port) = expose {
                let body = json!({"port": port});
                ctx.api.json(Call::post(path(&id, "/ports"), &body)).await?;
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(timeout);
            let list = loop {
                let list = ctx.api.get(&path(&id, "/ports")).await?;
                let up =
                    |port: u16| {
                        list["ports"].as_array().into_iter().flatten().any(|p| {
                            p["port"].as_u64() == Some(port.into()) && p["listening"] == true
                        })
                    };
                match wait {
                    Some(port) if !up(port) => {
                        if std::time::Instant::now() >= deadline {
                            eprintln!("nothing listens on port {port} after {timeout} s");
                            return Ok(EXIT_FAILED);
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    _ => break list,
                }
            };
            if ctx.out.json {
                ctx.out.print_json(&list);
                return Ok(0);
            }
            let mut t = ctx.out.table(&["port", "declared", "listening"]);
            for p in list["ports"].as_array().into_iter().flatten() {
                t.add_row(vec![
                    Cell::new(text(&p["port"])),
                    Cell::new(text(&p["declared"])),
                    Cell::new(text(&p["listening"])),
                ]);
            }
            ctx.out.print(&mut t);
        }
        SandboxCmd::Metrics { id, step, from, to } => {
            let mut query = Vec::new();
            query.extend(step.map(|s| ("step", s.to_string())));
            query.extend(from.map(|f| ("from", f)));
            query.extend(to.map(|t| ("to", t)));
            let at = format!("{}?{}", path(&id, "/metrics"), encode_query(&query));
            let m = ctx.api.get(&at).await?;
            if ctx.out.json {
                ctx.out.print_json(&m);
                return Ok(0);
            }
            let mut t = ctx.out.table(&[
                "at",
                "cpu cores",
                "memory",
                "disk",
                "net in",
                "net out",
                "cost",
            ]);
            for p in m["points"].as_array().into_iter().flatten() {
                t.add_row(vec![
                    Cell::new(time(&p["at"])),
                    Cell::new(
                        p["cpu_cores"]
                            .as_f64()
                            .map(|c| format!("{c:.2}"))
                            .unwrap_or_default(),
                    ),
                    Cell::new(bytes(&p["memory_bytes"])),
                    Cell::new(bytes(&p["disk_bytes"])),
                    Cell::new(bytes(&p["network_rx_bytes"])),
                    Cell::new(bytes(&p["network_tx_bytes"])),
                    Cell::new(format!(
                        "${:.6}",
                        p["cost_usd"].as_f64().unwrap_or_default()
                    )),
                ]);
            }
            ctx.out.print(&mut t);
            say!(
                "cost so far: ${:.4}",
                m["cost_so_far_usd"].as_f64().unwrap_or_default()
            );
        }
        SandboxCmd::Rm { ids } => {
            let mut views = Vec::new();
            for id in &ids {
                let view = ctx.api.json(Call::delete(path(id, ""))).await?;
                if !ctx.out.json {
                    say!("{} {}", text(&view["id"]), text(&view["state"]));
                }
                views.push(view);
            }
            if ctx.out.json {
                ctx.out.print_json(&Value::Array(views));
            }
        }
    }
    Ok(0)
}

/// Run a cell or command (`body`) at `path`; the exit code.
async fn call(ctx: &Ctx, path: &str, mut body: Value, timeout_ms: Option<u64>) -> CliResult<i32> {
    if let Some(o) = body.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    let wait = Duration::from_millis(timeout_ms.unwrap_or(10_000));
    // Not repeated: a cell changes the interpreter's state.
    let value = ctx.api.json(Call::post(path, &body).longer(wait)).await?;
    Ok(finish(ctx, &value))
}

/// Print sandbox `view`: its JSON, or its main fields.
fn show(ctx: &Ctx, view: &Value) {
    if ctx.out.json {
        ctx.out.print_json(view);
        return;
    }
    let mut rows = vec![
        ("id", Cell::new(text(&view["id"]))),
        ("image", Cell::new(text(&view["image"]))),
        ("kind", Cell::new(text(&view["kind"]))),
        ("state", ctx.out.state(view["state"].as_str().unwrap_or(""))),
        ("reason", Cell::new(text(&view["state_reason"]))),
    ];
    if !view["state_detail"].is_null() {
        rows.push(("detail", Cell::new(text(&view["state_detail"]))));
    }
    if !view["waiting_for"].is_null() {
        rows.push(("waiting for", Cell::new(text(&view["waiting_for"]))));
    }
    rows.extend([
        ("cpu", Cell::new(text(&view["cpu"]))),
        ("memory", Cell::new(bytes(&view["memory_bytes"]))),
        ("disk", Cell::new(bytes(&view["disk_bytes"]))),
        ("calls", Cell::new(text(&view["calls"]))),
        ("created", Cell::new(time(&view["created_at"]))),
        ("expires", Cell::new(time(&view["expires_at"]))),
    ]);
    if view["ports"].as_array().is_some_and(|p| !p.is_empty()) {
        let ports: Vec<String> = view["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        rows.push(("ports", Cell::new(ports.join(", "))));
    }
    if !view["ended_at"].is_null() {
        rows.push(("ended", Cell::new(time(&view["ended_at"]))));
    }
    ctx.out.fields(&rows);
}
