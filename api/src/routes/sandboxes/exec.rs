//! `POST /v1/sandboxes/{id}/exec`: code in a code-interpreter's session, or a command in a
//! container sandbox, run by the runner that holds it and answered through the database.

use actix_web::{HttpResponse, web};
use sbx_core::exec::{CellOutcome, CellSpec};
use sbx_core::ids::SandboxId;
use sbx_limits::exec::MAX_CODE_BYTES;
use sbx_limits::{CallLimits, ProjectLimits};
use sbx_sandboxes::{Call, CallOutcome, CommandCall};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::routes::exec::FileIn;

use super::sandbox_id;

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
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    /// Cap per output stream in bytes; default 1 MiB.
    #[schema(minimum = 1)]
    pub output_limit_bytes: Option<u64>,
}

/// What a sandbox call answers: a cell's outcome (`code`, in a code-interpreter) or a command's
/// (`command`, in a container). For the OpenAPI document only: the handler answers either.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum SandboxCallOutcome {
    /// A cell of a code-interpreter.
    Cell(CellOutcome),
    /// A command in a container sandbox.
    Command(sbx_core::exec::CommandOutcome),
}

/// Run code in a sandbox's persistent interpreter. A sandbox paused for idleness (or moved,
/// or paused by a restart) resumes by itself first.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/exec", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = SandboxExecRequest,
    responses(
        (status = 200, description = "The code ran (or hit a limit: see `status`): a `CellOutcome` for `code` in a code-interpreter, a `CommandOutcome` for a `command` in a container sandbox (from the runner that holds it, on whatever host)", body = SandboxCallOutcome),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "The sandbox has ended, was paused by its owner, or its snapshot cannot be restored", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Code or files over their cap", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Invalid,
        (status = 429, description = "Rate or concurrency limit (shared with the project's execs)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The runner holding the container sandbox did not answer within the command's time limit and 15 s", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn exec_in_sandbox(
    Ctx { state, caller }: Ctx,
    id: web::Path<String>,
    body: crate::body::Json<SandboxExecRequest>,
) -> Reply {
    let id = sandbox_id(&id)?;
    let call = sandbox_call(body.0, &caller.0.limits)?;
    // A client that hangs up cancels its call (the interpreter is then restarted); a
    // command goes on until its own time limit.
    let cancel = CancellationToken::new();
    let _cancel_on_drop = matches!(call, Call::Code(_)).then(|| cancel.clone().drop_guard());
    Ok(answer(run(&state, &caller, id, call, cancel).await?))
}

/// Run checked `call` in sandbox `id` of `caller`'s project, admitted against the project's
/// exec concurrency (shared with `POST /v1/exec`): what `POST …/exec` answers and the MCP
/// tools `run_cell` and `run_command` return. `cancel` stops a cell (the interpreter is then
/// restarted). Errors: no such sandbox (404), its state (409), the concurrency cap (429), the
/// runner holding it not answering (503).
pub async fn run(
    state: &AppState,
    caller: &Caller,
    id: SandboxId,
    call: Call,
    cancel: CancellationToken,
) -> Result<CallOutcome, ApiError> {
    crate::budget::within_budget(caller)?;
    let _slot = state
        .admission
        .try_acquire(caller.0.project_id, caller.0.limits.max_concurrent_execs)?;
    let outcome = state
        .sandboxes
        .exec(caller.0.project_id, id, call, cancel)
        .await?;
    metrics::counter!("sbx_sandbox_calls_total", "status" => outcome.status().as_str())
        .increment(1);
    Ok(outcome)
}

/// Call `r` checked against the project's `limits`: code for an interpreter, or a command
/// for a container. Every refusal is the request's fault (4xx, naming the field).
pub fn sandbox_call(r: SandboxExecRequest, limits: &ProjectLimits) -> Result<Call, ApiError> {
    let CallLimits {
        timeout_ms,
        output_limit_bytes,
    } = CallLimits::resolve(r.timeout_ms, r.output_limit_bytes, limits)?;
    let code = match (r.code, r.command) {
        (Some(code), None) => code,
        (None, Some(command)) => {
            if !r.files.is_empty() {
                return Err(ApiError::invalid(
                    Code::InvalidRequest,
                    "files",
                    "files are for code-interpreter calls; a container's /workspace is its own",
                ));
            }
            crate::routes::exec::check_command(&command)?;
            return Ok(Call::Command(CommandCall {
                command,
                timeout_ms,
                output_limit_bytes,
            }));
        }
        _ => {
            return Err(ApiError::invalid(
                Code::InvalidRequest,
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
            Code::InvalidRequest,
            "code",
            "code may not contain NUL characters",
        ));
    }
    let (files, _) = crate::routes::exec::input_files(r.files)?;
    Ok(Call::Code(CellSpec {
        code,
        files,
        timeout_ms,
        output_limit_bytes,
    }))
}

/// The answer to a call: its outcome as JSON.
fn answer(outcome: CallOutcome) -> HttpResponse {
    match outcome {
        CallOutcome::Code(o) => HttpResponse::Ok().json(o),
        CallOutcome::Command(o) => HttpResponse::Ok().json(o),
    }
}
