//! `POST /v1/sandboxes/{id}/exec`: code in a code-interpreter's session, or a command in a
//! container sandbox, run by the runner that holds it and answered through the database.

use actix_web::{HttpResponse, web};
use sbx_core::exec::{CellOutcome, CellSpec};
use sbx_core::ids::{CommandId, SandboxId};
use sbx_core::notes::{Note, SandboxNote};
use sbx_core::sandbox::{SandboxKind, SandboxState};
use sbx_limits::CallLimits;
use sbx_limits::exec::MAX_CODE_BYTES;
use sbx_store::notify::Woken;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
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
    let CallLimits {
        timeout_ms,
        output_limit_bytes,
    } = CallLimits::resolve(r.timeout_ms, r.output_limit_bytes, limits)?;
    let _slot = state
        .admission
        .try_acquire(caller.0.project_id, limits.max_concurrent_execs)?;
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
            return exec_command(&state, &caller, id, command, timeout_ms, output_limit_bytes)
                .await;
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
            Code::InvalidRequest,
            "command",
            "command must have 1 to 256 arguments without NUL characters",
        ));
    }
    let Some(_) = sbx_store::placement::container_of(&state.pool, caller.0.project_id, id).await?
    else {
        let s = sbx_store::sandboxes::get(&state.pool, caller.0.project_id, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
        return Err(if s.kind == SandboxKind::Interpreter {
            ApiError::invalid(
                Code::InvalidRequest,
                "command",
                "a code-interpreter takes `code`, not a command",
            )
        } else {
            ApiError::State {
                code: Code::SandboxNotRunning,
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
                    code: Code::SandboxNotRunning,
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
    let done = sbx_store::notify::until(
        &mut notes,
        std::time::Duration::from_millis(500),
        deadline,
        |n| *n == Note::Sandbox(SandboxNote::CommandDone(cmd)),
        |woken| async move {
            if let Some(r) = sbx_store::commands::collect(&state.pool, cmd).await? {
                return Ok(Some(r));
            }
            if woken == Woken::Poll
                && sbx_store::placement::container_of(&state.pool, caller.0.project_id, id)
                    .await?
                    .is_none()
                && sbx_store::commands::withdraw(&state.pool, cmd).await?
            {
                let s = sbx_store::sandboxes::get(&state.pool, caller.0.project_id, id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
                return Err(ApiError::State {
                    code: Code::SandboxNotRunning,
                    detail: format!("the sandbox is {} ({})", s.state, s.state_reason),
                });
            }
            Ok(None)
        },
    )
    .await?;
    done.ok_or_else(|| {
        ApiError::Unavailable("the runner holding the sandbox did not answer in time".into())
    })
}
