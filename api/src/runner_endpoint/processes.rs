//! The runner's side of a container sandbox's background processes (`/internal/v1/sandboxes/
//! {id}/processes…`): requests checked here, then carried out by the sandbox's
//! [`SandboxProcesses`] on this runner. The API passes `/v1/sandboxes/{id}/processes…` through
//! unchanged (see [`crate::routes::sandboxes::processes`]).

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use sbx_core::process::{
    MAX_STDIN_BYTES, ProcessEvent, ProcessList, ProcessSpec, SandboxProcesses, SignalRequest,
};

use super::Endpoint;
use crate::auth::Reply;
use crate::error::ApiError;
use crate::sse::{had_the_end, sse_event, sse_response};

/// The query of `POST …/processes/{pid}/stdin`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StdinQuery {
    /// Close the process's standard input after writing the body (it then reads end-of-file).
    pub close: Option<bool>,
}

/// The query of `GET …/processes/{pid}/logs`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Follow the output as it is written until the process ends (default `true`); `false`
    /// gives what is kept now and ends (with `end` if the process ended).
    pub follow: Option<bool>,
    /// Resume after this event id, as a `Last-Event-ID` header does (for clients that cannot
    /// send one); the later of the two counts.
    pub after: Option<u64>,
}

/// Sandbox `id`'s processes, if it runs here; else 409 `sandbox_not_running`.
pub(super) fn here(endpoint: &Endpoint, id: &str) -> Result<Box<dyn SandboxProcesses>, ApiError> {
    endpoint
        .held
        .processes(crate::routes::sandboxes::sandbox_id(id)?)
        .ok_or_else(|| sbx_core::process::ProcessError::NotRunning.into())
}

pub(super) async fn start(
    endpoint: web::Data<Endpoint>,
    id: web::Path<String>,
    body: crate::body::Json<ProcessSpec>,
) -> Reply {
    let spec = body.0;
    crate::routes::exec::check_command(&spec.command)?;
    crate::routes::exec::check_env(&spec.env)?;
    spec.check()?;
    let info = here(&endpoint, &id)?.start(spec).await?;
    Ok(HttpResponse::Created().json(info))
}

pub(super) async fn list(endpoint: web::Data<Endpoint>, id: web::Path<String>) -> Reply {
    let processes = here(&endpoint, &id)?.list();
    Ok(HttpResponse::Ok().json(ProcessList { processes }))
}

pub(super) async fn get(endpoint: web::Data<Endpoint>, at: web::Path<(String, u32)>) -> Reply {
    let (id, pid) = at.into_inner();
    Ok(HttpResponse::Ok().json(here(&endpoint, &id)?.get(pid)?))
}

pub(super) async fn logs(
    req: HttpRequest,
    endpoint: web::Data<Endpoint>,
    at: web::Path<(String, u32)>,
    query: web::Query<LogsQuery>,
) -> Reply {
    let (id, pid) = at.into_inner();
    let processes = here(&endpoint, &id)?;
    if had_the_end(&req) {
        processes.get(pid)?;
        return Ok(HttpResponse::NoContent().finish());
    }
    let after = crate::sse::last_event_id::<u64>(&req).max(query.after.unwrap_or(0));
    let events = processes.logs(pid, after, query.follow.unwrap_or(true))?;
    Ok(sse_response(events.map(|batch| Ok(encode(&batch)))))
}

/// `batch` as Server-Sent Events: `stdout`/`stderr` (the text as a JSON string, the event's
/// number as its id), `dropped` (`{"first": n}`: output before n was dropped from the ring)
/// and last `end` (the process as a JSON object, id `end`). An empty batch (nothing for a
/// while) is a comment that keeps the connection open.
fn encode(batch: &[ProcessEvent]) -> web::Bytes {
    if batch.is_empty() {
        return web::Bytes::from_static(b": keep-alive\n\n");
    }
    let mut out = Vec::new();
    for event in batch {
        out.extend_from_slice(&match event {
            ProcessEvent::Output { seq, stream, text } => {
                sse_event(&seq.to_string(), stream.as_str(), text)
            }
            ProcessEvent::Dropped { first } => sse_event(
                &(first - 1).to_string(),
                "dropped",
                &serde_json::json!({ "first": first }),
            ),
            ProcessEvent::End(info) => sse_event("end", "end", info),
        });
    }
    web::Bytes::from(out)
}

pub(super) async fn stdin(
    endpoint: web::Data<Endpoint>,
    at: web::Path<(String, u32)>,
    query: web::Query<StdinQuery>,
    mut body: web::Payload,
) -> Reply {
    let (id, pid) = at.into_inner();
    let processes = match here(&endpoint, &id) {
        Ok(p) => p,
        Err(e) => {
            crate::body::drain(body).await;
            return Err(e);
        }
    };
    let mut data = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        if data.len() + chunk.len() > MAX_STDIN_BYTES {
            crate::body::drain(body).await;
            return Err(ApiError::too_large(
                "body",
                format!("at most {MAX_STDIN_BYTES} bytes of input per request"),
            ));
        }
        data.extend_from_slice(&chunk);
    }
    processes
        .write_stdin(pid, data.freeze(), query.close.unwrap_or(false))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(super) async fn signal(
    endpoint: web::Data<Endpoint>,
    at: web::Path<(String, u32)>,
    body: crate::body::Json<SignalRequest>,
) -> Reply {
    let (id, pid) = at.into_inner();
    here(&endpoint, &id)?.signal(pid, body.0.signal).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_core::OutputStream;

    #[test]
    fn events_are_numbered_and_end_with_the_process() {
        let info: sbx_core::process::ProcessInfo = serde_json::from_value(serde_json::json!({
            "pid": 1, "tag": null, "command": ["true"], "cwd": "/workspace", "stdin": false,
            "state": "exited", "exit_code": 0, "timed_out": false,
            "started_at": "2026-12-01T00:00:00Z", "ended_at": "2026-12-01T00:00:01Z",
        }))
        .unwrap();
        let wire = encode(&[
            ProcessEvent::Dropped { first: 3 },
            ProcessEvent::Output {
                seq: 3,
                stream: OutputStream::Stderr,
                text: "a\nb".into(),
            },
            ProcessEvent::End(info),
        ]);
        let text = std::str::from_utf8(&wire).unwrap();
        assert!(text.starts_with("id: 2\nevent: dropped\ndata: {\"first\":3}\n\n"));
        assert!(text.contains("id: 3\nevent: stderr\ndata: \"a\\nb\"\n\n"));
        assert!(text.contains("id: end\nevent: end\ndata: {\"pid\":1,"));
    }
}
