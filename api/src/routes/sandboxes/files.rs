//! A sandbox's files: `PUT`, `GET`, `HEAD` and `DELETE /v1/sandboxes/{id}/files/{path}`,
//! `GET /v1/sandboxes/{id}/files?path=&recursive=`, `GET /v1/sandboxes/{id}/files/watch` and
//! `POST /v1/sandboxes/{id}/directories/{path}`,
//! on both kinds (see [`crate::files`]). A code-interpreter's are answered by the API process
//! that holds its session (moved or resumed here as a cell would be); a container's by the
//! runner that runs it, over its internal endpoint. Paths are `/workspace/…` (both kinds) or
//! `/outputs/…` (containers); in a URL, without the leading `/`
//! (`…/files/workspace/src/main.py`). A paused sandbox: 409 `sandbox_paused`.

use actix_web::{HttpRequest, web};
use sbx_core::sandbox::{SandboxKind, SandboxState, StateReason};
use sbx_sandboxes::SandboxError;

use super::sandbox_id;
use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::ApiError;
use crate::files::{self, DeleteQuery, Folders, GuestPath, ListQuery, Op, Place};

/// Where sandbox `id` of `caller`'s project has its files: here (a code-interpreter's
/// session, moved or resumed here if need be), or on the runner that runs a container.
pub(crate) async fn place(state: &AppState, caller: &Caller, id: &str) -> Result<Place, ApiError> {
    let id = sandbox_id(id)?;
    let project = caller.0.project_id;
    match state.sandboxes.interpreter_workspace(project, id).await {
        Ok(workspace) => {
            return Ok(Place::Here(Folders {
                workspace,
                outputs: None,
                owner: None,
            }));
        }
        Err(SandboxError::NotAnInterpreter) => {}
        Err(e) => return Err(e.into()),
    }
    let (url, token) = runner_of(state, project, id).await?;
    Ok(Place::Runner { url, token })
}

/// The runner endpoint of container sandbox `id` of `project`, where it runs now: its URL
/// and the token it takes. Errors: no
/// such sandbox (404); a code-interpreter (409 `not_a_container`); not running (409 with its
/// state: `sandbox_paused` when its owner paused it); a runner without an endpoint (503).
pub(crate) async fn runner_of(
    state: &AppState,
    project: sbx_core::ids::ProjectId,
    id: sbx_core::ids::SandboxId,
) -> Result<(String, String), ApiError> {
    if let Some((runner, url)) = state
        .placements
        .endpoint_of(&state.pool, project, id)
        .await?
    {
        return Ok((url, crate::runner_endpoint::token(&state.sealer, runner)));
    }
    let s = super::find(state, project, id).await?;
    if s.kind == SandboxKind::Interpreter {
        return Err(ApiError::State {
            code: crate::error::Code::NotAContainer,
            detail: "this is for container sandboxes; a code-interpreter runs cells (POST …/exec)"
                .into(),
        });
    }
    Err(not_running(&s))
}

/// Why container sandbox `s` cannot be reached on a runner now, by its state: 409
/// `sandbox_paused` (paused by its owner), `sandbox_not_running`, `sandbox_pending` or
/// `sandbox_ended`; running, its runner has no internal endpoint (503).
pub(crate) fn not_running(s: &sbx_store::sandboxes::Sandbox) -> ApiError {
    match s.state {
        SandboxState::Paused if s.state_reason == StateReason::User => SandboxError::PausedByOwner,
        SandboxState::Paused => SandboxError::not_running(s),
        SandboxState::Pending => SandboxError::Pending,
        SandboxState::Terminated | SandboxState::Failed => SandboxError::ended(s),
        SandboxState::Running => SandboxError::Unavailable(
            "the runner that runs this sandbox has no internal endpoint (SBX_RUNNER_LISTEN); it cannot be reached".into(),
        ),
    }
    .into()
}

/// Answer `op` on sandbox `id`'s files, wherever they are. Refused before the body is read
/// (a bad path, no such sandbox, a paused one): the body is drained first.
async fn serve(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    id: &str,
    body: web::Payload,
    op: Result<Op, ApiError>,
) -> Reply {
    let placed = match op {
        Ok(op) => place(state, caller, id).await.map(|p| (p, op)),
        Err(e) => Err(e),
    };
    match placed {
        Ok((place, op)) => files::answer(req, body, place, op).await,
        Err(e) => {
            crate::body::drain(body.into_inner()).await;
            Err(e)
        }
    }
}

/// Download a file: its bytes, streamed. A `Range` header (`bytes=0-1023`) is honoured (206,
/// or 416 past the end); `ETag` and `Last-Modified` are sent, and an `If-None-Match` with the
/// `ETag` answers 304. `HEAD` gives the headers alone.
#[utoipa::path(get, path = "/v1/sandboxes/{id}/files/{path}", tag = "files", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("path" = String, Path, description = "The file, below `/` (`workspace/src/main.py`)"),
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream"),
        (status = 304, description = "Unchanged since the `ETag` given"),
        (status = 404, description = "No such sandbox, or nothing at the path", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a file (`path_conflict`), or the sandbox is paused (`sandbox_paused`), starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range is past the end"),
        crate::responses::InvalidPath,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn read_file(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    at: web::Path<(String, String)>,
    body: web::Payload,
) -> Reply {
    let (id, tail) = at.into_inner();
    let op = Op::on_file(&req, &tail, false);
    serve(&state, &caller, &req, &id, body, op).await
}

/// Upload a file: the body's bytes, streamed, become the file (created with its parent
/// folders, or replaced whole: a reader sees the old file or the new one, never a mix).
#[utoipa::path(put, path = "/v1/sandboxes/{id}/files/{path}", tag = "files", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("path" = String, Path, description = "The file, below `/` (`workspace/data/train.csv`)"),
    ),
    request_body(content = String, content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 200, description = "Replaced", body = files::FileInfo),
        (status = 201, description = "Created", body = files::FileInfo),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "A folder is there or in the way (`path_conflict`), or the sandbox is paused (`sandbox_paused`), starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidPath,
        crate::responses::DiskFull,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn write_file(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    at: web::Path<(String, String)>,
    body: web::Payload,
) -> Reply {
    let (id, tail) = at.into_inner();
    let op = Op::on_file(&req, &tail, false);
    serve(&state, &caller, &req, &id, body, op).await
}

/// Delete a file, or a folder: an empty one, or with everything in it if `recursive=true`.
#[utoipa::path(delete, path = "/v1/sandboxes/{id}/files/{path}", tag = "files", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("path" = String, Path, description = "The file or folder, below `/` (`workspace/build`)"),
        DeleteQuery,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such sandbox, or nothing at the path", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A folder that is not empty without `recursive=true`, or `/workspace` itself (`path_conflict`), or the sandbox is paused (`sandbox_paused`), starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidPath,
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn delete_file(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    at: web::Path<(String, String)>,
    query: web::Query<DeleteQuery>,
    body: web::Payload,
) -> Reply {
    let (id, tail) = at.into_inner();
    let op = Op::on_file(&req, &tail, query.recursive.unwrap_or(false));
    serve(&state, &caller, &req, &id, body, op).await
}

/// List a folder: each entry's path, type, size, mode and modification time, sorted by name
/// (recursively: each folder's entries after it).
#[utoipa::path(get, path = "/v1/sandboxes/{id}/files", tag = "files", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id"), ListQuery),
    responses(
        (status = 200, description = "The entries", body = files::FileList),
        (status = 404, description = "No such sandbox, or nothing at the path", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a folder (`path_conflict`), or the sandbox is paused (`sandbox_paused`), starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidPath,
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn list_files(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
    body: web::Payload,
) -> Reply {
    let op = query.op();
    serve(&state, &caller, &req, &id, body, op).await
}

/// Follow the changes below a folder as they happen: Server-Sent Events `created`,
/// `modified` and `deleted` (`{"path", "type"}`; `type` is none once deleted), from inotify on
/// the folder's host side (what the code writes is seen as it writes it, in both kinds).
/// Repeats within 50 ms are sent once; `overflow` says some events were lost (list the folder
/// again); `end` comes when the folder goes (the sandbox paused or ended). Events are live
/// only: a reconnecting reader starts afresh. A comment is sent every 15 s while quiet.
#[utoipa::path(get, path = "/v1/sandboxes/{id}/files/watch", tag = "files", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id"), files::watch::WatchQuery),
    responses(
        (status = 200, description = "An event stream of `created`, `modified` and `deleted` (each `data` a `Change`), `overflow` (`{}`), and last `end` (`{\"reason\"}`)", content_type = "text/event-stream"),
        (status = 404, description = "No such sandbox, or nothing at the path", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a folder (`path_conflict`), or the sandbox is paused (`sandbox_paused`), starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidPath,
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        (status = 503, description = "The runner could not be reached, or too many watches are served (`unavailable`); retry", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn watch_files(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<files::watch::WatchQuery>,
    body: web::Payload,
) -> Reply {
    let op = query.op();
    serve(&state, &caller, &req, &id, body, op).await
}

/// Make a folder and the parents it lacks (`mkdir -p`).
#[utoipa::path(post, path = "/v1/sandboxes/{id}/directories/{path}", tag = "files", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The sandbox id"),
        ("path" = String, Path, description = "The folder, below `/` (`workspace/data/raw`)"),
    ),
    responses(
        (status = 200, description = "It was there already", body = files::FileInfo),
        (status = 201, description = "Made", body = files::FileInfo),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "A file is there or in the way (`path_conflict`), or the sandbox is paused (`sandbox_paused`), starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidPath,
        crate::responses::DiskFull,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn make_directory(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    at: web::Path<(String, String)>,
    body: web::Payload,
) -> Reply {
    let (id, tail) = at.into_inner();
    let op = GuestPath::parse(&format!("/{tail}"), "path").map(Op::MakeDir);
    serve(&state, &caller, &req, &id, body, op).await
}
