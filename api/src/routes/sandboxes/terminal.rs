//! A container sandbox's terminal: `GET /v1/sandboxes/{id}/pty` upgrades to a WebSocket joined
//! to one on the runner that runs the sandbox ([`crate::runner_endpoint::terminal`]), frames
//! passed both ways as they come: keystrokes never wait on the database.

use actix_web::{HttpRequest, HttpResponse, web};
use sbx_core::process::{ProcessError, ProcessInfo, ProcessList, ProcessState};

use super::files::runner_of;
use super::sandbox_id;
use crate::auth::{Ctx, Reply};
use crate::error::ApiError;
use crate::runner_endpoint::CONNECT_WAIT;
use crate::runner_endpoint::terminal::{MAX_INPUT_FRAME, OUTPUT_FRAME, TerminalQuery};

/// Open a terminal in a container sandbox: a WebSocket to a login shell (bash where the image
/// has it, else sh) in `/workspace`, `TERM=xterm-256color`.
///
/// The server's first message is a text frame `{"type":"ready","pid":N}`; then the terminal's
/// output comes as binary frames; when the shell ends, a text frame
/// `{"type":"exit","exit_code":N}` and a close. The client sends its input as binary frames
/// (at most 64 KiB each) and resizes with a text frame `{"type":"resize","cols":C,"rows":R}`;
/// a message that cannot be carried out is answered with `{"type":"error","detail":"…"}`.
/// Closing the socket leaves the shell running (it is one of the sandbox's processes, listed
/// with `"tty": true`): reattach with `?pid=N`, which sends what is kept of its output (its last
/// MiB) again first. A pause of the sandbox ends it. Authenticated by API key, or by the
/// dashboard's session cookie from its own pages (checked by `Origin`; `?project=` names the
/// project, as `X-Sbx-Project` does elsewhere).
#[utoipa::path(get, path = "/v1/sandboxes/{id}/pty", tag = "processes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id"), TerminalQuery),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol: the terminal"),
        (status = 400, description = "Not a WebSocket upgrade", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "A code-interpreter (`not_a_container`), a sandbox that is paused (`sandbox_paused`), starting or ended; `pid` exited (`process_exited`) or is not a terminal (`conflict`); 32 processes running already (`too_many_processes`)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Invalid,
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn open_terminal(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<TerminalQuery>,
    body: web::Payload,
) -> Reply {
    let query = query.into_inner();
    query.size()?;
    let id = sandbox_id(&id)?;
    let (base, token) = runner_of(&ctx.state, ctx.caller.0.project_id, id).await?;
    // The client's upgrade is checked before the runner is asked to start a shell.
    let (response, session, stream) = crate::runner_endpoint::terminal::upgrade(&req, body)?;
    let client = crate::runner_endpoint::CLIENT.with(Clone::clone);
    let sandbox = format!("{base}/internal/v1/sandboxes/{id}");
    if let Some(pid) = query.pid {
        // A WebSocket client does not read a refusal's body: the terminal is looked at first,
        // so that a wrong pid is refused with its own problem.
        if let Some(refusal) = check_terminal(&client, &sandbox, &token, pid).await? {
            return Ok(refusal);
        }
    }
    let params: Vec<String> = [
        ("pid", query.pid),
        ("cols", query.cols.map(u32::from)),
        ("rows", query.rows.map(u32::from)),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(format!("{name}={}", value?)))
    .collect();
    let runner = client
        .ws(format!("{sandbox}/pty?{}", params.join("&")))
        .bearer_auth(&token)
        .max_frame_size(2 * OUTPUT_FRAME);
    let (_, joined) = match tokio::time::timeout(CONNECT_WAIT, runner.connect()).await {
        Ok(Ok(joined)) => joined,
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            // What changed since (the sandbox paused, the terminal ended, 32 processes run),
            // asked again in plain HTTP for its problem.
            let refusal = match query.pid {
                Some(pid) => check_terminal(&client, &sandbox, &token, pid).await?,
                None => check_room(&client, &sandbox, &token).await?,
            };
            return refusal.ok_or_else(|| refused(status.as_u16(), query.pid));
        }
        Ok(Err(e)) => return Err(crate::runner_endpoint::unreachable(e)),
        Err(_) => return Err(crate::runner_endpoint::unreachable("no answer in 10 s")),
    };
    actix_web::rt::spawn(crate::websocket::relay(
        session,
        stream,
        joined,
        MAX_INPUT_FRAME,
    ));
    Ok(response)
}

/// Refuse terminal `pid` of the sandbox at `sandbox` (its runner's URL) unless it is a
/// running terminal: the runner's own problem (404, 409 with the sandbox's state) as the
/// answer, or 409 (`process_exited`, `conflict`); none when it is one.
async fn check_terminal(
    client: &awc::Client,
    sandbox: &str,
    token: &str,
    pid: u32,
) -> Result<Option<HttpResponse>, ApiError> {
    let url = format!("{sandbox}/processes/{pid}");
    let body = match ask(client, &url, token).await? {
        Ok(body) => body,
        Err(refusal) => return Ok(Some(refusal)),
    };
    let info: ProcessInfo =
        serde_json::from_slice(&body).map_err(crate::runner_endpoint::unreachable)?;
    if !info.tty {
        return Err(ProcessError::NotTerminal(pid).into());
    }
    if info.state == ProcessState::Exited {
        return Err(ProcessError::Exited(pid).into());
    }
    Ok(None)
}

/// Refuse a new terminal in the sandbox at `sandbox` when it does not run there (the runner's
/// problem as the answer) or runs 32 processes (409 `too_many_processes`); none otherwise.
async fn check_room(
    client: &awc::Client,
    sandbox: &str,
    token: &str,
) -> Result<Option<HttpResponse>, ApiError> {
    let body = match ask(client, &format!("{sandbox}/processes"), token).await? {
        Ok(body) => body,
        Err(refusal) => return Ok(Some(refusal)),
    };
    let list: ProcessList =
        serde_json::from_slice(&body).map_err(crate::runner_endpoint::unreachable)?;
    let running = list
        .processes
        .iter()
        .filter(|p| p.state == ProcessState::Running)
        .count();
    if running >= sbx_core::process::MAX_PROCESSES {
        return Err(ProcessError::TooMany.into());
    }
    Ok(None)
}

/// GET `url` from a runner (within [`CONNECT_WAIT`]): its body when it succeeded, else its
/// refusal as this API's answer. Errors: the runner could not be reached, or refused this
/// server's token.
async fn ask(
    client: &awc::Client,
    url: &str,
    token: &str,
) -> Result<Result<bytes::Bytes, HttpResponse>, ApiError> {
    let asked = async {
        let mut answer = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(crate::runner_endpoint::unreachable)?;
        let body = answer
            .body()
            .limit(256 << 10)
            .await
            .map_err(crate::runner_endpoint::unreachable)?;
        Ok::<_, ApiError>((answer.status(), body))
    };
    let (status, body) = tokio::time::timeout(CONNECT_WAIT, asked)
        .await
        .map_err(|_| crate::runner_endpoint::unreachable("no answer in 10 s"))??;
    if matches!(status.as_u16(), 401 | 403) || status.is_server_error() {
        return Err(refused(status.as_u16(), None));
    }
    if !status.is_success() {
        let refusal = HttpResponse::build(status)
            .content_type("application/problem+json")
            .body(body);
        return Ok(Err(refusal));
    }
    Ok(Ok(body))
}

/// What a runner's refusal of the upgrade means (a WebSocket client does not read its problem
/// body), by status: the sandbox stopped running there, or it runs 32 processes already.
fn refused(status: u16, pid: Option<u32>) -> ApiError {
    match (status, pid) {
        (404, Some(pid)) => ProcessError::NoSuchProcess(pid).into(),
        (409, _) => ApiError::State {
            code: crate::error::Code::Conflict,
            detail: "the runner did not open the terminal: the sandbox stopped running there, or 32 processes run in it already (GET …/processes)".into(),
        },
        (401 | 403, _) => crate::runner_endpoint::unreachable(
            "it refused this server's token: is SBX_SECRET_KEY the same on every process?",
        ),
        (s, _) => crate::runner_endpoint::unreachable(format!("it answered {s}")),
    }
}
