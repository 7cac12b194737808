//! `sbx events` (the project's sandbox events as they happen, `GET /v1/events`) and
//! `sbx webhook …` (endpoints they are POSTed to, `/v1/webhooks`).

use std::time::Duration;

use comfy_table::Cell;
use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use super::client::{Call, encode_query, percent_encode};
use super::error::{CliError, CliResult};
use super::output::{text, time};
use super::{Conn, Ctx};

/// Times the stream is opened again (after the last event seen) when it breaks.
const RECONNECTS: u32 = 5;

/// Arguments of `sbx events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Only this type (repeat for more): sandbox.pending, .running, .paused, .resumed,
    /// .terminated, .failed.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only this sandbox's events.
    #[arg(long, value_name = "ID")]
    pub sandbox: Option<String>,
    /// Start after this event id (0: every event kept) [default: from now].
    #[arg(long)]
    pub after: Option<i64>,
    /// Stop after this many events [default: never].
    #[arg(long, short = 'n')]
    pub count: Option<usize>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// Run `sbx events`: a line per event (`time type sandbox state reason`), or with `--json`
/// the event as a line of JSON.
///
/// # Errors
/// The server refused the stream (a bad type: 400), or it broke more than [`RECONNECTS`]
/// times.
pub async fn events(args: EventsArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    let mut query = Vec::new();
    if !args.types.is_empty() {
        query.push(("types", args.types.join(",")));
    }
    query.extend(args.sandbox.map(|s| ("sandbox_id", s)));
    let path = format!("/v1/events?{}", encode_query(&query));
    let mut last = args.after.map(|a| a.to_string());
    let (mut seen, mut breaks) = (0, 0);
    loop {
        let mut call = Call::get(path.as_str());
        // The stream stays open: only the connection may not hang.
        call.timeout = Duration::from_secs(30);
        if let Some(id) = &last {
            call = call.header("Last-Event-ID", id.clone());
        }
        let (_, _, body) = ctx.api.send(&call).await?;
        let mut stream = body.eventsource();
        while let Some(next) = stream.next().await {
            let event = match next {
                Ok(e) => e,
                Err(e) => {
                    breaks += 1;
                    if breaks > RECONNECTS {
                        return Err(CliError::Unreachable {
                            url: ctx.api.url.clone(),
                            reason: format!("the event stream broke: {e}"),
                        });
                    }
                    break;
                }
            };
            if event.data.is_empty() {
                continue;
            }
            last = Some(event.id.clone());
            let v: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
            if ctx.out.json {
                say!("{v}");
            } else {
                let d = &v["data"];
                say!(
                    "{}  {:<18}  {}  {}  {}",
                    time(&v["timestamp"]),
                    text(&v["type"]),
                    text(&d["sandbox_id"]),
                    text(&d["state"]),
                    text(&d["reason"])
                );
            }
            seen += 1;
            if args.count.is_some_and(|n| seen >= n) {
                return Ok(());
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Arguments of `sbx webhook`.
#[derive(Debug, clap::Args)]
pub struct WebhookArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub cmd: WebhookCmd,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// `sbx webhook` commands.
#[derive(Debug, clap::Subcommand)]
pub enum WebhookCmd {
    /// Register an endpoint the project's sandbox events are POSTed to, signed with the
    /// project's secret (Standard Webhooks).
    Create {
        /// An absolute http(s) URL (not `url`: that is the server's, `--url`).
        #[arg(value_name = "URL")]
        endpoint: String,
        /// An event type it gets (repeat for more) [default: sandbox.*, all].
        #[arg(long = "event", value_name = "TYPE")]
        events: Vec<String>,
        /// A note.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the project's endpoints.
    Ls,
    /// Remove endpoints.
    Rm {
        /// Their ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// Run `sbx webhook …`.
///
/// # Errors
/// As the API answers.
pub async fn webhook(args: WebhookArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    match args.cmd {
        WebhookCmd::Create {
            endpoint,
            events,
            description,
        } => {
            let mut body = json!({"url": endpoint});
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let made = ctx.api.json(Call::post("/v1/webhooks", &body)).await?;
            if ctx.out.json {
                ctx.out.print_json(&made);
            } else {
                say!("{}", text(&made["id"]));
            }
        }
        WebhookCmd::Ls => {
            let list = ctx.api.get("/v1/webhooks").await?;
            if ctx.out.json {
                ctx.out.print_json(&list["data"]);
                return Ok(());
            }
            let mut t = ctx
                .out
                .table(&["id", "url", "events", "description", "created"]);
            for e in list["data"].as_array().into_iter().flatten() {
                let events: Vec<String> = e["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                t.add_row(vec![
                    Cell::new(text(&e["id"])),
                    Cell::new(text(&e["url"])),
                    Cell::new(events.join(",")),
                    Cell::new(text(&e["description"])),
                    Cell::new(time(&e["created_at"])),
                ]);
            }
            ctx.out.print(&mut t);
        }
        WebhookCmd::Rm { ids } => {
            for id in ids {
                let path = format!("/v1/webhooks/{}", percent_encode(&id));
                let _answer = ctx.api.send(&Call::delete(path)).await?;
                say!("{id}");
            }
        }
    }
    Ok(())
}
