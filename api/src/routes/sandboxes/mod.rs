//! Sandboxes: `POST /v1/sandboxes` creates one; `GET` lists and reads them; `…/pause`,
//! `…/resume`, `…/timeout` and `DELETE` move them through their states; `…/exec` runs code in
//! one. Image `code-interpreter` is a persistent Python interpreter ([`sbx_sandboxes`]).
//! Another project's sandbox is a 404, exactly as one that does not exist.

//!
//! # Layout
//! - this module: the views, and reading, pausing, resuming, extending, deleting a sandbox and
//!   streaming its log.
//! - [`create`]: `POST /v1/sandboxes` (both kinds) and the container request rules jobs share.
//! - [`exec`]: `POST /v1/sandboxes/{id}/exec`: code in an interpreter, a command in a container.
//! - [`files`]: `…/files/{path}` and `…/directories/{path}`: a sandbox's files, both kinds.
//! - [`fork`]: `POST /v1/sandboxes/{id}/fork`: copies of a running code-interpreter.
//! - [`metrics`]: `GET /v1/sandboxes/{id}/metrics`: CPU, memory, disk, network and cost over time.
//! - [`network`]: a container's `network`: on, off, or egress rules.
//! - [`ports`]: `…/ports/{port}/{path}`: HTTP to a server in a container sandbox.
//! - [`previews`]: `POST …/previews`: a signed URL opening a port in a browser.

pub mod create;
pub mod exec;
pub mod files;
pub mod fork;
pub mod metrics;
pub mod network;
pub mod ports;
pub mod previews;
pub mod processes;
pub mod terminal;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sbx_core::ids::SandboxId;
use sbx_core::sandbox::{SandboxKind, SandboxState, StateReason};
use sbx_limits::sandbox::{self as rules};
use sbx_store::sandboxes::Sandbox;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::routes::paging;

/// The catalog name of the persistent Python interpreter.
pub const CODE_INTERPRETER: &str = "code-interpreter";
/// Sandboxes a page holds when the caller does not say.
const DEFAULT_PAGE: i64 = 50;
/// Most sandboxes a page may hold.
const MAX_PAGE: i64 = 200;

/// A state change.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// When.
    pub at: DateTime<Utc>,
    /// The new state.
    #[schema(value_type = String)]
    pub state: SandboxState,
    /// Why: `started`, `user`, `idle`, `evicted`, `moved`, `shutdown`, `timeout`,
    /// `runner_lost`, `snapshot_corrupt`, `snapshot_missing`, …
    #[schema(value_type = String)]
    pub reason: StateReason,
    /// An account, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A sandbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxView {
    /// The id.
    pub id: SandboxId,
    /// The image.
    pub image: String,
    /// `interpreter` or `container`.
    #[schema(value_type = String)]
    pub kind: SandboxKind,
    /// `pending`, `running`, `paused`, `terminated` or `failed`.
    #[schema(value_type = String)]
    pub state: SandboxState,
    /// Why it is in its state.
    #[schema(value_type = String)]
    pub state_reason: StateReason,
    /// An account of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_detail: Option<String>,
    /// Memory limit in bytes.
    pub memory_bytes: i64,
    /// Disk cap in bytes: `/workspace` and `/tmp` (interpreters) or `/workspace` and
    /// `/outputs` (containers) together, and one file per 16 KiB of it.
    pub disk_bytes: i64,
    /// CPU cores.
    pub cpu: f64,
    /// The GPU share.
    pub gpu: Option<rules::GpuRequest>,
    /// Names of its environment variables (values are not shown).
    pub env: Vec<String>,
    /// A container's command.
    pub command: Option<Vec<String>>,
    /// A container's network: `false`, `true` or `{"allow": [...]}` (always `false` for a
    /// code-interpreter).
    pub network: network::Network,
    /// A container's declared ports, ascending (`GET …/ports` says which listen).
    #[schema(example = json!([8000]))]
    pub ports: Vec<u16>,
    /// Lifetime in seconds, as last set.
    pub timeout_s: i32,
    /// When it is terminated unless extended.
    pub expires_at: DateTime<Utc>,
    /// Idle seconds before an automatic pause, if any.
    pub idle_timeout_s: Option<i32>,
    /// Size of its snapshot while paused, in bytes.
    pub snapshot_bytes: Option<i64>,
    /// Exec calls made in it (counted within about a second).
    pub calls: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// First time running.
    pub started_at: Option<DateTime<Utc>>,
    /// Last call or state change.
    pub last_active_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why a pending sandbox is not placed yet (no runner has the CPU, memory or GPU free).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// The GPU cards and share it holds while placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub gpu_allocation: Option<serde_json::Value>,
    /// Its state changes, oldest first (on `GET /v1/sandboxes/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
}

impl From<Sandbox> for SandboxView {
    fn from(s: Sandbox) -> Self {
        Self {
            id: s.sandbox_id,
            image: s.image,
            kind: s.kind,
            state: s.state,
            state_reason: s.state_reason,
            state_detail: s.state_detail,
            memory_bytes: s.memory_bytes,
            disk_bytes: s.disk_bytes,
            cpu: f64::from(s.cpu_millis) / 1000.0,
            gpu: s.gpu,
            env: s.env_keys,
            command: s.command,
            network: network::Network::of(s.network, s.egress),
            ports: ports::declared_of(&s.ports),
            timeout_s: s.timeout_s,
            expires_at: s.expires_at,
            idle_timeout_s: s.idle_pause_s,
            snapshot_bytes: s.snapshot_bytes,
            calls: s.calls,
            created_at: s.created_at,
            started_at: s.started_at,
            last_active_at: s.last_active_at,
            ended_at: s.ended_at,
            waiting_for: s.waiting_for,
            gpu_allocation: s.gpu_alloc,
            events: None,
        }
    }
}

/// Sandbox `id` of `project`. Errors: 404 for none (or another project's).
pub(crate) async fn find(
    state: &crate::AppState,
    project: sbx_core::ids::ProjectId,
    id: SandboxId,
) -> Result<sbx_store::sandboxes::Sandbox, ApiError> {
    sbx_store::sandboxes::get(&state.pool, project, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))
}

pub(crate) fn sandbox_id(id: &str) -> Result<SandboxId, ApiError> {
    SandboxId::parse(id).ok_or_else(|| ApiError::NotFound("no such sandbox".into()))
}

/// The answer about sandbox `s`: 200 with its view.
fn view(s: sbx_store::sandboxes::Sandbox) -> Reply {
    Ok(HttpResponse::Ok().json(SandboxView::from(s)))
}

/// Query of `GET /v1/sandboxes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only sandboxes in this state.
    #[param(inline, value_type = Option<SandboxState>)]
    pub state: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// A page of sandboxes.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxPage {
    /// Newest first.
    pub data: Vec<SandboxView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The project's sandboxes, newest first.
#[utoipa::path(get, path = "/v1/sandboxes", tag = "sandboxes", security(("api_key" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of sandboxes", body = SandboxPage),
        (status = 400, description = "A bad state, limit or cursor", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unauthorized,
    ))]
pub async fn list_sandboxes(Ctx { state, caller }: Ctx, query: web::Query<ListQuery>) -> Reply {
    let q = query.into_inner();
    let wanted = match q.state.as_deref().map(str::parse::<SandboxState>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => {
            let names: Vec<&str> = SandboxState::ALL.iter().map(|s| s.as_str()).collect();
            return Err(ApiError::BadRequest(format!(
                "state must be one of {}",
                names.join(", ")
            )));
        }
    };
    let limit = paging::limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let before = paging::uuid_cursor(q.cursor.as_deref())?.map(SandboxId);
    let rows =
        sbx_store::sandboxes::list(&state.pool, caller.0.project_id, wanted, before, limit + 1)
            .await?;
    let (data, next_cursor) = paging::page(rows, limit, SandboxView::from, |s| s.id);
    Ok(HttpResponse::Ok().json(SandboxPage { data, next_cursor }))
}

/// One sandbox, with its state changes.
#[utoipa::path(get, path = "/v1/sandboxes/{id}", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    responses(
        (status = 200, description = "The sandbox", body = SandboxView),
        crate::responses::Unauthorized,
        crate::responses::NoSuchSandbox,
    ))]
pub async fn get_sandbox(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    let id = sandbox_id(&id)?;
    let s = sbx_store::sandboxes::get(&state.pool, caller.0.project_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
    let events = sbx_store::sandboxes::events(&state.pool, id).await?;
    let mut view = SandboxView::from(s);
    view.events = Some(
        events
            .into_iter()
            .map(|e| EventView {
                at: e.at,
                state: e.state,
                reason: e.reason,
                detail: e.detail,
            })
            .collect(),
    );
    Ok(HttpResponse::Ok().json(view))
}

/// Terminate a sandbox: its interpreter and snapshot are dropped.
#[utoipa::path(delete, path = "/v1/sandboxes/{id}", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    responses(
        (status = 200, description = "Terminated (or already ended): the sandbox as it is now", body = SandboxView),
        crate::responses::Unauthorized,
        crate::responses::NoSuchSandbox,
    ))]
pub async fn delete_sandbox(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    let id = sandbox_id(&id)?;
    let ended = state.sandboxes.terminate(caller.0.project_id, id).await?;
    state.placements.forget(id);
    view(ended)
}

/// Pause a sandbox: the interpreter's state is saved and its memory freed; a container's
/// `/workspace` and `/outputs` are kept and its container stopped, which stops its background
/// processes (`…/processes`): they are gone after the resume. It stays paused until resumed
/// (an exec does not resume it).
#[utoipa::path(post, path = "/v1/sandboxes/{id}/pause", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    responses(
        (status = 200, description = "Paused (a container's background processes were stopped; they are gone after the resume)", body = SandboxView),
        crate::responses::Unauthorized,
        crate::responses::NoSuchSandbox,
        (status = 409, description = "It has ended (`sandbox_ended`) or is starting", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn pause_sandbox(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    let id = sandbox_id(&id)?;
    let paused = state.sandboxes.pause(caller.0.project_id, id).await?;
    state.placements.forget(id);
    view(paused)
}

/// Resume a paused sandbox from its snapshot, on this server.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/resume", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    responses(
        (status = 200, description = "Running", body = SandboxView),
        crate::responses::Unauthorized,
        crate::responses::NoSuchSandbox,
        (status = 409, description = "It has ended, or its snapshot is missing or damaged (`snapshot_missing`, `snapshot_corrupt`: the sandbox is then failed)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume_sandbox(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    crate::budget::within_budget(&caller)?;
    view(
        state
            .sandboxes
            .resume(caller.0.project_id, sandbox_id(&id)?)
            .await?,
    )
}

/// A new lifetime.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutRequest {
    /// Seconds from now until the sandbox is terminated (1 to 86 400).
    #[schema(minimum = 1, maximum = 86_400)]
    pub timeout_s: u64,
}

/// Set a sandbox's timeout to end `timeout_s` from now.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/timeout", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = TimeoutRequest,
    responses(
        (status = 200, description = "The new deadline is `expires_at`", body = SandboxView),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "It has ended", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "timeout_s out of range", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_timeout(
    Ctx { state, caller }: Ctx,
    id: web::Path<String>,
    body: crate::body::Json<TimeoutRequest>,
) -> Reply {
    let t = rules::timeout_s(Some(body.0.timeout_s))?;
    let project = caller.0.project_id;
    view(
        state
            .sandboxes
            .extend(project, sandbox_id(&id)?, t as i32)
            .await?,
    )
}

/// A container sandbox's output (its command's stdout and stderr) as Server-Sent Events:
/// what it wrote so far, over all its placements, then what it writes, until it ends (an
/// `end` event with its final state). The stream stays open while it is paused. Event ids
/// count the chunks; `Last-Event-ID` resumes after one. Each event's `data` is one line of
/// JSON: a chunk is a JSON string (joined, a stream's chunks give exactly what was written),
/// `end`'s an object (`state`, `reason`, `detail`).
#[utoipa::path(get, path = "/v1/sandboxes/{id}/logs", tag = "sandboxes", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
    ),
    responses(
        (status = 200, description = "An event stream of `stdout` and `stderr` events (each chunk a JSON string), then `end` (a JSON object)", content_type = "text/event-stream"),
        (status = 204, description = "The reader already had the `end` event (`Last-Event-ID: end`): no more to come"),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "It is not a container sandbox", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn sandbox_logs(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
) -> Reply {
    use crate::sse::{Tail, follow_log, had_the_end, last_event_id, sse_event, sse_response};
    let id = sandbox_id(&id)?;
    let project = caller.0.project_id;
    let s = sbx_store::sandboxes::get(&state.pool, project, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
    if s.kind != SandboxKind::Container {
        return Err(ApiError::State {
            code: Code::NotAContainer,
            detail: format!(
                "logs stream from container sandboxes; this one is a {} sandbox",
                s.kind
            ),
        });
    }
    if had_the_end(&req) {
        return Ok(HttpResponse::NoContent().finish());
    }
    let after = last_event_id(&req);
    let stream = follow_log(state, id.into(), after, move |state, _| async move {
        match sbx_store::sandboxes::get(&state.pool, project, id).await {
            Ok(Some(s)) if s.state.is_ended() => {
                let data = serde_json::json!({"state": s.state, "reason": s.state_reason, "detail": s.state_detail});
                Tail::End(sse_event("end", "end", &data).to_vec())
            }
            Ok(Some(_)) => Tail::Open,
            _ => Tail::Gone,
        }
    });
    Ok(sse_response(stream))
}
