//! A container sandbox's terminal: `GET /v1/sandboxes/{id}/pty` upgrades to a WebSocket joined
//! to one on the runner that runs the sandbox ([`crate::runner_endpoint::terminal`]), frames
//! passed both ways as they come: keystrokes never wait on the database.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use awc::ws::Frame;
use futures_util::{SinkExt as _, StreamExt as _};
use sbx_core::process::{ProcessError, ProcessInfo, ProcessState};

use super::files::runner_of;
use super::sandbox_id;
use crate::auth::{Ctx, Reply};
use crate::error::ApiError;
use crate::runner_endpoint::terminal::{
    MAX_INPUT_FRAME, MAX_OUTPUT_FRAME, PING_EVERY, TerminalQuery,
};

/// How long joining the runner's socket may take.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

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
        let url = format!("{sandbox}/processes/{pid}");
        if let Some(refusal) = check_terminal(&client, &url, &token, pid).await? {
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
        .max_frame_size(MAX_OUTPUT_FRAME);
    let (_, joined) = match tokio::time::timeout(CONNECT_WAIT, runner.connect()).await {
        Ok(Ok(joined)) => joined,
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            return Err(refused(status.as_u16(), query.pid));
        }
        Ok(Err(e)) => return Err(crate::runner_endpoint::unreachable(e)),
        Err(_) => return Err(crate::runner_endpoint::unreachable("no answer in 10 s")),
    };
    actix_web::rt::spawn(relay(session, stream, joined));
    Ok(response)
}

/// Refuse terminal `pid` unless it is a running terminal: the runner's own problem (404, 409
/// with the sandbox's state) passed back as the answer, or 409 (`process_exited`,
/// `conflict`).
async fn check_terminal(
    client: &awc::Client,
    url: &str,
    token: &str,
    pid: u32,
) -> Result<Option<HttpResponse>, ApiError> {
    let mut answer = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(crate::runner_endpoint::unreachable)?;
    let body = answer
        .body()
        .limit(64 << 10)
        .await
        .map_err(crate::runner_endpoint::unreachable)?;
    let status = answer.status();
    if matches!(status.as_u16(), 401 | 403) || status.is_server_error() {
        return Err(refused(status.as_u16(), Some(pid)));
    }
    if !status.is_success() {
        return Ok(Some(
            HttpResponse::build(status)
                .content_type("application/problem+json")
                .body(body),
        ));
    }
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

/// Pass frames between the client (`session`, `stream`) and the runner (`joined`) until
/// either closes.
async fn relay<J>(mut session: Session, stream: MessageStream, joined: J)
where
    J: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<Message>
        + Unpin,
{
    let mut client = stream.max_frame_size(MAX_INPUT_FRAME);
    let (mut to_runner, mut from_runner) = joined.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let close: Option<CloseReason> = loop {
        tokio::select! {
            frame = from_runner.next() => {
                let sent = match frame {
                    Some(Ok(Frame::Binary(data))) => session.binary(data).await,
                    Some(Ok(Frame::Text(data))) => match String::from_utf8(data.to_vec()) {
                        Ok(text) => session.text(text).await,
                        Err(_) => break Some(CloseCode::Invalid.into()),
                    },
                    Some(Ok(Frame::Continuation(item))) => session.continuation(item).await,
                    Some(Ok(Frame::Ping(data))) => {
                        let _ = to_runner.send(Message::Pong(data)).await;
                        Ok(())
                    }
                    Some(Ok(Frame::Pong(_))) => Ok(()),
                    Some(Ok(Frame::Close(reason))) => break reason,
                    Some(Err(_)) | None => break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("the runner's connection ended".into()),
                    }),
                };
                if sent.is_err() {
                    let _ = to_runner.send(Message::Close(None)).await;
                    return;
                }
            }
            message = client.recv() => {
                let message = match message {
                    Some(Ok(Message::Ping(data))) => {
                        if session.pong(&data).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    Some(Ok(Message::Pong(_) | Message::Nop)) => continue,
                    Some(Ok(m)) => m,
                    Some(Err(e)) => Message::Close(Some(CloseReason {
                        code: CloseCode::Protocol,
                        description: Some(e.to_string()),
                    })),
                    None => Message::Close(None),
                };
                let closing = matches!(message, Message::Close(_));
                if to_runner.send(message).await.is_err() || closing {
                    return;
                }
            }
            _ = ping.tick() => {
                if session.ping(b"").await.is_err() {
                    break None;
                }
            }
        }
    };
    let _ = to_runner.send(Message::Close(None)).await;
    let _ = session.close(close).await;
}
