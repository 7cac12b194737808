//! What the fuzz targets in `fuzz/` run (`scripts/fuzz`), and `tests/fuzz_inputs.rs` replays
//! on their seeds and on every input they ever found (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`). Built with the feature `fuzzing`.
//!
//! Each entry takes arbitrary bytes and panics only on a bug.

use futures_util::{FutureExt as _, StreamExt as _};
use sbx_core::backend::{LogChunk, LogText, OutputStream};
use sbx_core::ids::{ApiKeyId, BatchId, ProjectId};
use sbx_limits::ProjectLimits;
use sbx_store::keys::KeyOwner;
use sbx_store::seal::Sealer;

use crate::auth::Caller;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::routes;

/// Fuzz target `request_body`: a JSON request body parsed and checked the way its handler
/// does before it touches the database (`POST /v1/exec`, `/v1/batches`, `/v1/sandboxes`,
/// `/v1/jobs`, `/v1/sandboxes/{id}/exec`, `/v1/sandboxes/{id}/timeout`).
///
/// `(data[0] & 0x7f) % 6` picks the endpoint in that order, `data[0] & 0x80` whether the project's
/// owner is KYC-verified; `data[1..]` is the body. Any body may be refused, but only as the
/// caller's fault: a 4xx problem, never a panic or a 5xx.
pub fn request_body(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let caller = Caller(KeyOwner {
        api_key_id: Some(ApiKeyId(uuid::Uuid::nil())),
        user_id: None,
        project_id: ProjectId(uuid::Uuid::nil()),
        limits: ProjectLimits::default(),
        kyc_verified: which & 0x80 != 0,
        manages: true,
        over_budget: false,
    });
    let sealer = Sealer::new([7; 32]);
    let checked: Result<(), ApiError> = match (which & 0x7f) % 6 {
        0 => parse_json(body).and_then(|r| routes::exec::check(r, &caller).map(drop)),
        1 => parse_json(body)
            .and_then(|r| routes::batches::batch_jobs(r, &caller, BatchId::new()).map(drop)),
        2 => parse_json(body).and_then(|r| {
            routes::sandboxes::create::new_sandbox(&sealer, Default::default(), &caller, r, None)
                .map(drop)
        }),
        3 => parse_json(body).and_then(|v| {
            routes::jobs::job_request(&sealer, Default::default(), &caller, v, None).map(drop)
        }),
        4 => parse_json(body)
            .and_then(|r| routes::sandboxes::exec::sandbox_call(r, &caller.0.limits).map(drop)),
        _ => parse_json::<routes::sandboxes::TimeoutRequest>(body).and_then(|r| {
            sbx_limits::sandbox::timeout_s(Some(r.timeout_s))
                .map(drop)
                .map_err(ApiError::from)
        }),
    };
    if let Err(e) = checked {
        let status = actix_web::ResponseError::status_code(&e);
        assert!(status.is_client_error(), "{status} for {e:?}");
    }
}

/// Fuzz target `sse_log`: a program's output, cut into chunks as a runner reads it, turned
/// into text ([`LogText`], with what it held back at the end) and sent as Server-Sent Events ([`crate::sse::sse_event`]), read
/// back by a spec-following client (the `eventsource-stream` crate) from pieces of the wire
/// cut elsewhere.
///
/// `data` is a run of chunks, each a byte `h` (stream `h & 1`: 0 stdout, 1 stderr; length
/// `h >> 1`, 0 to 127) and up to that many bytes. The client must see one event per chunk
/// and the `end` event, each with its id and name, and joining a stream's `data` must give
/// exactly what [`sbx_core::exec::output_text`] makes of everything the stream wrote.
pub fn sse_log(data: &[u8]) {
    let streams = [OutputStream::Stdout, OutputStream::Stderr];
    let mut texts = LogText::default();
    let mut written = [Vec::new(), Vec::new()];
    let mut sent = Vec::new();
    let mut rest = data;
    while let Some((&h, tail)) = rest.split_first() {
        let (bytes, tail) = tail.split_at(usize::from(h >> 1).min(tail.len()));
        let s = usize::from(h & 1);
        written[s].extend_from_slice(bytes);
        let chunk = LogChunk {
            stream: streams[s],
            data: bytes::Bytes::copy_from_slice(bytes),
        };
        sent.push((s, texts.push(&chunk)));
        rest = tail;
    }
    for (stream, text) in texts.finish() {
        sent.push((usize::from(stream == OutputStream::Stderr), text));
    }
    let mut wire = Vec::new();
    for (i, (s, text)) in sent.iter().enumerate() {
        let event = crate::sse::sse_event(&(i + 1).to_string(), streams[*s].as_str(), text);
        wire.extend_from_slice(&event);
    }
    let end = serde_json::json!({"status": "succeeded", "exit_code": 0});
    wire.extend_from_slice(&crate::sse::sse_event("end", "end", &end));

    // The network cuts the wire where it likes: here, into pieces of 1 to 64 bytes.
    let mut pieces = Vec::new();
    let mut at = 0;
    for n in data.iter().cycle().map(|b| usize::from(b % 64) + 1) {
        if at >= wire.len() {
            break;
        }
        let to = (at + n).min(wire.len());
        pieces.push(Ok::<_, std::convert::Infallible>(wire[at..to].to_vec()));
        at = to;
    }
    if data.is_empty() {
        pieces.push(Ok(wire.clone()));
    }
    let events: Vec<_> =
        eventsource_stream::Eventsource::eventsource(futures_util::stream::iter(pieces))
            .collect::<Vec<_>>()
            .now_or_never()
            .expect("a stream of ready pieces is ready");
    assert_eq!(
        events.len(),
        sent.len() + 1,
        "one event per chunk and the end"
    );
    let mut joined = [String::new(), String::new()];
    for (i, (event, (s, text))) in events.iter().zip(&sent).enumerate() {
        let event = event.as_ref().expect("the client reads every event");
        assert_eq!(event.id, (i + 1).to_string());
        assert_eq!(event.event, streams[*s].as_str());
        let data: String = serde_json::from_str(&event.data).expect("data is a JSON string");
        assert_eq!(&data, text, "event {} gives back its chunk's text", i + 1);
        joined[*s].push_str(&data);
    }
    let last = events.last().expect("the end").as_ref().expect("read");
    assert_eq!((last.id.as_str(), last.event.as_str()), ("end", "end"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&last.data).ok(),
        Some(end)
    );
    for s in 0..2 {
        assert_eq!(
            joined[s],
            sbx_core::exec::output_text(&written[s]),
            "the {} events join to the stream's text",
            streams[s].as_str()
        );
    }
}
