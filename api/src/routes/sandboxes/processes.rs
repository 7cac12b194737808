//! A container sandbox's background processes: `POST /v1/sandboxes/{id}/processes` starts one
//! and answers at once; list, get, follow its output (SSE, resumable with `Last-Event-ID`),
//! write its input, signal it. They live on the runner that runs the sandbox: each request is
//! passed through to that runner's internal endpoint ([`crate::runner_endpoint`]) and its
//! answer back, streamed. A pause stops them (they are gone after resume); a terminate kills
//! them. The synchronous `POST …/exec` stays for commands whose result is awaited.

use actix_web::{HttpRequest, web};

use super::files::runner_of;
use super::sandbox_id;
use crate::auth::{Ctx, Reply};
use crate::runner_endpoint::{LogsQuery, StdinQuery};

/// Pass `req` on sandbox `id` through to the runner that runs it. Refused before the body is
/// read (no such sandbox, not a running container): the body is drained first.
async fn relay(ctx: &Ctx, req: &HttpRequest, id: &str, body: web::Payload) -> Reply {
    let placed = match sandbox_id(id) {
        Ok(id) => runner_of(&ctx.state, ctx.caller.0.project_id, id).await,
        Err(e) => Err(e),
    };
    match placed {
        Ok((url, token)) => crate::runner_endpoint::forward(req, body, &url, &token).await,
        Err(e) => {
            crate::body::drain(body.into_inner()).await;
            Err(e)
        }
    }
}

/// Start a background process in a container sandbox. It answers as soon as the process runs,
/// with its `pid` (sbx's number in this sandbox); follow its output with `GET
/// …/processes/{pid}/logs`. A pause of the sandbox stops its processes: they are gone after
/// it resumes.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/processes", tag = "processes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = sbx_core::process::ProcessSpec,
    responses(
        (status = 201, description = "It runs", body = sbx_core::process::ProcessInfo),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "A code-interpreter (`not_a_container`), a sandbox that is paused (`sandbox_paused`), starting or ended, or 32 processes running already (`too_many_processes`)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::NotJson,
        crate::responses::Invalid,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn start_process(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> Reply {
    relay(&ctx, &req, &id, body).await
}

/// List a container sandbox's processes (running and ended, the last 32), by `pid`.
#[utoipa::path(get, path = "/v1/sandboxes/{id}/processes", tag = "processes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    responses(
        (status = 200, description = "The processes", body = sbx_core::process::ProcessList),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "A code-interpreter (`not_a_container`), or a sandbox that is paused, starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn list_processes(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> Reply {
    relay(&ctx, &req, &id, body).await
}

/// One process: its state, exit code and times.
#[utoipa::path(get, path = "/v1/sandboxes/{id}/processes/{pid}", tag = "processes", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("pid" = u32, Path, description = "The process's number in the sandbox"),
    ),
    responses(
        (status = 200, description = "The process", body = sbx_core::process::ProcessInfo),
        (status = 404, description = "No such sandbox, or no such process (processes are gone after a pause)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A code-interpreter (`not_a_container`), or a sandbox that is paused, starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn get_process(
    ctx: Ctx,
    req: HttpRequest,
    at: web::Path<(String, u32)>,
    body: web::Payload,
) -> Reply {
    relay(&ctx, &req, &at.0, body).await
}

/// Follow a process's output: `stdout` and `stderr` events (each chunk a JSON string, its
/// number the event id) from the start of what is kept (the last 1 MiB), then as it is
/// written, and last `end` (the process, a JSON object). A reader that reconnects with
/// `Last-Event-ID` gets what came after; output dropped from the ring before it was read is
/// announced by a `dropped` event (`{"first": n}`). After `end`, a reconnect is answered 204.
/// With `follow=false`, what is kept now, then the stream ends (with `end` if it exited).
#[utoipa::path(get, path = "/v1/sandboxes/{id}/processes/{pid}/logs", tag = "processes", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("pid" = u32, Path, description = "The process's number in the sandbox"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last event id read: resume after it"),
        LogsQuery,
    ),
    responses(
        (status = 200, description = "An event stream of `stdout`, `stderr` and `dropped` events, then `end`", content_type = "text/event-stream"),
        (status = 204, description = "The reader had the `end` event already"),
        (status = 404, description = "No such sandbox, or no such process", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A code-interpreter (`not_a_container`), or a sandbox that is paused, starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn process_logs(
    ctx: Ctx,
    req: HttpRequest,
    at: web::Path<(String, u32)>,
    _query: web::Query<LogsQuery>,
    body: web::Payload,
) -> Reply {
    relay(&ctx, &req, &at.0, body).await
}

/// Write the body's bytes (at most 1 MiB) to a process's standard input; with `close=true`,
/// close it afterwards. The process must have been started with `stdin: true`.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/processes/{pid}/stdin", tag = "processes", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("pid" = u32, Path, description = "The process's number in the sandbox"),
        StdinQuery,
    ),
    request_body(content = String, content_type = "application/octet-stream", description = "The bytes to write"),
    responses(
        (status = 204, description = "Written"),
        (status = 404, description = "No such sandbox, or no such process", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The process exited (`process_exited`), its input is not open (`stdin_closed`), a code-interpreter (`not_a_container`), or a sandbox that is paused, starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 1 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn write_stdin(
    ctx: Ctx,
    req: HttpRequest,
    at: web::Path<(String, u32)>,
    _query: web::Query<StdinQuery>,
    body: web::Payload,
) -> Reply {
    relay(&ctx, &req, &at.0, body).await
}

/// Send a signal (`TERM`, `KILL`, `INT`, `HUP`) to a process and every process it started.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/processes/{pid}/signal", tag = "processes", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("pid" = u32, Path, description = "The process's number in the sandbox"),
    ),
    request_body = sbx_core::process::SignalRequest,
    responses(
        (status = 204, description = "Sent"),
        (status = 404, description = "No such sandbox, or no such process", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The process exited (`process_exited`), a code-interpreter (`not_a_container`), or a sandbox that is paused, starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::NotJson,
        crate::responses::Invalid,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn signal_process(
    ctx: Ctx,
    req: HttpRequest,
    at: web::Path<(String, u32)>,
    body: web::Payload,
) -> Reply {
    relay(&ctx, &req, &at.0, body).await
}
