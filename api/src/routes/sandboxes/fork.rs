//! `POST /v1/sandboxes/{id}/fork`: copies of a running code-interpreter sandbox, each with the
//! same variables, imports and files, independent and billed on its own (see
//! `sbx_sandboxes::fork`).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use sbx_store::sandboxes::Sandbox;

use super::SandboxView;
use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};

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
    /// The new sandboxes, running.
    pub data: Vec<SandboxView>,
}

/// Fork a running code-interpreter sandbox into `count` new ones, from one snapshot of its live
/// interpreter (the source keeps running). The copies take the source's configuration and
/// timeout, and count against the project's open sandboxes.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/fork", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = ForkRequest,
    responses(
        (status = 201, description = "The copies, running", body = ForkList),
        crate::responses::NoSuchSandbox,
        (status = 402, description = "The project's monthly budget is spent (`budget_exceeded`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The KYC rule needs a verified owner (`kyc_required`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A container sandbox (`not_an_interpreter`), or one that is not running (`sandbox_not_running`) or has ended (`sandbox_ended`)", body = crate::error::Problem, content_type = "application/problem+json"),
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
    super::create::check_kyc(state.kyc, caller, false)?;
    let made = state
        .sandboxes
        .fork(
            caller.0.project_id,
            super::sandbox_id(id)?,
            count as usize,
            caller.0.api_key_id,
        )
        .await
        .map_err(|e| match e {
            sbx_sandboxes::SandboxError::NotAnInterpreter => ApiError::State {
                code: Code::NotAnInterpreter,
                detail: "only code-interpreter sandboxes fork; this one is a container".into(),
            },
            e => e.into(),
        })?;
    metrics::counter!("sbx_sandboxes_created_total", "kind" => "code-interpreter")
        .increment(made.len() as u64);
    Ok(made)
}
