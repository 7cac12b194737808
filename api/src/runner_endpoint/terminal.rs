//! The runner's side of a container sandbox's terminal (`GET /internal/v1/sandboxes/{id}/pty`,
//! a WebSocket): a shell started in a terminal (or one started earlier, reattached), its output
//! sent as binary frames, binary frames from the client written to it, a JSON text message
//! resizing it. The shell is one of the sandbox's processes ([`SandboxProcesses`]): its output
//! is kept in the process's ring, so a client that reconnects with `?pid=` gets it again, and
//! closing the socket leaves the shell running. The API passes the socket through
//! ([`crate::routes::sandboxes::terminal`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, MessageStream, Session};
use futures_util::StreamExt as _;
use sbx_core::ids::SandboxId;
use sbx_core::process::{
    LogEvents, ProcessError, ProcessEvent, ProcessInfo, ProcessState, SandboxProcesses, Signal,
    TerminalSize,
};
use serde::{Deserialize, Serialize};

use super::Endpoint;
use crate::auth::Reply;

/// The largest input frame a client may send, in bytes.
pub const MAX_INPUT_FRAME: usize = 64 << 10;
/// The largest output frame the runner sends, in bytes (16 KiB: under every WebSocket
/// client's default limit).
pub const OUTPUT_FRAME: usize = 16 << 10;
/// How long a terminal may stay without a client before it is hung up (`SIGHUP`).
pub const DETACHED_FOR: Duration = Duration::from_secs(15 * 60);

/// The query of `GET …/pty`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TerminalQuery {
    /// Reattach to terminal `pid` (a shell an earlier `…/pty` started) instead of starting
    /// one: what is kept of its output (its last MiB) is sent again first.
    pub pid: Option<u32>,
    /// Columns, 1 to 1000 (default 80; reattaching, the terminal keeps its size unless given).
    #[param(minimum = 1, maximum = 1000)]
    pub cols: Option<u16>,
    /// Rows, 1 to 1000 (default 24).
    #[param(minimum = 1, maximum = 1000)]
    pub rows: Option<u16>,
    /// The project, for a browser signed in with a session cookie (its WebSocket cannot send
    /// `X-Sbx-Project`); ignored with an API key.
    pub project: Option<String>,
}

impl TerminalQuery {
    /// The size asked for, checked (a field out of range is named); none when neither is
    /// given.
    pub fn size(&self) -> Result<Option<TerminalSize>, ProcessError> {
        if self.cols.is_none() && self.rows.is_none() {
            return Ok(None);
        }
        let default = TerminalSize::default();
        TerminalSize {
            cols: self.cols.unwrap_or(default.cols),
            rows: self.rows.unwrap_or(default.rows),
        }
        .check()
        .map(Some)
    }
}

/// A text message the terminal's client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Resize the terminal.
    Resize {
        /// Columns, 1 to 1000.
        cols: u16,
        /// Rows, 1 to 1000.
        rows: u16,
    },
}

/// A text message the terminal sends its client (its output goes in binary frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first message: the terminal's process number, to reattach with `?pid=`.
    Ready {
        /// Its number among the sandbox's processes.
        pid: u32,
    },
    /// The shell ended (the last message before the close).
    Exit {
        /// Its exit code; none when the sandbox's stop ended it unrecorded.
        exit_code: Option<i64>,
    },
    /// A message was refused, or input could not be written.
    Error {
        /// What went wrong.
        detail: String,
    },
}

impl ServerMessage {
    fn json(&self) -> String {
        serde_json::to_string(self).expect("a terminal message serializes")
    }
}

/// `GET …/pty`: refused before the upgrade (problem+json) when the sandbox does not run here,
/// the size is out of range, or `pid` is not a running terminal.
pub(super) async fn pty(
    req: HttpRequest,
    endpoint: web::Data<Endpoint>,
    id: web::Path<String>,
    query: web::Query<TerminalQuery>,
    body: web::Payload,
) -> Reply {
    let size = query.size()?;
    let sandbox = crate::routes::sandboxes::sandbox_id(&id)?;
    let processes = super::processes::here(&endpoint, &id)?;
    let reattached = match query.pid {
        Some(pid) => {
            let info = processes.get(pid)?;
            if !info.tty {
                return Err(ProcessError::NotTerminal(pid).into());
            }
            if info.state == ProcessState::Exited {
                return Err(ProcessError::Exited(pid).into());
            }
            Some(info)
        }
        None => None,
    };
    // The upgrade is checked before a shell is started for it.
    let (response, session, stream) = upgrade(&req, body)?;
    let info = match reattached {
        Some(info) => {
            if let Some(size) = size {
                processes.resize(info.pid, size).await?;
            }
            info
        }
        None => processes.start_terminal(size.unwrap_or_default()).await?,
    };
    let output = processes.logs(info.pid, 0, true)?;
    let attached = Attached::new(endpoint.into_inner(), sandbox, &info);
    actix_web::rt::spawn(serve(
        processes, info.pid, session, stream, output, attached,
    ));
    Ok(response)
}

/// Accept `req`'s WebSocket upgrade: the answer that switches protocols and the socket's two
/// sides. Errors: 400 `bad_request` for a request that is not an upgrade.
pub fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(actix_web::HttpResponse, Session, MessageStream), crate::error::ApiError> {
    actix_ws::handle(req, body).map_err(|e| {
        crate::error::ApiError::BadRequest(format!(
            "this is a WebSocket: send an upgrade request ({e})"
        ))
    })
}

/// The terminals with a client now, and for how many clients: a terminal left without one
/// for [`DETACHED_FOR`] is hung up.
#[derive(Default)]
pub(super) struct Clients(std::sync::Mutex<HashMap<TerminalKey, usize>>);

/// A terminal: its sandbox, pid, and when it started (pids start again at 1 with each
/// placement of the sandbox).
type TerminalKey = (SandboxId, u32, chrono::DateTime<chrono::Utc>);

/// One client of a terminal, counted while it lives.
struct Attached {
    endpoint: Arc<Endpoint>,
    key: TerminalKey,
}

impl Attached {
    fn new(endpoint: Arc<Endpoint>, sandbox: SandboxId, info: &ProcessInfo) -> Self {
        let key = (sandbox, info.pid, info.started_at);
        *endpoint.clients.lock().entry(key).or_default() += 1;
        Self { endpoint, key }
    }
}

impl Clients {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TerminalKey, usize>> {
        self.0.lock().expect("terminal clients lock")
    }
}

impl Drop for Attached {
    /// The last client of a terminal gone: hang it up unless one comes within
    /// [`DETACHED_FOR`].
    fn drop(&mut self) {
        {
            let mut clients = self.endpoint.clients.lock();
            let Some(n) = clients.get_mut(&self.key) else {
                return;
            };
            *n -= 1;
            if *n > 0 {
                return;
            }
            clients.remove(&self.key);
        }
        let (endpoint, key) = (self.endpoint.clone(), self.key);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(DETACHED_FOR).await;
            if endpoint.clients.lock().contains_key(&key) {
                return;
            }
            let (sandbox, pid, started_at) = key;
            let Some(processes) = endpoint.held.processes(sandbox) else {
                return;
            };
            if processes
                .get(pid)
                .is_ok_and(|p| p.started_at == started_at && p.state == ProcessState::Running)
            {
                let _ = processes.signal(pid, Signal::Hup).await;
            }
        });
    }
}

/// Carry terminal `pid`'s output to the client and the client's input to it until either
/// ends or the client is silent for two pings; the shell outlives the socket (for
/// [`DETACHED_FOR`] without a client).
async fn serve(
    processes: Box<dyn SandboxProcesses>,
    pid: u32,
    mut session: Session,
    stream: MessageStream,
    mut output: LogEvents,
    _attached: Attached,
) {
    let mut input = stream
        .max_frame_size(MAX_INPUT_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_INPUT_FRAME);
    if session
        .text(ServerMessage::Ready { pid }.json())
        .await
        .is_err()
    {
        return;
    }
    let mut ping = tokio::time::interval(crate::websocket::PING_EVERY);
    ping.reset();
    let mut heard = tokio::time::Instant::now();
    let close = loop {
        tokio::select! {
            batch = output.next() => {
                let Some(batch) = batch else {
                    break None;
                };
                for event in batch {
                    match event {
                        ProcessEvent::Output { text, .. } => {
                            for frame in frames(&text) {
                                if session.binary(frame.to_owned()).await.is_err() {
                                    return;
                                }
                            }
                        }
                        ProcessEvent::Dropped { .. } => {}
                        ProcessEvent::End(info) => {
                            let exit = ServerMessage::Exit { exit_code: info.exit_code };
                            let _ = session.text(exit.json()).await;
                            let _ = session.close(Some(CloseCode::Normal.into())).await;
                            return;
                        }
                    }
                }
            }
            message = input.recv() => {
                heard = tokio::time::Instant::now();
                let reply = match message {
                    Some(Ok(AggregatedMessage::Binary(data))) => processes
                        .write_stdin(pid, data, false)
                        .await
                        .err()
                        .map(|e| e.to_string()),
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        control(&*processes, pid, &text).await
                    }
                    Some(Ok(AggregatedMessage::Ping(data))) => {
                        if session.pong(&data).await.is_err() {
                            return;
                        }
                        None
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => None,
                    Some(Ok(AggregatedMessage::Close(reason))) => break reason,
                    Some(Err(e)) => {
                        break Some(CloseReason {
                            code: CloseCode::Protocol,
                            description: Some(e.to_string()),
                        });
                    }
                    None => return,
                };
                if let Some(detail) = reply {
                    let error = ServerMessage::Error { detail };
                    if session.text(error.json()).await.is_err() {
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > 2 * crate::websocket::PING_EVERY {
                    break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("no answer to two pings".into()),
                    });
                }
                if session.ping(b"").await.is_err() {
                    return;
                }
            }
        }
    };
    let _ = session.close(close).await;
}

/// `text` cut into frames of at most [`OUTPUT_FRAME`] bytes, each whole UTF-8.
fn frames(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(OUTPUT_FRAME);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (frame, after) = rest.split_at(end);
        rest = after;
        Some(frame)
    })
}

/// Carry out a client's text message; what went wrong, if anything.
async fn control(processes: &dyn SandboxProcesses, pid: u32, text: &str) -> Option<String> {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(ClientMessage::Resize { cols, rows }) => {
            let size = match (TerminalSize { cols, rows }).check() {
                Ok(size) => size,
                Err(e) => return Some(e.to_string()),
            };
            processes
                .resize(pid, size)
                .await
                .err()
                .map(|e| e.to_string())
        }
        Err(e) => Some(format!(
            "a text message is {{\"type\":\"resize\",\"cols\":C,\"rows\":R}} ({e}); input goes in binary frames"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_their_documented_shapes() {
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"resize","cols":100,"rows":40}"#).unwrap();
        assert_eq!(
            m,
            ClientMessage::Resize {
                cols: 100,
                rows: 40
            }
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"input","data":"x"}"#).is_err());
        assert_eq!(
            ServerMessage::Ready { pid: 3 }.json(),
            r#"{"type":"ready","pid":3}"#
        );
        assert_eq!(
            ServerMessage::Exit { exit_code: None }.json(),
            r#"{"type":"exit","exit_code":null}"#
        );
    }

    #[test]
    fn output_is_cut_into_whole_utf8_frames() {
        let text = format!(
            "{}é{}",
            "a".repeat(OUTPUT_FRAME - 1),
            "b".repeat(OUTPUT_FRAME)
        );
        let cut: Vec<&str> = frames(&text).collect();
        assert!(cut.iter().all(|f| f.len() <= OUTPUT_FRAME && !f.is_empty()));
        assert_eq!(cut.concat(), text);
        assert_eq!(cut[0].len(), OUTPUT_FRAME - 1, "é is not split");
        assert_eq!(frames("").count(), 0);
    }

    #[test]
    fn the_size_is_checked_field_by_field() {
        let q = |cols, rows| TerminalQuery {
            pid: None,
            cols,
            rows,
            project: None,
        };
        assert_eq!(q(None, None).size(), Ok(None));
        assert_eq!(
            q(Some(100), None).size(),
            Ok(Some(TerminalSize {
                cols: 100,
                rows: 24
            }))
        );
        for (query, field) in [(q(Some(0), None), "cols"), (q(None, Some(1001)), "rows")] {
            match query.size() {
                Err(ProcessError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }
}
