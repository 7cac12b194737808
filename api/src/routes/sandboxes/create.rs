//! `POST /v1/sandboxes`: a code-interpreter started at once, a container checked, sealed and
//! placed by a runner; the container request rules container jobs share.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use sbx_core::ids::SandboxId;
use sbx_core::sandbox::SandboxKind;

use sbx_limits::sandbox::{self as rules, KycRule, SandboxClass, SandboxRequest};
use sbx_sandboxes::SandboxError;
use sbx_store::sandboxes::NewSandbox;
use sbx_store::seal::Sealer;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};

use super::{CODE_INTERPRETER, SandboxView};

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
    /// `code-interpreter` (a persistent Python interpreter), or a container image: a catalog
    /// name (`GET /v1/images`), one of the project's templates (`name`, its newest ready
    /// version, or `name:version`; `GET /v1/templates`), or any image reference.
    #[schema(example = "code-interpreter")]
    pub image: String,
    /// Memory limit as a quantity: `512Mi` (the interpreter's default), `2Gi`.
    #[schema(example = "512Mi")]
    pub memory: Option<String>,
    /// Disk cap as a quantity, for `/workspace` with `/tmp` (interpreters, default `512Mi`)
    /// or with `/outputs` (containers, default `2Gi`), and one file per 16 KiB of it; at
    /// most the project's ceiling (`10Gi` unless set). A write past it fails inside with
    /// `ENOSPC`; a container's whole cap is set aside on its host's disk at placement.
    #[schema(example = "10Gi")]
    pub disk: Option<String>,
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
    /// Containers: `true` for a network interface with a route out, `false` (the default)
    /// for loopback only, or `{"allow": [...]}` for egress rules (see `Network`).
    pub network: Option<super::network::Network>,
    /// Credentials for a custom image's registry: kept sealed, passed to Docker, never shown.
    pub registry: Option<RegistryIn>,
    /// Containers: the ports a server will listen on, 1 to 65535, distinct, at most 16.
    /// `GET …/ports` lists them with whether something listens; calls through
    /// `…/ports/{port}/{path}` reach any port, declared or not.
    #[schema(example = json!([8000]), max_items = 16)]
    pub ports: Option<Vec<u16>>,
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

/// Create a sandbox. A `code-interpreter` answers once its interpreter is running (a few
/// milliseconds).
#[utoipa::path(post, path = "/v1/sandboxes", tag = "sandboxes", security(("api_key" = [])),
    request_body = CreateSandbox,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body: the same sandbox; another body: 422. 1 to 255 visible ASCII characters, spaces allowed inside", min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$")),
    responses(
        (status = 201, description = "Created: running, or for a container `pending` (no runner has room: see `waiting_for`) or `failed` (e.g. `image_pull_failed`)", body = SandboxView),
        (status = 200, description = "An earlier request with this Idempotency-Key made this sandbox", body = SandboxView),
        crate::responses::NotJson,
        crate::responses::Unauthorized,
        (status = 403, description = "A GPU sandbox without a KYC-verified project owner (`kyc_required`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The request asks for something invalid (`invalid_limit`, `invalid_request`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "A rate limit or the project's cap on open sandboxes", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or runner is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_sandbox(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    body: web::Bytes,
) -> Reply {
    let idempotency = crate::body::idempotency(&req, &body)?;
    if let Some((key, hash)) = &idempotency
        && let Some(existing) = replay(&state, &caller, key, hash).await?
    {
        return Ok(existing);
    }
    crate::budget::within_budget(&caller)?;
    let r: CreateSandbox = crate::body::json(&req, &body)?;
    let (mut new, env) = new_sandbox(&state.sealer, state.kyc, &caller, r, idempotency.clone())?;
    crate::routes::templates::resolve(&state.pool, &mut new).await?;
    let created = match state.sandboxes.create(&new, env).await {
        Ok(s) => s,
        Err(e) => return raced(&state, &caller, &idempotency, e).await,
    };
    metrics::counter!("sbx_sandboxes_created_total", "kind" => new.kind.as_str()).increment(1);
    Ok(HttpResponse::Created().json(SandboxView::from(created)))
}

/// Sandbox request `r` checked against the caller's project: the row to insert, and for a
/// code-interpreter its environment (a container's is sealed in the row). Never touches the
/// database: every refusal here is the request's fault (4xx).
pub fn new_sandbox(
    sealer: &Sealer,
    kyc: KycRule,
    caller: &Caller,
    r: CreateSandbox,
    idempotency: Option<(String, Vec<u8>)>,
) -> Result<(NewSandbox, Vec<(String, String)>), ApiError> {
    if r.image != CODE_INTERPRETER {
        return Ok((
            container_sandbox(sealer, kyc, caller, r, idempotency)?,
            Vec::new(),
        ));
    }
    check_kyc(kyc, caller, false)?;
    if r.gpu.is_some() {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "gpu",
            "a code-interpreter runs on CPU; GPU shares are for container images",
        ));
    }
    if r.command.is_some() || r.network.is_some() || r.registry.is_some() {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "command",
            "command, network and registry are for container images; a code-interpreter takes \
             code through POST …/exec and has no network",
        ));
    }
    if r.ports.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "ports",
            "ports are for container images; a code-interpreter runs no server",
        ));
    }
    let res = rules::resolve(
        SandboxClass::Interpreter,
        &resource_request(&r, None),
        &caller.0.limits,
    )?;
    crate::routes::exec::check_env(&r.env)?;
    let new = NewSandbox {
        sandbox_id: SandboxId::new(),
        project_id: caller.0.project_id,
        api_key_id: caller.0.api_key_id,
        image: r.image,
        kind: SandboxKind::Interpreter,
        memory_bytes: res.memory_bytes as i64,
        disk_bytes: res.disk_bytes as i64,
        cpu_millis: res.cpu_millis as i32,
        gpu: None,
        env_keys: r.env.keys().cloned().collect(),
        command: None,
        timeout_s: res.timeout_s as i32,
        idle_pause_s: res.idle_pause_s.map(|s| s as i32),
        idempotency,
        network: false,
        egress: None,
        ports: Vec::new(),
        docker_image: None,
        registry_auth: None,
        env_sealed: None,
    };
    Ok((new, r.env.into_iter().collect()))
}

/// 403 `kyc_required` when `rule` says a sandbox (with a GPU share when `gpu`) needs a
/// verified owner and `caller`'s project has none.
pub(crate) fn check_kyc(rule: KycRule, caller: &Caller, gpu: bool) -> Result<(), ApiError> {
    if rule.needs_kyc(gpu) && !caller.0.kyc_verified {
        return Err(ApiError::Forbidden {
            code: Code::KycRequired,
            detail: rule.why().into(),
        });
    }
    Ok(())
}

/// What `r` asks of its resources, with its GPU share as asked (count and fraction defaulted).
fn resource_request(r: &CreateSandbox, gpu: Option<rules::GpuRequest>) -> SandboxRequest<'_> {
    SandboxRequest {
        memory: r.memory.as_deref(),
        disk: r.disk.as_deref(),
        cpu: r.cpu,
        timeout_s: r.timeout_s,
        idle_timeout_s: r.idle_timeout_s,
        gpu,
    }
}

/// The answer when inserting a sandbox failed with `e`: another request with the same
/// Idempotency-Key won the race (its sandbox), or the error.
async fn raced(
    state: &AppState,
    caller: &Caller,
    idempotency: &Option<(String, Vec<u8>)>,
    e: SandboxError,
) -> Result<HttpResponse, ApiError> {
    match (e, idempotency) {
        (SandboxError::Store(sbx_store::StoreError::Duplicate { .. }), Some((key, hash))) => {
            replay(state, caller, key, hash)
                .await?
                .ok_or_else(crate::idempotency::in_flight)
        }
        (e, _) => Err(e.into()),
    }
}

/// Longest image reference accepted.
const MAX_IMAGE_REF: usize = 512;
/// `image` as a Docker reference: a catalog entry's, or the caller's own.
fn image_reference(image: &str) -> Result<String, ApiError> {
    if let Some(c) = sbx_limits::catalog::find(image) {
        return c.image.clone().ok_or_else(|| {
            ApiError::invalid(
                Code::InvalidRequest,
                "image",
                format!("{image:?} is not a container image"),
            )
        });
    }
    if sbx_limits::templates::is_reserved(image) {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "image",
            format!("{image:?}: name a template by its name (GET /v1/templates)"),
        ));
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
            Code::InvalidRequest,
            "image",
            format!(
                "{image:?} is neither a catalog image (GET /v1/images) nor an image reference \
                 such as registry.example.com/team/image:tag"
            ),
        ));
    }
    Ok(image.to_owned())
}

/// Container sandbox request `r` checked against the caller's project (limits, KYC for GPUs),
/// its secrets sealed: the row to insert.
pub fn container_sandbox(
    sealer: &Sealer,
    kyc: KycRule,
    caller: &Caller,
    r: CreateSandbox,
    idempotency: Option<(String, Vec<u8>)>,
) -> Result<NewSandbox, ApiError> {
    let docker_image = image_reference(&r.image)?;
    let gpu = r.gpu.as_ref().map(|g| rules::GpuRequest {
        r#type: g.r#type.clone(),
        count: g.count.unwrap_or(1),
        fraction: g.fraction.unwrap_or(1.0),
    });
    let res = rules::resolve(
        SandboxClass::Container(sbx_limits::catalog::find(&r.image)),
        &resource_request(&r, gpu),
        &caller.0.limits,
    )?;
    if r.idle_timeout_s.is_some() {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "idle_timeout_s",
            "idle pauses are for code-interpreter sandboxes",
        ));
    }
    check_kyc(kyc, caller, res.gpu.is_some())?;
    crate::routes::exec::check_env(&r.env)?;
    let (network, egress) = match &r.network {
        Some(n) => n.checked()?,
        None => (false, None),
    };
    if let Some(cmd) = &r.command {
        crate::routes::exec::check_command(cmd)?;
    }
    let ports = super::ports::declared(r.ports.as_deref().unwrap_or_default())?;
    let seal = |v: &serde_json::Value| sealer.seal(&serde_json::to_vec(v).expect("json"));
    Ok(NewSandbox {
        sandbox_id: SandboxId::new(),
        project_id: caller.0.project_id,
        api_key_id: caller.0.api_key_id,
        image: r.image.clone(),
        kind: SandboxKind::Container,
        memory_bytes: res.memory_bytes as i64,
        disk_bytes: res.disk_bytes as i64,
        cpu_millis: res.cpu_millis as i32,
        gpu: res.gpu,
        env_keys: r.env.keys().cloned().collect(),
        command: r.command.clone(),
        timeout_s: res.timeout_s as i32,
        idle_pause_s: None,
        idempotency: idempotency.clone(),
        network,
        egress,
        ports,
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
    let found =
        sbx_store::sandboxes::by_idempotency_key(&state.pool, caller.0.project_id, key).await?;
    crate::idempotency::replay(found, hash, |s| {
        HttpResponse::Ok().json(SandboxView::from(s))
    })
}
