//! `POST /v1/sandboxes/{id}/fork`: copies of a running sandbox, each independent and billed on
//! its own: a code-interpreter's with the same variables, imports and files, from its live
//! memory (see `sbx_sandboxes::fork`); a container's with the same `/workspace` and `/outputs`,
//! copied by the runner that runs it (`runner::container::host::forks`), its processes started
//! afresh.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use sbx_core::ids::SandboxId;
use sbx_core::sandbox::{SandboxKind, SandboxState};
use sbx_store::sandboxes::Sandbox;

use super::SandboxView;
use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::runner_endpoint::{ForkCall, Forked};

/// A fork request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkRequest {
    /// How many copies, 1 to 16; default 1.
    #[schema(minimum = 1, maximum = 16, example = 4)]
    pub count: Option<u32>,
}

/// The copies.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForkList {
    /// The new sandboxes, running (a container's copy that no runner had room for yet is
    /// `pending`, with `waiting_for`).
    pub data: Vec<SandboxView>,
}

/// Fork a running sandbox into `count` new ones; the source keeps running. A code-interpreter's
/// copies are made from its live interpreter's memory (variables, imports, files). A
/// container's copies get a copy of its `/workspace` and `/outputs` (its disk frozen for the
/// copy: its writes wait meanwhile, for milliseconds per copy with a sparse or reflinked copy)
/// and start its command afresh: processes and memory are not copied. The copies take the
/// source's configuration and timeout, and count against the project's open sandboxes.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/fork", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = ForkRequest,
    responses(
        (status = 201, description = "The copies, running", body = ForkList),
        crate::responses::NoSuchSandbox,
        (status = 402, description = "The project's monthly budget is spent (`budget_exceeded`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The KYC rule needs a verified owner (`kyc_required`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A sandbox that is not running (`sandbox_not_running`, `sandbox_paused`, `sandbox_pending`) or has ended (`sandbox_ended`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`count` is not 1 to 16 (`invalid_request`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The project would have more open sandboxes than its cap (`project_queue_full`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The session kept moving between processes, or its holder did not answer: retry (`unavailable`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn fork_sandbox(
    Ctx { state, caller }: Ctx,
    id: web::Path<String>,
    body: crate::body::Json<ForkRequest>,
) -> Reply {
    let made = run(&state, &caller, &id, body.0.count).await?;
    Ok(HttpResponse::Created().json(ForkList {
        data: made.into_iter().map(SandboxView::from).collect(),
    }))
}

/// Fork sandbox `id` of `caller`'s project into `count` copies (default 1), with the checks
/// `POST /v1/sandboxes/{id}/fork` makes (count, budget, KYC): the copies, running. The MCP
/// tool `fork_sandbox` runs the same.
///
/// # Errors
/// As the route documents.
pub async fn run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    count: Option<u32>,
) -> Result<Vec<Sandbox>, ApiError> {
    let count = count.unwrap_or(1);
    let max = sbx_sandboxes::fork::MAX_FORKS;
    if count == 0 || count as usize > max {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "count",
            format!("count is 1 to {max}"),
        ));
    }
    crate::budget::within_budget(caller)?;
    let project = caller.0.project_id;
    let id = super::sandbox_id(id)?;
    let source = sbx_store::sandboxes::get(&state.pool, project, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
    super::create::check_kyc(state.kyc, caller, source.gpu.is_some())?;
    let (made, kind) = if source.kind == SandboxKind::Container {
        let made = fork_container(state, caller, source, count as usize).await?;
        (made, "container")
    } else {
        let made = state
            .sandboxes
            .fork(&source, count as usize, caller.0.api_key_id)
            .await?;
        (made, "code-interpreter")
    };
    metrics::counter!("sbx_sandboxes_created_total", "kind" => kind).increment(made.len() as u64);
    Ok(made)
}

/// Fork running container sandbox `source` into `count` copies: made `pending` by the runner
/// that runs it (which copies its folders), then each waited for until a runner runs it (as a
/// create waits).
async fn fork_container(
    state: &AppState,
    caller: &Caller,
    source: Sandbox,
    count: usize,
) -> Result<Vec<Sandbox>, ApiError> {
    let project = caller.0.project_id;
    if source.state != SandboxState::Running {
        return Err(super::files::not_running(&source));
    }
    state.sandboxes.room_for(project, count).await?;
    let (base, token) = super::files::runner_of(state, project, source.sandbox_id).await?;
    let call = ForkCall {
        count,
        api_key_id: caller.0.api_key_id.map(|k| k.0),
    };
    let body = serde_json::to_vec(&call).map_err(|e| ApiError::Internal(e.to_string()))?;
    let answer = crate::runner_endpoint::call_whole(
        actix_web::http::Method::POST,
        &base,
        &format!("/v1/sandboxes/{}/fork", source.sandbox_id),
        &token,
        Some(("application/json", body.into())),
        1 << 20,
    )
    .await?;
    if !answer.status.is_success() {
        // Paused, ended or moved since it was looked up: said as the sandbox is now.
        let now = sbx_store::sandboxes::get(&state.pool, project, source.sandbox_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
        if now.state != SandboxState::Running {
            return Err(super::files::not_running(&now));
        }
        let said = String::from_utf8_lossy(&answer.body);
        return Err(match answer.status.as_u16() {
            409 => crate::runner_endpoint::unreachable(
                "the sandbox moved to another runner meanwhile; retry",
            ),
            503 => crate::runner_endpoint::unreachable(format!("its runner is busy: {said}")),
            s => ApiError::Internal(format!("its runner could not fork it ({s}): {said}")),
        });
    }
    let forked: Forked =
        serde_json::from_slice(&answer.body).map_err(crate::runner_endpoint::unreachable)?;
    let host = state.sandboxes.host(SandboxKind::Container);
    let waits = forked.ids.into_iter().map(|copy| async move {
        let s = sbx_store::sandboxes::get(&state.pool, project, SandboxId(copy))
            .await?
            .ok_or_else(|| ApiError::NotFound("a copy was deleted meanwhile".into()))?;
        Ok::<_, ApiError>(host.start(s, Vec::new()).await?)
    });
    // Every wait ends (the copies are sandboxes already, whatever one wait meets); the first
    // error, if any, is the answer.
    futures_util::future::join_all(waits)
        .await
        .into_iter()
        .collect()
}
