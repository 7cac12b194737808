//! Reading a job's or sandbox's log: Server-Sent Events whose `stdout`/`stderr` data is each
//! chunk as a JSON string, ended by an event with id `end` whose data is an object (the job's
//! final `status` and `result`, or the sandbox's `state`).

use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use serde_json::Value;

use super::client::{Api, Call};
use super::error::{CliError, CliResult};
use super::output::write_stream;

/// How long a read without `--follow` waits for more before it stops: the stream sends what
/// was written so far at once, then waits for what comes.
const QUIET: Duration = Duration::from_millis(1500);
/// Times a followed stream is opened again (after the last event seen) when it breaks.
const RECONNECTS: u32 = 5;

/// Copy the log at `path` to stdout and stderr, chunk by chunk as written; with `follow`,
/// until it ends, else until it has been quiet for a moment. With `json`, print each event
/// as a line of JSON (`{"event", "id", "data"}`) instead. Returns the end event's data, when
/// it came.
///
/// # Errors
/// The server refused the stream, or it broke more than [`RECONNECTS`] times.
pub async fn read(api: &Api, path: &str, follow: bool, json: bool) -> CliResult<Option<Value>> {
    let mut last_id: Option<String> = None;
    let mut breaks = 0;
    loop {
        let mut call = Call::get(path);
        // The stream stays open while the program runs: only the connection may not hang.
        call.timeout = Duration::from_secs(30);
        if let Some(id) = &last_id {
            call = call.header("Last-Event-ID", id.clone());
        }
        let (status, _, body) = api.send(&call).await?;
        if status.as_u16() == 204 {
            return Ok(None);
        }
        let mut events = body.eventsource();
        loop {
            let next = if follow {
                events.next().await
            } else {
                match actix_web::rt::time::timeout(QUIET, events.next()).await {
                    Ok(next) => next,
                    Err(_) => return Ok(None),
                }
            };
            let event = match next {
                None => return Ok(None),
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    breaks += 1;
                    if !follow || breaks > RECONNECTS {
                        return Err(CliError::Unreachable {
                            url: api.url.clone(),
                            reason: format!("the log stream broke: {e}"),
                        });
                    }
                    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            };
            let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
            if json {
                say!(
                    "{}",
                    serde_json::json!({"event": event.event, "id": event.id, "data": data})
                );
            } else if let Value::String(chunk) = &data {
                write_stream(&event.event, chunk);
            }
            if event.id == "end" {
                return Ok(Some(data));
            }
            if !event.id.is_empty() {
                last_id = Some(event.id.clone());
            }
        }
    }
}
