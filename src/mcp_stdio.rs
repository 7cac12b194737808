//! `sbx mcp`: the MCP server of an sbx deployment for clients that start their servers as
//! programs and speak over standard input and output (the MCP stdio transport). Each
//! newline-delimited JSON-RPC message read from stdin is POSTed to the server's `/mcp`
//! (Streamable HTTP, with the API key, the session id and the negotiated protocol version);
//! what comes back, a JSON body or an event stream of messages, is written to stdout, one
//! message per line. Messages are forwarded as they come, so a `notifications/cancelled` reaches
//! the server while the call it cancels runs; only `initialize` is awaited first, since its
//! answer carries the session id.
//!
//! The server sends nothing unasked (its tools neither sample nor elicit), so the standalone
//! `GET` stream is not opened. An HTTP failure of a request (a refused key, no server) answers
//! that request with a JSON-RPC error carrying the reason; the bridge itself stops only when
//! stdin ends (it then closes the session with `DELETE`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use awc::http::StatusCode;
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

/// Most bytes of one JSON answer read into memory (tool results carry images as base64).
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// The MCP session the bridge holds with the server.
#[derive(Default)]
struct Session {
    /// `Mcp-Session-Id`, from the answer to `initialize`.
    id: Option<String>,
    /// `MCP-Protocol-Version`, from the answer to `initialize`.
    protocol: Option<String>,
}

/// One server, one key, one session; lines to stdout go through `out`.
struct Bridge {
    client: awc::Client,
    endpoint: String,
    key: String,
    session: RefCell<Session>,
    out: mpsc::UnboundedSender<String>,
}

/// Forward stdin to `url`'s `/mcp` with API key `key`, and the answers to stdout, until stdin
/// ends. Errors: stdin or stdout failing (a server failing answers its requests instead).
pub async fn run(url: &str, key: String) -> std::io::Result<()> {
    let (out, mut lines) = mpsc::unbounded_channel::<String>();
    let writer = actix_web::rt::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = lines.recv().await {
            stdout.write_all(line.as_bytes()).await?;
            stdout.write_all(b"\n").await?;
            stdout.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let bridge = Rc::new(Bridge {
        client: awc::Client::builder().disable_timeout().finish(),
        endpoint: format!("{}/mcp", url.trim_end_matches('/')),
        key,
        session: RefCell::default(),
        out,
    });
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut calls = Vec::new();
    while let Some(line) = stdin.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                bridge.answer(rpc_error(&Value::Null, -32700, format!("not JSON: {e}")));
                continue;
            }
        };
        let forward = bridge.clone().forward(message.clone());
        if message["method"] == "initialize" {
            forward.await;
        } else {
            calls.push(actix_web::rt::spawn(forward));
        }
        calls.retain(|c| !c.is_finished());
    }
    for call in calls {
        let _ = call.await;
    }
    bridge.close().await;
    drop(bridge);
    writer.await.map_err(std::io::Error::other)?
}

impl Bridge {
    /// Write `message` to stdout as one line.
    fn answer(&self, message: Value) {
        let _ = self.out.send(message.to_string());
    }

    /// A POST or DELETE to the endpoint with the key and the session's headers; `version`,
    /// the protocol version a message names itself, before the session's.
    fn request(&self, method: awc::http::Method, version: Option<&str>) -> awc::ClientRequest {
        let mut req = self
            .client
            .request(method, &self.endpoint)
            .bearer_auth(&self.key)
            .insert_header(("Accept", "application/json, text/event-stream"));
        let session = self.session.borrow();
        if let Some(id) = &session.id {
            req = req.insert_header(("Mcp-Session-Id", id.as_str()));
        }
        if let Some(v) = version.or(session.protocol.as_deref()) {
            req = req.insert_header(("MCP-Protocol-Version", v));
        }
        req
    }

    /// POST `message` and write what answers it; an HTTP failure answers it with an error.
    async fn forward(self: Rc<Self>, message: Value) {
        if let Err(why) = self.exchange(&message).await {
            // Notifications and answers to the server have no id and get no answer.
            if message.get("id").is_some() && message.get("method").is_some() {
                self.answer(rpc_error(&message["id"], -32603, why));
            } else {
                eprintln!("sbx mcp: {why}");
            }
        }
    }

    async fn exchange(&self, message: &Value) -> Result<(), String> {
        let mut req = self.request(awc::http::Method::POST, protocol_version(message));
        // Sessionless (2026-07-28 and later) servers route and check messages by these
        // headers, which an HTTP client sends and a stdio client cannot.
        if let Some(method) = message["method"].as_str() {
            req = req.insert_header(("Mcp-Method", method));
            let name = match method {
                "tools/call" | "prompts/get" => message["params"]["name"].as_str(),
                "resources/read" => message["params"]["uri"].as_str(),
                _ => None,
            };
            if let Some(name) = name.filter(|n| n.bytes().all(|b| (b' '..=b'~').contains(&b))) {
                req = req.insert_header(("Mcp-Name", name));
            }
        }
        let mut res = req
            .send_json(message)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.endpoint))?;
        let status = res.status();
        if status == StatusCode::ACCEPTED {
            return Ok(());
        }
        let is_events = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if message["method"] == "initialize" {
            let id = res.headers().get("mcp-session-id");
            self.session.borrow_mut().id = id.and_then(|v| v.to_str().ok()).map(str::to_owned);
        }
        if !status.is_success() {
            let body = res.body().limit(1 << 20).await.unwrap_or_default();
            return Err(refusal(status, &body));
        }
        if !is_events {
            let body = res
                .body()
                .limit(MAX_ANSWER_BYTES)
                .await
                .map_err(|e| format!("reading the answer: {e}"))?;
            return self.relay(&body);
        }
        let mut events = eventsource_stream::Eventsource::eventsource(res);
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| format!("reading the event stream: {e}"))?;
            if event.data.trim().is_empty() {
                continue; // a priming event, or a keep-alive
            }
            self.relay(event.data.as_bytes())?;
        }
        Ok(())
    }

    /// Write the message (or batch) in `body`, noting the protocol version an `initialize`
    /// result negotiated.
    fn relay(&self, body: &[u8]) -> Result<(), String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("the server's answer: {e}"))?;
        if let Some(v) = value["result"]["protocolVersion"].as_str() {
            self.session.borrow_mut().protocol = Some(v.to_owned());
        }
        self.answer(value);
        Ok(())
    }

    /// End the session on the server, when there is one; a failure only costs the server a
    /// session it reaps later.
    async fn close(&self) {
        if self.session.borrow().id.is_none() {
            return;
        }
        let req = self
            .request(awc::http::Method::DELETE, None)
            .timeout(Duration::from_secs(5));
        let _ = req.send().await;
    }
}

/// The protocol version a sessionless (2026-07-28 and later) message names in its `_meta`.
fn protocol_version(message: &Value) -> Option<&str> {
    message["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"].as_str()
}

/// What a refused POST answers: the problem's detail when the server sent one.
fn refusal(status: StatusCode, body: &Bytes) -> String {
    let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = problem["detail"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let hint = match status.as_u16() {
        401 => " (check SBX_API_KEY, --api-key or `sbx login`)",
        _ => "",
    };
    format!("the server answered {status}: {detail}{hint}")
}

/// A JSON-RPC error answering `id`.
fn rpc_error(id: &Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}
