//! Sandboxes: `POST /v1/sandboxes` creates one; `GET` lists and reads them; `…/pause`,
//! `…/resume`, `…/timeout` and `DELETE` move them through their states; `…/exec` runs code in
//! one. Image `code-interpreter` is a persistent Python interpreter ((`sbx_sandboxes`)).
//! Another project's sandbox is a 404, exactly as one that does not exist.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sbx_core::exec::{CellOutcome, CellSpec};
use sbx_core::ids::{CommandId, SandboxId};
use sbx_core::notes::{Note, SandboxNote};
use sbx_core::sandbox::{SandboxKind, SandboxState, StateReason};
use sbx_limits::exec::{
    DEFAULT_OUTPUT_LIMIT_BYTES, DEFAULT_TIMEOUT_MS, MAX_CODE_BYTES, MIN_MEMORY_MB,
};
use sbx_limits::sandbox::{self as rules, SandboxLimitError};
use sbx_store::sandboxes::{NewSandbox, Sandbox};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::exec::FileIn;
use crate::routes::paging;

/// The catalog name of the persistent Python interpreter.
pub const CODE_INTERPRETER: &str = "code-interpreter";
/// Sandboxes a page holds when the caller does not say.
const DEFAULT_PAGE: i64 = 50;
/// Most sandboxes a page may hold.
const MAX_PAGE: i64 = 200;

/// A GPU share.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuIn {
    /// Card model as `GET /v1/gpus` names it, or `any`.
    #[schema(example = "H100 80GB")]
    pub r#type: String,
    /// Whole cards (default 1).
    pub count: Option<u32>,
    /// Share of one card: 0.25, 0.5, 0.75 or 1.0 (default); below 1 only with `count` 1.
    pub fraction: Option<f64>,
}

/// A sandbox to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSandbox {
    /// `code-interpreter` (a persistent Python interpreter), or a container image.
    #[schema(example = "code-interpreter")]
    pub image: String,
    /// Memory limit as a quantity: `512Mi` (the interpreter's default), `2Gi`.
    #[schema(example = "512Mi")]
    pub memory: Option<String>,
    /// CPU cores (default 1).
    pub cpu: Option<f64>,
    /// A GPU share; container images only.
    pub gpu: Option<GpuIn>,
    /// Lifetime in seconds (default 3600, at most 86 400); the sandbox is terminated when it
    /// passes, running or paused. `POST …/timeout` extends it.
    pub timeout_s: Option<u64>,
    /// Pause the interpreter after this many idle seconds (default 300; 0: never). A paused
    /// interpreter resumes by itself at the next exec.
    pub idle_timeout_s: Option<u64>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A container's command (default: a keep-alive, so that `…/exec` runs commands in it).
    /// When the command exits, the sandbox ends.
    pub command: Option<Vec<String>>,
    /// Containers: a network interface besides loopback (default: none).
    pub network: Option<bool>,
    /// Credentials for a custom image's registry: kept sealed, passed to Docker, never shown.
    pub registry: Option<RegistryIn>,
}

/// Registry credentials for a custom image.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryIn {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
    /// Registry host, when not the image's own.
    pub server: Option<String>,
}

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
    /// CPU cores.
    pub cpu: f64,
    /// The GPU share.
    #[schema(value_type = Option<Object>)]
    pub gpu: Option<rules::GpuRequest>,
    /// Names of its environment variables (values are not shown).
    pub env: Vec<String>,
    /// A container's command.
    pub command: Option<Vec<String>>,
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
            cpu: f64::from(s.cpu_millis) / 1000.0,
            gpu: s.gpu,
            env: s.env_keys,
            command: s.command,
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

fn limit_error(e: SandboxLimitError) -> ApiError {
    ApiError::invalid("invalid_limit", e.field(), e.to_string())
}

/// Create a sandbox. A `code-interpreter` answers once its interpreter is running (a few
/// milliseconds).
#[utoipa::path(post, path = "/v1/sandboxes", tag = "sandboxes", security(("api_key" = [])),
    request_body = CreateSandbox,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body: the same sandbox; another body: 422")),
    responses(
        (status = 201, description = "Created: running, or for a container `pending` (no runner has room: see `waiting_for`) or `failed` (e.g. `image_pull_failed`)", body = SandboxView),
        (status = 200, description = "An earlier request with this Idempotency-Key made this sandbox", body = SandboxView),
        (status = 400, description = "The body is not JSON", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "A GPU sandbox without a KYC-verified project owner (`kyc_required`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The request asks for something invalid (`invalid_limit`, `invalid_request`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "A rate limit or the project's cap on open sandboxes", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or runner is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_sandbox(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let idempotency = crate::body::idempotency(&req, &body)?;
    if let Some((key, hash)) = &idempotency
        && let Some(existing) = replay(&state, &caller, key, hash).await?
    {
        return Ok(existing);
    }
    let r: CreateSandbox = crate::body::json(&req, &body)?;
    if r.image != CODE_INTERPRETER {
        return create_container(&state, &caller, r, idempotency).await;
    }
    if r.gpu.is_some() {
        return Err(ApiError::invalid(
            "invalid_request",
            "gpu",
            "a code-interpreter runs on CPU; GPU shares are for container images",
        ));
    }
    if r.command.is_some() || r.network.is_some() || r.registry.is_some() {
        return Err(ApiError::invalid(
            "invalid_request",
            "command",
            "command, network and registry are for container images; a code-interpreter takes \
             code through POST …/exec and has no network",
        ));
    }
    let limits = &caller.0.limits;
    let memory = match &r.memory {
        Some(q) => rules::parse_bytes("memory", q).map_err(limit_error)?,
        None => rules::DEFAULT_INTERPRETER_MEMORY.min(limits.max_memory_mb << 20),
    };
    if memory < MIN_MEMORY_MB << 20 || memory > limits.max_memory_mb << 20 {
        return Err(ApiError::invalid(
            "invalid_limit",
            "memory",
            format!(
                "memory must be from {MIN_MEMORY_MB}Mi to this project's ceiling of {}Mi",
                limits.max_memory_mb
            ),
        ));
    }
    let cpu_millis = rules::cpu_millis(r.cpu.unwrap_or(1.0)).map_err(limit_error)?;
    let timeout_s = rules::timeout_s(r.timeout_s).map_err(limit_error)?;
    let idle = r.idle_timeout_s.unwrap_or(rules::DEFAULT_IDLE_PAUSE_S);
    if idle > rules::MAX_TIMEOUT_S {
        return Err(ApiError::invalid(
            "invalid_limit",
            "idle_timeout_s",
            format!("must be at most {} seconds", rules::MAX_TIMEOUT_S),
        ));
    }
    crate::routes::exec::check_env(&r.env)?;
    open_room(&state, &caller).await?;
    let new = NewSandbox {
        sandbox_id: SandboxId::new(),
        project_id: caller.0.project_id,
        api_key_id: caller.0.api_key_id,
        image: r.image,
        kind: SandboxKind::Interpreter,
        memory_bytes: memory as i64,
        cpu_millis: cpu_millis as i32,
        gpu: None,
        env_keys: r.env.keys().cloned().collect(),
        command: None,
        timeout_s: timeout_s as i32,
        idle_pause_s: (idle > 0).then_some(idle as i32),
        idempotency: idempotency.clone(),
        network: false,
        docker_image: None,
        registry_auth: None,
        env_sealed: None,
    };
    let created = match sbx_store::sandboxes::create(&state.pool, &new).await {
        Ok(s) => s,
        Err(e) => return raced(&state, &caller, &idempotency, e).await,
    };
    let running = state
        .sandboxes
        .start(created, r.env.into_iter().collect())
        .await?;
    metrics::counter!("sbx_sandboxes_created_total", "kind" => SandboxKind::Interpreter.as_str())
        .increment(1);
    Ok(HttpResponse::Created().json(SandboxView::from(running)))
}

/// Room for one more open sandbox in the caller's project, or 429.
pub async fn open_room(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let open = sbx_store::sandboxes::open_count(&state.pool, caller.0.project_id).await?;
    let cap = state.sandboxes.config().max_open_per_project;
    if open >= cap {
        return Err(ApiError::QueueFull {
            project: true,
            detail: format!(
                "this project has {open} open sandboxes, its cap; terminate some first"
            ),
        });
    }
    Ok(())
}

/// The answer when inserting a sandbox failed with `e`: another request with the same
/// Idempotency-Key won the race (its sandbox), or the error.
async fn raced(
    state: &AppState,
    caller: &Caller,
    idempotency: &Option<(String, Vec<u8>)>,
    e: sbx_store::StoreError,
) -> Result<HttpResponse, ApiError> {
    match (e, idempotency) {
        (sbx_store::StoreError::Duplicate { .. }, Some((key, hash))) => {
            replay(state, caller, key, hash).await?.ok_or_else(|| {
                ApiError::Conflict("a request with this Idempotency-Key is in flight".into())
            })
        }
        (e, _) => Err(e.into()),
    }
}

/// Longest image reference accepted.
const MAX_IMAGE_REF: usize = 512;
/// How long `POST /v1/sandboxes` waits for a container sandbox to run before it answers with
/// the sandbox still `pending` (and why, in `waiting_for`).
const PLACEMENT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `image` as a Docker reference: a catalog entry's, or the caller's own.
fn image_reference(image: &str) -> Result<String, ApiError> {
    if let Some(c) = sbx_limits::catalog::find(image) {
        return c.image.clone().ok_or_else(|| {
            ApiError::invalid(
                "invalid_request",
                "image",
                format!("{image:?} is not a container image"),
            )
        });
    }
    let ok = !image.is_empty()
        && image.len() <= MAX_IMAGE_REF
        && image
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./:_-@".contains(&b))
        && image
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if !ok {
        return Err(ApiError::invalid(
            "invalid_request",
            "image",
            format!(
                "{image:?} is neither a catalog image (GET /v1/images) nor an image reference \
                 such as registry.example.com/team/image:tag"
            ),
        ));
    }
    Ok(image.to_owned())
}

/// Create a container sandbox: checked, queued for placement, and awaited until a runner runs
/// it (or [`PLACEMENT_WAIT`] passes: then it is answered `pending`, with the reason).
async fn create_container(
    state: &AppState,
    caller: &Caller,
    r: CreateSandbox,
    idempotency: Option<(String, Vec<u8>)>,
) -> Result<HttpResponse, ApiError> {
    let new = container_sandbox(state, caller, r, idempotency.clone())?;
    open_room(state, caller).await?;
    let created = match sbx_store::sandboxes::create(&state.pool, &new).await {
        Ok(s) => s,
        Err(e) => return raced(state, caller, &idempotency, e).await,
    };
    metrics::counter!("sbx_sandboxes_created_total", "kind" => SandboxKind::Container.as_str())
        .increment(1);
    let placed = state
        .sandboxes
        .await_placement(created, PLACEMENT_WAIT)
        .await?;
    Ok(HttpResponse::Created().json(SandboxView::from(placed)))
}

/// Container sandbox request `r` checked against the caller's project (limits, KYC for GPUs),
/// its secrets sealed: the row to insert.
pub fn container_sandbox(
    state: &AppState,
    caller: &Caller,
    r: CreateSandbox,
    idempotency: Option<(String, Vec<u8>)>,
) -> Result<NewSandbox, ApiError> {
    let docker_image = image_reference(&r.image)?;
    let catalog = sbx_limits::catalog::find(&r.image);
    let defaults = catalog.map(|c| &c.default_resources);
    let limits = &caller.0.limits;
    let memory = match r
        .memory
        .clone()
        .or_else(|| defaults.and_then(|d| d["memory"].as_str().map(str::to_owned)))
    {
        Some(q) => rules::parse_bytes("memory", &q).map_err(limit_error)?,
        None => 1 << 30,
    };
    if memory < 16 << 20 || memory > limits.max_memory_mb << 20 {
        return Err(ApiError::invalid(
            "invalid_limit",
            "memory",
            format!(
                "memory must be from 16Mi to this project's ceiling of {}Mi",
                limits.max_memory_mb
            ),
        ));
    }
    let cpu = r
        .cpu
        .or_else(|| defaults.and_then(|d| d["cpu"].as_f64()))
        .unwrap_or(1.0);
    let cpu_millis = rules::cpu_millis(cpu).map_err(limit_error)?;
    let timeout_s = rules::timeout_s(r.timeout_s).map_err(limit_error)?;
    if r.idle_timeout_s.is_some() {
        return Err(ApiError::invalid(
            "invalid_request",
            "idle_timeout_s",
            "idle pauses are for code-interpreter sandboxes",
        ));
    }
    let gpu = match &r.gpu {
        Some(g) => {
            let req = rules::GpuRequest {
                r#type: g.r#type.clone(),
                count: g.count.unwrap_or(1),
                fraction: g.fraction.unwrap_or(1.0),
            };
            req.check().map_err(limit_error)?;
            if !caller.0.kyc_verified {
                return Err(ApiError::Forbidden {
                    code: "kyc_required",
                    detail: "GPU sandboxes need the project owner's identity verified (KYC)".into(),
                });
            }
            Some(req)
        }
        None => None,
    };
    crate::routes::exec::check_env(&r.env)?;
    if let Some(cmd) = &r.command
        && (cmd.is_empty()
            || cmd.len() > sbx_limits::exec::MAX_ARGS
            || cmd.iter().any(|a| a.contains('\0')))
    {
        return Err(ApiError::invalid(
            "invalid_request",
            "command",
            "command must have 1 to 256 arguments without NUL characters",
        ));
    }
    let seal = |v: &serde_json::Value| state.sealer.seal(&serde_json::to_vec(v).expect("json"));
    Ok(NewSandbox {
        sandbox_id: SandboxId::new(),
        project_id: caller.0.project_id,
        api_key_id: caller.0.api_key_id,
        image: r.image.clone(),
        kind: SandboxKind::Container,
        memory_bytes: memory as i64,
        cpu_millis: cpu_millis as i32,
        gpu,
        env_keys: r.env.keys().cloned().collect(),
        command: r.command.clone(),
        timeout_s: timeout_s as i32,
        idle_pause_s: None,
        idempotency: idempotency.clone(),
        network: r.network.unwrap_or(false),
        docker_image: Some(docker_image),
        registry_auth: r
            .registry
            .as_ref()
            .map(|a| seal(&serde_json::to_value(a).expect("json"))),
        env_sealed: (!r.env.is_empty()).then(|| seal(&serde_json::json!(r.env))),
    })
}

async fn replay(
    state: &AppState,
    caller: &Caller,
    key: &str,
    hash: &[u8],
) -> Result<Option<HttpResponse>, ApiError> {
    match sbx_store::sandboxes::by_idempotency_key(&state.pool, caller.0.project_id, key).await? {
        None => Ok(None),
        Some((s, stored)) if stored.as_deref() == Some(hash) => {
            Ok(Some(HttpResponse::Ok().json(SandboxView::from(s))))
        }
        Some(_) => Err(ApiError::invalid(
            "idempotency_key_reused",
            "Idempotency-Key",
            "this Idempotency-Key was used with another request body",
        )),
    }
}

fn sandbox_id(id: &str) -> Result<SandboxId, ApiError> {
    SandboxId::parse(id).ok_or_else(|| ApiError::NotFound("no such sandbox".into()))
}

/// Query of `GET /v1/sandboxes`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only sandboxes in this state.
    pub state: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
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
        (status = 401, description = "Missing or invalid API key", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_sandboxes(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
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
        (status = 401, description = "Missing or invalid API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such sandbox in this project", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_sandbox(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
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
        (status = 401, description = "Missing or invalid API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such sandbox in this project", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_sandbox(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .sandboxes
        .terminate(caller.0.project_id, sandbox_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(SandboxView::from(s)))
}

/// Pause a sandbox: the interpreter's state is saved and its memory freed. It stays paused
/// until resumed (an exec does not resume it).
#[utoipa::path(post, path = "/v1/sandboxes/{id}/pause", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    responses(
        (status = 200, description = "Paused", body = SandboxView),
        (status = 401, description = "Missing or invalid API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such sandbox in this project", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has ended (`sandbox_ended`) or is starting", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn pause_sandbox(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .sandboxes
        .pause(caller.0.project_id, sandbox_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(SandboxView::from(s)))
}

/// Resume a paused sandbox from its snapshot, on this server.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/resume", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    responses(
        (status = 200, description = "Running", body = SandboxView),
        (status = 401, description = "Missing or invalid API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such sandbox in this project", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has ended, or its snapshot is missing or damaged (`snapshot_missing`, `snapshot_corrupt`: the sandbox is then failed)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume_sandbox(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .sandboxes
        .resume(caller.0.project_id, sandbox_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(SandboxView::from(s)))
}

/// A new lifetime.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutRequest {
    /// Seconds from now until the sandbox is terminated (1 to 86 400).
    pub timeout_s: u64,
}

/// Set a sandbox's timeout to end `timeout_s` from now.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/timeout", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = TimeoutRequest,
    responses(
        (status = 200, description = "The new deadline is `expires_at`", body = SandboxView),
        (status = 404, description = "No such sandbox in this project", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has ended", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "timeout_s out of range", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_timeout(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<TimeoutRequest>,
) -> Result<HttpResponse, ApiError> {
    let t = rules::timeout_s(Some(body.timeout_s)).map_err(limit_error)?;
    let s = state
        .sandboxes
        .extend(caller.0.project_id, sandbox_id(&id)?, t as i32)
        .await?;
    Ok(HttpResponse::Ok().json(SandboxView::from(s)))
}

/// Code to run in a sandbox's interpreter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxExecRequest {
    /// Code-interpreter sandboxes: Python source. Variables and imports persist between calls;
    /// when the last statement is an expression, its `repr()` comes back as `result`.
    #[schema(example = "x = 41\nx + 1")]
    pub code: Option<String>,
    /// Container sandboxes: the command to run inside, as argv (`["python3", "train.py"]`),
    /// in `/workspace`, as the sandbox user.
    pub command: Option<Vec<String>>,
    /// Code-interpreter sandboxes: files placed under `/workspace` before the code runs; they
    /// stay there.
    #[serde(default)]
    pub files: Vec<FileIn>,
    /// This call's wall-time limit in ms; default 10 000, at most the project's ceiling. A call
    /// stopped by it restarts the interpreter (`reset: true`).
    pub timeout_ms: Option<u64>,
    /// Cap per output stream in bytes; default 1 MiB.
    pub output_limit_bytes: Option<u64>,
}

/// Run code in a sandbox's persistent interpreter. A sandbox paused for idleness (or moved,
/// or paused by a restart) resumes by itself first.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/exec", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = SandboxExecRequest,
    responses(
        (status = 200, description = "The code ran (or hit a limit: see `status`). A `command` in a container sandbox answers a `CommandOutcome` instead, from the runner that holds the sandbox, on whatever host", body = CellOutcome),
        (status = 404, description = "No such sandbox in this project", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The sandbox has ended, was paused by its owner, or its snapshot cannot be restored", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Code or files over their cap", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The request asks for something invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate or concurrency limit (shared with the project's execs)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The runner holding the container sandbox did not answer within the command's time limit and 15 s", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn exec_in_sandbox(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<SandboxExecRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = sandbox_id(&id)?;
    let r = body.into_inner();
    let limits = &caller.0.limits;
    let timeout_ms = r.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if timeout_ms == 0 || timeout_ms > limits.max_timeout_ms {
        return Err(ApiError::invalid(
            "invalid_limit",
            "timeout_ms",
            format!(
                "timeout_ms must be from 1 to this project's ceiling of {}",
                limits.max_timeout_ms
            ),
        ));
    }
    let output_limit_bytes = r.output_limit_bytes.unwrap_or(DEFAULT_OUTPUT_LIMIT_BYTES);
    if output_limit_bytes == 0 || output_limit_bytes > limits.max_output_limit_bytes {
        return Err(ApiError::invalid(
            "invalid_limit",
            "output_limit_bytes",
            format!(
                "output_limit_bytes must be from 1 to this project's ceiling of {}",
                limits.max_output_limit_bytes
            ),
        ));
    }
    let _slot = state
        .admission
        .try_acquire(caller.0.project_id, limits.max_concurrent_execs)?;
    let code = match (r.code, r.command) {
        (Some(code), None) => code,
        (None, Some(command)) => {
            if !r.files.is_empty() {
                return Err(ApiError::invalid(
                    "invalid_request",
                    "files",
                    "files are for code-interpreter calls; a container's /workspace is its own",
                ));
            }
            return exec_command(&state, &caller, id, command, timeout_ms, output_limit_bytes)
                .await;
        }
        _ => {
            return Err(ApiError::invalid(
                "invalid_request",
                "code",
                "give `code` (code-interpreter sandboxes) or `command` (container sandboxes)",
            ));
        }
    };
    if code.len() > MAX_CODE_BYTES {
        return Err(ApiError::too_large(
            "code",
            format!("code is over {MAX_CODE_BYTES} bytes"),
        ));
    }
    if code.contains('\0') {
        return Err(ApiError::invalid(
            "invalid_request",
            "code",
            "code may not contain NUL characters",
        ));
    }
    let (files, _) = crate::routes::exec::input_files(r.files)?;
    // A client that hangs up cancels its call (the interpreter is then restarted).
    let cancel = CancellationToken::new();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let spec = CellSpec {
        code,
        files,
        timeout_ms,
        output_limit_bytes,
    };
    let outcome = state
        .sandboxes
        .exec(caller.0.project_id, id, spec, cancel)
        .await?;
    metrics::counter!("sbx_sandbox_calls_total", "status" => outcome.status.as_str()).increment(1);
    Ok(HttpResponse::Ok().json(outcome))
}

/// Run `command` in container sandbox `id`.
async fn exec_command(
    state: &AppState,
    caller: &Caller,
    id: SandboxId,
    command: Vec<String>,
    timeout_ms: u64,
    output_limit_bytes: u64,
) -> Result<HttpResponse, ApiError> {
    if command.is_empty()
        || command.len() > sbx_limits::exec::MAX_ARGS
        || command.iter().any(|a| a.contains('\0'))
    {
        return Err(ApiError::invalid(
            "invalid_request",
            "command",
            "command must have 1 to 256 arguments without NUL characters",
        ));
    }
    let Some(_) = sbx_store::sandboxes::container_of(&state.pool, caller.0.project_id, id).await?
    else {
        let s = sbx_store::sandboxes::get(&state.pool, caller.0.project_id, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
        return Err(if s.kind == SandboxKind::Interpreter {
            ApiError::invalid(
                "invalid_request",
                "command",
                "a code-interpreter takes `code`, not a command",
            )
        } else {
            ApiError::State {
                code: "sandbox_not_running",
                detail: format!("the sandbox is {} ({})", s.state, s.state_reason),
            }
        });
    };
    // The runner that holds the sandbox, on whatever host, runs it: through the database.
    let notes = state.notes.subscribe();
    let cmd = sbx_store::commands::submit(
        &state.pool,
        id,
        &command,
        timeout_ms as i64,
        output_limit_bytes as i64,
    )
    .await?;
    let recorded = match wait_command(state, caller, id, notes, cmd, timeout_ms).await {
        Ok(r) => r,
        Err(e) => {
            let _ = sbx_store::commands::abandon(&state.pool, cmd).await;
            return Err(e);
        }
    };
    match recorded {
        sbx_store::commands::Recorded::Ran(out) => {
            metrics::counter!("sbx_sandbox_calls_total", "status" => out.status.as_str())
                .increment(1);
            Ok(HttpResponse::Ok().json(out))
        }
        sbx_store::commands::Recorded::Error(e) => {
            // Paused or ended while the command was on its way: the container is gone.
            let s = sbx_store::sandboxes::get(&state.pool, caller.0.project_id, id).await?;
            match s {
                Some(s) if s.state != SandboxState::Running => Err(ApiError::State {
                    code: "sandbox_not_running",
                    detail: format!("the sandbox is {} ({})", s.state, s.state_reason),
                }),
                _ => Err(ApiError::Internal(format!(
                    "the command could not run: {e}"
                ))),
            }
        }
    }
}

/// Slack beyond a command's own time limit for its runner to answer.
const COMMAND_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// What came of command `cmd` in sandbox `id`, waiting for its runner's note (and looking
/// every 500 ms, in case a note was lost) at most its time limit and [`COMMAND_GRACE`]. A
/// command nobody took while the sandbox stopped running (paused, ended) is withdrawn: 409.
async fn wait_command(
    state: &AppState,
    caller: &Caller,
    id: SandboxId,
    mut notes: tokio::sync::broadcast::Receiver<sbx_store::notify::Note>,
    cmd: CommandId,
    timeout_ms: u64,
) -> Result<sbx_store::commands::Recorded, ApiError> {
    let deadline =
        tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms) + COMMAND_GRACE;
    loop {
        let noted = sbx_store::notify::next(&mut notes, |n| {
            (n == Note::Sandbox(SandboxNote::CommandDone(cmd))).then_some(())
        });
        let woken = tokio::select! {
            n = noted => n.is_some(),
            () = tokio::time::sleep(std::time::Duration::from_millis(500)) => false,
        };
        if let Some(r) = sbx_store::commands::collect(&state.pool, cmd).await? {
            return Ok(r);
        }
        if !woken
            && sbx_store::sandboxes::container_of(&state.pool, caller.0.project_id, id)
                .await?
                .is_none()
            && sbx_store::commands::withdraw(&state.pool, cmd).await?
        {
            let s = sbx_store::sandboxes::get(&state.pool, caller.0.project_id, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
            return Err(ApiError::State {
                code: "sandbox_not_running",
                detail: format!("the sandbox is {} ({})", s.state, s.state_reason),
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Unavailable(
                "the runner holding the sandbox did not answer in time".into(),
            ));
        }
    }
}

/// A container sandbox's output (its command's stdout and stderr) as Server-Sent Events:
/// what it wrote so far, over all its placements, then what it writes, until it ends (an
/// `end` event with its final state). The stream stays open while it is paused. Event ids
/// count the chunks; `Last-Event-ID` resumes after one.
#[utoipa::path(get, path = "/v1/sandboxes/{id}/logs", tag = "sandboxes", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
    ),
    responses(
        (status = 200, description = "An event stream of `stdout` and `stderr` events, then `end`", content_type = "text/event-stream"),
        (status = 204, description = "The reader already had the `end` event (`Last-Event-ID: end`): no more to come"),
        (status = 404, description = "No such sandbox in this project", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "It is not a container sandbox", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn sandbox_logs(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    use crate::routes::jobs::{
        Tail, follow_log, had_the_end, last_event_id, sse_event, sse_response,
    };
    let id = sandbox_id(&id)?;
    let project = caller.0.project_id;
    let s = sbx_store::sandboxes::get(&state.pool, project, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
    if s.kind != SandboxKind::Container {
        return Err(ApiError::State {
            code: "not_a_container",
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
                let data = serde_json::json!({"state": s.state, "reason": s.state_reason, "detail": s.state_detail})
                    .to_string();
                Tail::End(sse_event("end", "end", &data).to_vec())
            }
            Ok(Some(_)) => Tail::Open,
            _ => Tail::Gone,
        }
    });
    Ok(sse_response(stream))
}
