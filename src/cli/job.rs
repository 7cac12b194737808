//! `sbx job …`: queue runs and follow them (`/v1/jobs`).

use std::path::{Component, Path, PathBuf};

use comfy_table::Cell;
use serde_json::{Map, Value, json};

use super::client::{Call, percent_encode};
use super::error::{CliError, CliResult};
use super::exec::{name_value, read_code};
use super::output::{bytes, text, time};
use super::{Conn, Ctx};

/// Arguments of `sbx job`.
#[derive(Debug, clap::Args)]
pub struct JobArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub cmd: JobCmd,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// `sbx job` commands.
#[derive(Debug, clap::Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum JobCmd {
    /// Queue a job and print it at once: Python (`-c CODE` or a file), or with `--image` a
    /// command in a container (after `--`), which keeps what it writes to /outputs.
    Submit {
        /// Python code to run.
        #[arg(short = 'c', long = "code", conflicts_with_all = ["file", "image"])]
        code: Option<String>,
        /// A Python file to run (`-` for standard input).
        #[arg(conflicts_with = "image")]
        file: Option<PathBuf>,
        /// A container job: the image to run the command in.
        #[arg(long)]
        image: Option<String>,
        /// The program's arguments (Python), or the command and its arguments (`--image`).
        #[arg(last = true)]
        args: Vec<String>,
        /// Python: wall-time limit in milliseconds [server default: 10 000].
        #[arg(long, conflicts_with = "image")]
        timeout_ms: Option<u64>,
        /// Python: memory limit in MiB [server default: 512].
        #[arg(long, conflicts_with = "image")]
        memory_mb: Option<u64>,
        /// Python: disk cap in MiB [server default: 128].
        #[arg(long, conflicts_with = "image")]
        disk_mb: Option<u64>,
        /// Containers: lifetime in seconds.
        #[arg(long, requires = "image")]
        timeout_s: Option<u64>,
        /// Containers: memory as a quantity (`2Gi`).
        #[arg(long, requires = "image")]
        memory: Option<String>,
        /// Containers: CPU cores.
        #[arg(long, requires = "image")]
        cpu: Option<f64>,
        /// Containers: a GPU of this model (as `sbx gpus` names it, or `any`).
        #[arg(long, requires = "image", value_name = "MODEL")]
        gpu: Option<String>,
        /// An environment variable, `NAME=VALUE` (repeatable).
        #[arg(long = "env", short = 'e', value_name = "NAME=VALUE", value_parser = name_value)]
        env: Vec<(String, String)>,
        /// A URL sent the job when it ends (a signed webhook).
        #[arg(long)]
        callback_url: Option<String>,
    },
    /// List the project's jobs, newest first.
    #[command(alias = "list")]
    Ls {
        /// Only jobs with this status (queued, running, succeeded, failed, timeout, …).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a job: its status and, once it ended, its result.
    Get {
        /// The job id.
        id: String,
    },
    /// Print a job's output (stdout and stderr, each to ours, exactly as written): all of it
    /// once it ended, else what it wrote so far (read until the stream is quiet for 1.5 s).
    Logs {
        /// The job id.
        id: String,
        /// Keep printing as it writes, until the job ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Cancel a job: a queued one ends now, a running one is stopped.
    Cancel {
        /// The job id.
        id: String,
    },
    /// List a container job's artifacts (what it wrote to /outputs), or download them.
    Artifacts {
        /// The job id.
        id: String,
        /// Save every artifact under this directory (made if missing).
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
}

/// Run `sbx job …`.
///
/// # Errors
/// As the API answers, and local files that cannot be read or written.
pub async fn run(args: JobArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    let path = |id: &str, action: &str| format!("/v1/jobs/{}{action}", percent_encode(id));
    match args.cmd {
        JobCmd::Submit {
            code,
            file,
            image,
            args,
            timeout_ms,
            memory_mb,
            disk_mb,
            timeout_s,
            memory,
            cpu,
            gpu,
            env,
            callback_url,
        } => {
            let mut body = Map::new();
            if let Some(image) = image {
                if args.is_empty() {
                    return Err(CliError::Input(
                        "a container job needs its command after `--`".into(),
                    ));
                }
                body.insert("kind".into(), "container".into());
                body.insert("image".into(), image.into());
                body.insert("command".into(), args.into());
            } else {
                body.insert("language".into(), "python".into());
                body.insert(
                    "code".into(),
                    read_code(code.as_deref(), file.as_ref())?.into(),
                );
                body.insert("args".into(), args.into());
            }
            let fields = [
                ("timeout_ms", timeout_ms.map(Value::from)),
                ("memory_mb", memory_mb.map(Value::from)),
                ("disk_mb", disk_mb.map(Value::from)),
                ("timeout_s", timeout_s.map(Value::from)),
                ("memory", memory.map(Value::from)),
                ("cpu", cpu.map(Value::from)),
                ("gpu", gpu.map(|t| json!({"type": t}))),
                ("callback_url", callback_url.map(Value::from)),
                (
                    "env",
                    (!env.is_empty()).then(|| {
                        env.into_iter()
                            .map(|(k, v)| (k, v.into()))
                            .collect::<Map<_, _>>()
                            .into()
                    }),
                ),
            ];
            body.extend(
                fields
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?))),
            );
            let body = Value::Object(body);
            let view = ctx
                .api
                .json(Call::post("/v1/jobs", &body).idempotent())
                .await?;
            show(&ctx, &view);
        }
        JobCmd::Ls { status, limit } => {
            let query: Vec<_> = status.into_iter().map(|s| ("status", s)).collect();
            let list = ctx.api.pages("/v1/jobs", &query, limit).await?;
            if ctx.out.json {
                ctx.out.print_json(&Value::Array(list));
                return Ok(());
            }
            if list.is_empty() {
                eprintln!("no jobs");
                return Ok(());
            }
            let mut t = ctx
                .out
                .table(&["id", "kind", "status", "exit", "ms", "created"]);
            for j in &list {
                t.add_row(vec![
                    Cell::new(text(&j["id"])),
                    Cell::new(kind(j)),
                    ctx.out.state(j["status"].as_str().unwrap_or("")),
                    Cell::new(text(&j["result"]["exit_code"])),
                    Cell::new(ms(&j["result"]["duration_ms"])),
                    Cell::new(time(&j["created_at"])),
                ]);
            }
            ctx.out.print(&mut t);
        }
        JobCmd::Get { id } => {
            let view = ctx.api.get(&path(&id, "")).await?;
            show(&ctx, &view);
        }
        JobCmd::Logs { id, follow } => {
            super::logs::read(&ctx.api, &path(&id, "/logs"), follow, ctx.out.json).await?;
        }
        JobCmd::Cancel { id } => {
            let body = json!({});
            let view = ctx
                .api
                .json(Call::post(path(&id, "/cancel"), &body).safe())
                .await?;
            show(&ctx, &view);
        }
        JobCmd::Artifacts { id, output } => {
            let view = ctx.api.get(&path(&id, "")).await?;
            let list = view["result"]["artifacts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if let Some(dir) = &output {
                let mut written = Vec::new();
                for a in &list {
                    let name = a["path"].as_str().unwrap_or_default();
                    let target = inside(dir, name)?;
                    let encoded: Vec<String> = name.split('/').map(percent_encode).collect();
                    let call = Call::get(path(&id, &format!("/artifacts/{}", encoded.join("/"))));
                    let (_, _, body) = ctx.api.send(&call).await?;
                    let data = ctx.api.read_all(body, usize::MAX).await?;
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(CliError::io(format!("creating {}", parent.display())))?;
                    }
                    std::fs::write(&target, &data)
                        .map_err(CliError::io(format!("writing {}", target.display())))?;
                    written.push(json!({"path": name, "size": data.len(), "file": target}));
                    if !ctx.out.json {
                        say!("{}", target.display());
                    }
                }
                if ctx.out.json {
                    ctx.out.print_json(&Value::Array(written));
                }
            } else if ctx.out.json {
                ctx.out.print_json(&Value::Array(list));
            } else if list.is_empty() {
                eprintln!("no artifacts (only container jobs keep them, once they end)");
            } else {
                let mut t = ctx.out.table(&["path", "size"]);
                for a in &list {
                    t.add_row(vec![
                        Cell::new(text(&a["path"])),
                        Cell::new(bytes(&a["size"])),
                    ]);
                }
                ctx.out.print(&mut t);
            }
        }
    }
    Ok(())
}

/// Where artifact `name` goes under `dir`; refused when it would land outside.
fn inside(dir: &Path, name: &str) -> CliResult<PathBuf> {
    let rel = Path::new(name);
    if name.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(CliError::Input(format!(
            "artifact path {name:?} would leave {}",
            dir.display()
        )));
    }
    Ok(dir.join(rel))
}

/// `python`, `wasi` or `container`.
fn kind(job: &Value) -> String {
    match job["kind"].as_str() {
        Some("container") => "container".into(),
        _ => text(&job["language"]),
    }
}

/// Milliseconds, rounded; empty for null.
fn ms(v: &Value) -> String {
    v.as_f64().map(|m| format!("{m:.0}")).unwrap_or_default()
}

/// Print job `view`: its JSON, or its main fields.
fn show(ctx: &Ctx, view: &Value) {
    if ctx.out.json {
        ctx.out.print_json(view);
        return;
    }
    let r = &view["result"];
    let mut rows = vec![
        ("id", Cell::new(text(&view["id"]))),
        ("kind", Cell::new(kind(view))),
        (
            "status",
            ctx.out.state(view["status"].as_str().unwrap_or("")),
        ),
        ("created", Cell::new(time(&view["created_at"]))),
        ("started", Cell::new(time(&view["started_at"]))),
        ("finished", Cell::new(time(&view["finished_at"]))),
    ];
    if !r.is_null() {
        rows.push(("exit code", Cell::new(text(&r["exit_code"]))));
        rows.push(("duration ms", Cell::new(ms(&r["duration_ms"]))));
        if !r["message"].is_null() {
            rows.push(("message", Cell::new(text(&r["message"]))));
        }
        if let Some(a) = r["artifacts"].as_array() {
            rows.push(("artifacts", Cell::new(a.len())));
        }
    }
    ctx.out.fields(&rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_stay_inside_the_output_directory() {
        let dir = Path::new("out");
        assert_eq!(inside(dir, "a/b.txt").unwrap(), Path::new("out/a/b.txt"));
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "./a"] {
            assert!(inside(dir, bad).is_err(), "{bad}");
        }
    }
}
