//! `sbx batch …`: many items at once, with a pass rate (`/v1/batches`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use comfy_table::Cell;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use super::client::{Call, percent_encode};
use super::error::{CliError, CliResult};
use super::output::{percent, text, time};
use super::{Conn, Ctx};

/// How often `--wait` reads the batch.
const POLL: Duration = Duration::from_millis(500);

/// Arguments of `sbx batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub cmd: BatchCmd,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// What `batch results` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// A table of each item's id, status, verdict and exit code.
    Table,
    /// Every item's result as a line of JSON, as the API streams them.
    Jsonl,
    /// One CSV row per item: id, job_id, status, verdict, exit_code, duration_ms, stdout,
    /// stderr.
    Csv,
}

/// `sbx batch` commands.
#[derive(Debug, clap::Subcommand)]
pub enum BatchCmd {
    /// Queue a batch from a JSON-lines file, one item per line (`id`, `code`, and optionally
    /// `expected_stdout`, `stdin`, `args`, `env`, `timeout_ms`, `memory_mb`, …).
    Submit {
        /// The items (`-` for standard input).
        file: PathBuf,
        /// Wait until every item has ended, with a progress bar and the pass rate.
        #[arg(short, long)]
        wait: bool,
    },
    /// Show where a batch stands: counts by verdict and the pass rate.
    Get {
        /// The batch id.
        id: String,
    },
    /// Cancel a batch's items that have not ended.
    Cancel {
        /// The batch id.
        id: String,
    },
    /// Print every item's result, in item order.
    Results {
        /// The batch id.
        id: String,
        /// How [default: table; --json: one JSON array].
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
}

/// Run `sbx batch …`.
///
/// # Errors
/// As the API answers, and a file that cannot be read or has a line that is not JSON.
pub async fn run(args: BatchArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    let path = |id: &str, action: &str| format!("/v1/batches/{}{action}", percent_encode(id));
    match args.cmd {
        BatchCmd::Submit { file, wait } => {
            let items = read_items(&file)?;
            let body = json!({ "items": items });
            let mut view = ctx
                .api
                .json(Call::post("/v1/batches", &body).idempotent())
                .await?;
            if wait {
                view = wait_for(&ctx, &path(text(&view["id"]).as_str(), "")).await?;
            }
            show(&ctx, &view);
        }
        BatchCmd::Get { id } => show(&ctx, &ctx.api.get(&path(&id, "")).await?),
        BatchCmd::Cancel { id } => {
            let body = json!({});
            let view = ctx
                .api
                .json(Call::post(path(&id, "/cancel"), &body).safe())
                .await?;
            show(&ctx, &view);
        }
        BatchCmd::Results { id, format } => {
            let format = format.unwrap_or(if ctx.out.json {
                Format::Jsonl
            } else {
                Format::Table
            });
            let call = Call::get(path(&id, "/results")).header("Accept", "application/x-ndjson");
            let (_, _, mut body) = ctx.api.send(&call).await?;
            if matches!(format, Format::Jsonl) && !ctx.out.json {
                // The lines as the API sends them, as they come.
                let mut out = std::io::stdout().lock();
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| ctx.api.broken(e))?;
                    if out.write_all(&chunk).is_err() {
                        return Ok(());
                    }
                }
                let _ = out.flush();
                return Ok(());
            }
            let raw = ctx.api.read_all(body, usize::MAX).await?;
            let items = raw
                .split(|b| *b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .map(serde_json::from_slice::<Value>)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CliError::BadAnswer {
                    url: ctx.api.url.clone(),
                    status: 200,
                    text: format!("a result line is not JSON: {e}"),
                })?;
            match format {
                _ if ctx.out.json => ctx.out.print_json(&Value::Array(items)),
                Format::Csv => write_csv(&items)?,
                _ => {
                    let mut t = ctx.out.table(&["id", "status", "verdict", "exit", "ms"]);
                    for i in &items {
                        t.add_row(vec![
                            Cell::new(text(&i["id"])),
                            ctx.out.state(i["status"].as_str().unwrap_or("")),
                            ctx.out.state(i["verdict"].as_str().unwrap_or("")),
                            Cell::new(text(&i["result"]["exit_code"])),
                            Cell::new(
                                i["result"]["duration_ms"]
                                    .as_f64()
                                    .map(|m| format!("{m:.0}"))
                                    .unwrap_or_default(),
                            ),
                        ]);
                    }
                    ctx.out.print(&mut t);
                }
            }
        }
    }
    Ok(())
}

/// The items of JSON-lines `file` (`-`: standard input); blank lines are skipped.
fn read_items(file: &PathBuf) -> CliResult<Vec<Value>> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(CliError::io("reading standard input"))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| CliError::Input(format!("reading {}: {e}", file.display())))?
    };
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item: Value = serde_json::from_str(line).map_err(|e| {
            CliError::Input(format!(
                "{}:{}: not a JSON object: {e}",
                file.display(),
                n + 1
            ))
        })?;
        if !item.is_object() {
            return Err(CliError::Input(format!(
                "{}:{}: not a JSON object",
                file.display(),
                n + 1
            )));
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(CliError::Input(format!("{}: no items", file.display())));
    }
    Ok(items)
}

/// Read the batch at `path` until it has ended, drawing a progress bar on stderr (hidden when
/// stderr is not a terminal); its last view.
async fn wait_for(ctx: &Ctx, path: &str) -> CliResult<Value> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} items  {msg}",
        )
        .expect("a valid progress template"),
    );
    loop {
        let view = ctx.api.get(path).await?;
        bar.set_length(view["total"].as_u64().unwrap_or(0));
        bar.set_position(view["ended"].as_u64().unwrap_or(0));
        if !view["pass_rate"].is_null() {
            bar.set_message(format!("pass rate {}", percent(&view["pass_rate"])));
        }
        if matches!(view["status"].as_str(), Some("finished" | "cancelled")) {
            bar.finish();
            return Ok(view);
        }
        actix_web::rt::time::sleep(POLL).await;
    }
}

/// Print `items` as CSV on stdout.
fn write_csv(items: &[Value]) -> CliResult<()> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    let io = |e: csv::Error| CliError::Io {
        what: "writing CSV".into(),
        source: e.into(),
    };
    w.write_record([
        "id",
        "job_id",
        "status",
        "verdict",
        "exit_code",
        "duration_ms",
        "stdout",
        "stderr",
    ])
    .map_err(io)?;
    for i in items {
        let r = &i["result"];
        w.write_record([
            text(&i["id"]),
            text(&i["job_id"]),
            text(&i["status"]),
            text(&i["verdict"]),
            text(&r["exit_code"]),
            text(&r["duration_ms"]),
            text(&r["stdout"]),
            text(&r["stderr"]),
        ])
        .map_err(io)?;
    }
    w.flush().map_err(CliError::io("writing CSV"))
}

/// Print batch `view`: its JSON, or its counts and pass rate.
fn show(ctx: &Ctx, view: &Value) {
    if ctx.out.json {
        ctx.out.print_json(view);
        return;
    }
    let counts = view["counts"]
        .as_object()
        .map(|c| {
            c.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    ctx.out.fields(&[
        ("id", Cell::new(text(&view["id"]))),
        (
            "status",
            ctx.out.state(view["status"].as_str().unwrap_or("")),
        ),
        ("items", Cell::new(text(&view["total"]))),
        ("ended", Cell::new(text(&view["ended"]))),
        ("passed", Cell::new(text(&view["passed"]))),
        ("pass rate", Cell::new(percent(&view["pass_rate"]))),
        ("counts", Cell::new(counts)),
        ("created", Cell::new(time(&view["created_at"]))),
        ("finished", Cell::new(time(&view["finished_at"]))),
    ]);
}
