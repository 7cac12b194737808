//! Server-Sent Events for log streams (`GET /v1/jobs/{id}/logs`, `GET /v1/sandboxes/{id}/logs`):
//! encoding an event, resuming from `Last-Event-ID`, and following a job's or a sandbox's log as
//! it is written until its owner ends.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::AppState;

/// One Server-Sent Event whose `data` is `data` as one line of JSON.
///
/// A chunk of output goes as a JSON string (`data: "10%\r50%\r"`), an event about the log's
/// owner as a JSON object. JSON escapes every line break and control character, so no output
/// can end the line or pass for a field of the event, and a reader that parses each `data` and
/// joins a stream's chunks gets exactly the bytes the program wrote (for valid UTF-8 without
/// NUL; see [`sbx_core::exec::output_text`]).
pub fn sse_event(id: &str, event: &str, data: &impl serde::Serialize) -> web::Bytes {
    let data = serde_json::to_string(data).expect("JSON of a string or a JSON value");
    web::Bytes::from(format!("id: {id}\nevent: {event}\ndata: {data}\n\n"))
}

/// Whether a reconnecting reader already had the stream's `end` event: it is answered 204,
/// which tells an EventSource to stop reconnecting.
pub fn had_the_end(req: &HttpRequest) -> bool {
    req.headers()
        .get("last-event-id")
        .is_some_and(|v| v.as_bytes() == b"end")
}

/// The `Last-Event-ID` a reconnecting log reader sends: the seq it had (0 when none, or not a
/// number).
pub fn last_event_id<T: std::str::FromStr + Default>(req: &HttpRequest) -> T {
    req.headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

/// An event stream as the answer.
pub fn sse_response(
    stream: impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream)
}

/// What a log's owner says when no chunk is new.
pub enum Tail {
    /// Still running: wait for more.
    Open,
    /// Ended: send these bytes last.
    End(Vec<u8>),
    /// Gone (deleted meanwhile): end the stream.
    Gone,
}

/// `owner`'s log after chunk `after` as Server-Sent Events (one per chunk, its seq as the
/// event id), following it as it is written, until `tail` says it ended. Runners write logs
/// before they end their owner, so a chunk read after the end is the last.
pub fn follow_log<T, F>(
    state: web::Data<AppState>,
    owner: sbx_store::logs::Owner,
    after: i32,
    tail: T,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> + 'static
where
    T: Fn(web::Data<AppState>, i32) -> F + 'static,
    F: std::future::Future<Output = Tail>,
{
    let id = owner.id();
    let notes = state.notes.subscribe();
    let tail = std::rc::Rc::new(tail);
    futures_util::stream::unfold(
        (state, after, notes, false),
        move |(state, mut seq, mut notes, done)| {
            let tail = tail.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    let chunks = match sbx_store::logs::read(&state.pool, owner, seq, 256).await {
                        Ok(c) => c,
                        Err(e) => {
                            return Some((
                                Err(actix_web::error::ErrorServiceUnavailable(e.to_string())),
                                (state, seq, notes, true),
                            ));
                        }
                    };
                    if !chunks.is_empty() {
                        let mut out = Vec::new();
                        for c in &chunks {
                            out.extend_from_slice(&sse_event(
                                &c.seq.to_string(),
                                c.stream.as_str(),
                                &c.data,
                            ));
                            seq = c.seq;
                        }
                        return Some((Ok(web::Bytes::from(out)), (state, seq, notes, false)));
                    }
                    match tail(state.clone(), seq).await {
                        Tail::Gone => return None,
                        Tail::End(last) => {
                            if let Ok(more) =
                                sbx_store::logs::read(&state.pool, owner, seq, 1).await
                                && !more.is_empty()
                            {
                                continue;
                            }
                            return Some((Ok(web::Bytes::from(last)), (state, seq, notes, true)));
                        }
                        Tail::Open => {}
                    }
                    // Wait for this owner's logs or end; poll now and then in case a note was
                    // lost, and keep idle connections open through proxies.
                    sbx_store::notify::wait(&mut notes, std::time::Duration::from_secs(1), |n| {
                        n.concerns_log_of(id)
                    })
                    .await;
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_one_json_line_that_gives_back_what_was_written() {
        let written = "50%\revent: end\r\ndata: x\nlast\u{1b}[0m\n\u{2028}";
        let e = sse_event("3", "stdout", &written);
        let e = std::str::from_utf8(&e).unwrap();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines[..2], ["id: 3", "event: stdout"]);
        assert_eq!(lines.len(), 4, "{e:?}");
        assert!(e.ends_with("\n\n") && e.matches('\n').count() == 4, "{e:?}");
        let data: String = serde_json::from_str(lines[2].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data, written);
    }
}
