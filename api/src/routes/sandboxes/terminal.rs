//! A container sandbox's terminal: `GET /v1/sandboxes/{id}/pty` upgrades to a WebSocket joined
//! to one on the runner that runs the sandbox ([`crate::runner_endpoint::terminal`]), frames
//! passed both ways as they come: keystrokes never wait on the database.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use awc::ws::Frame;
use futures_util::{SinkExt as _, StreamExt as _};
use sbx_core::process::{ProcessError, ProcessInfo, ProcessList, ProcessState};

use super::files::runner_of;
use super::sandbox_id;
use crate::auth::{Ctx, Reply};
use crate::error::ApiError;
use crate::runner_endpoint::terminal::{MAX_INPUT_FRAME, OUTPUT_FRAME, PING_EVERY, TerminalQuery};

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
    actix_web::rt::spawn(relay(session, stream, joined));
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

/// Pass frames between the client (`session`, `stream`) and the runner (`joined`) until
/// either closes, or goes silent for two pings.
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
    let (mut client_heard, mut runner_heard) =
        (tokio::time::Instant::now(), tokio::time::Instant::now());
    let close: Option<CloseReason> = loop {
        tokio::select! {
            frame = from_runner.next() => {
                runner_heard = tokio::time::Instant::now();
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
                client_heard = tokio::time::Instant::now();
                let message = match message {
                    Some(Ok(Message::Ping(data))) => {
                        if session.pong(&data).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    Some(Ok(Message::Pong(_) | Message::Nop)) => continue,
                    Some(Ok(Message::Close(reason))) => {
                        let _ = to_runner.send(Message::Close(reason.clone())).await;
                        let _ = session.close(reason).await;
                        closed_by_runner(from_runner).await;
                        return;
                    }
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        let reason = CloseReason {
                            code: CloseCode::Protocol,
                            description: Some(e.to_string()),
                        };
                        let _ = to_runner.send(Message::Close(None)).await;
                        let _ = session.close(Some(reason)).await;
                        closed_by_runner(from_runner).await;
                        return;
                    }
                    None => {
                        let _ = to_runner.send(Message::Close(None)).await;
                        closed_by_runner(from_runner).await;
                        return;
                    }
                };
                if to_runner.send(message).await.is_err() {
                    break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("the runner's connection ended".into()),
                    });
                }
            }
            _ = ping.tick() => {
                let silent = |since: tokio::time::Instant| since.elapsed() > 2 * PING_EVERY;
                if silent(client_heard) || silent(runner_heard) {
                    break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("no answer to two pings".into()),
                    });
                }
                let pinged = to_runner.send(Message::Ping(bytes::Bytes::new())).await;
                if pinged.is_err() || session.ping(b"").await.is_err() {
                    break None;
                }
            }
        }
    };
    let _ = to_runner.send(Message::Close(None)).await;
    let _ = session.close(close).await;
    closed_by_runner(from_runner).await;
}

/// Wait (at most [`CONNECT_WAIT`]) for the runner to answer the close just sent, reading what
/// it still sends: a socket closed with output unread is reset, and a reset drops what the
/// runner had received but not yet read, such as the last keys typed before the close.
async fn closed_by_runner<R>(mut from_runner: R)
where
    R: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>> + Unpin,
{
    let drained = async {
        while let Some(Ok(frame)) = from_runner.next().await {
            if matches!(frame, Frame::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CONNECT_WAIT, drained).await;
}
