//! The runners' internal endpoint: what the API reaches directly on the runner that holds a
//! container sandbox, for what cannot wait on the database (its files and background
//! processes now, [`processes`]; its terminal and ports next). Every runner with container sandboxes serves it (`SBX_RUNNER_LISTEN`) and
//! records its URL (`SBX_RUNNER_URL`) in `runners.internal_url`; the database stays the source
//! of truth for state.
//!
//! Authentication is a secret derived from the deployment's `SBX_SECRET_KEY`, one per runner:
//! an HMAC-SHA256 of a fixed label and the runner's id ([`token`]), sent as a bearer token and
//! compared in constant time. Every API and runner process already holds that key (to open
//! sealed environments), so nothing new is distributed or rotated; mTLS would need a CA and a
//! certificate per host. Being per runner, a token sent to a stale address (a runner gone, its
//! port taken by another process) opens no other runner. It authenticates, it does not
//! encrypt: the endpoint belongs on the deployment's private network, as the database does.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{MessageBody, SizedStream};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{self, Next};
use actix_web::{App, HttpMessage as _, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use sbx_core::ids::SandboxId;

pub mod ports;
mod processes;
pub mod terminal;
pub use processes::{LogsQuery, StdinQuery};

use crate::auth::Reply;
use crate::error::{ApiError, Code};
use crate::files::{self, DeleteQuery, Folders, ListQuery, Op, Place};

/// The label the endpoint's token is derived from.
const TOKEN_LABEL: &str = "sbx runner internal endpoint v1";

/// Request headers passed on to the runner (and response headers passed back are all but
/// the connection's own).
const PASSED: [header::HeaderName; 9] = [
    header::CONTENT_TYPE,
    header::HeaderName::from_static("last-event-id"),
    header::CONTENT_LENGTH,
    header::RANGE,
    header::IF_RANGE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
];

/// Response headers of the connection itself, not passed back.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
];

/// Runner `runner`'s token for its endpoint (43 characters of base64url), from the
/// deployment's sealing key.
pub fn token(sealer: &sbx_store::seal::Sealer, runner: uuid::Uuid) -> String {
    let label = format!("{TOKEN_LABEL} {runner}");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealer.derive(&label))
}

/// The container sandboxes a runner holds, as its endpoint needs them.
pub trait HeldSandboxes: Send + Sync + 'static {
    /// The folders of container sandbox `id` if it runs here now; none otherwise.
    fn folders(&self, id: SandboxId) -> Option<Folders>;
    /// The background processes of container sandbox `id` if it runs here now; none
    /// otherwise.
    fn processes(&self, id: SandboxId) -> Option<Box<dyn sbx_core::process::SandboxProcesses>>;
    /// A connection to `port` on container sandbox `id`'s own loopback, if it runs here now
    /// (none otherwise). Errors: nothing listens there (`ConnectionRefused`), no answer in
    /// 5 s, the runtime failed.
    fn dial(
        &self,
        id: SandboxId,
        port: u16,
    ) -> sbx_core::BoxFuture<'static, Option<std::io::Result<std::net::TcpStream>>>;
    /// The ports a server listens on at container sandbox `id`'s own loopback (what
    /// [`Self::dial`] reaches), ascending, if it runs here now (none otherwise). Errors: the
    /// runtime failed, its process table could not be read.
    fn listening(
        &self,
        id: SandboxId,
    ) -> sbx_core::BoxFuture<'static, Option<std::io::Result<Vec<u16>>>>;
    /// Fork container sandbox `id`, if it runs here now (none otherwise), into `count` new
    /// `pending` sandboxes made by `key`, with copies of its `/workspace` and `/outputs`: the
    /// new sandboxes, in order. Errors: the copy or the database failed (in words).
    fn fork(
        &self,
        id: SandboxId,
        count: usize,
        key: Option<sbx_core::ids::ApiKeyId>,
    ) -> sbx_core::BoxFuture<'static, Option<Result<Vec<sbx_store::sandboxes::Sandbox>, String>>>;
}

/// The body of a runner's `POST …/fork`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkCall {
    /// How many copies, 1 to 16.
    pub count: usize,
    /// The key making them.
    pub api_key_id: Option<uuid::Uuid>,
}

/// The answer of a runner's `POST …/fork`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Forked {
    /// The new sandboxes, `pending`, in order.
    pub ids: Vec<uuid::Uuid>,
}

/// `POST /internal/v1/sandboxes/{id}/fork`: copies of a container sandbox running here,
/// `pending` for runners to place. 409 `sandbox_not_running` unless it runs here.
async fn fork(
    endpoint: web::Data<Endpoint>,
    id: web::Path<String>,
    body: crate::body::Json<ForkCall>,
) -> Reply {
    let ForkCall { count, api_key_id } = body.0;
    if count == 0 || count > sbx_sandboxes::fork::MAX_FORKS {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "count",
            format!("count is 1 to {}", sbx_sandboxes::fork::MAX_FORKS),
        ));
    }
    let id = crate::routes::sandboxes::sandbox_id(&id)?;
    let key = api_key_id.map(sbx_core::ids::ApiKeyId);
    let made = endpoint
        .held
        .fork(id, count, key)
        .await
        .ok_or(sbx_core::process::ProcessError::NotRunning)?
        .map_err(|e| ApiError::Internal(format!("forking sandbox {id}: {e}")))?;
    Ok(HttpResponse::Created().json(Forked {
        ids: made.iter().map(|s| s.sandbox_id.0).collect(),
    }))
}

struct Endpoint {
    held: Arc<dyn HeldSandboxes>,
    token: String,
    /// The terminals with clients now.
    clients: terminal::Clients,
}

/// Serve the endpoint on `listener` for the sandboxes `held`, to callers with `token`. The
/// returned server runs once awaited or spawned; its handle stops it.
pub fn serve(
    listener: TcpListener,
    held: Arc<dyn HeldSandboxes>,
    token: String,
) -> std::io::Result<actix_web::dev::Server> {
    let endpoint = web::Data::new(Endpoint {
        held,
        token,
        clients: Default::default(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(endpoint.clone())
            .app_data(web::QueryConfig::default().error_handler(crate::error::query_error))
            .app_data(web::PathConfig::default().error_handler(crate::error::path_error))
            .service(
                web::scope("/internal/v1/sandboxes/{id}")
                    .wrap(middleware::from_fn(authenticate))
                    .route("/files", web::get().to(list))
                    .route(files::WATCH_ROUTE, web::get().to(watch))
                    .route(files::FILE_ROUTE, web::get().to(file))
                    .route(files::FILE_ROUTE, web::head().to(file))
                    .route(files::FILE_ROUTE, web::put().to(file))
                    .route(files::FILE_ROUTE, web::delete().to(delete))
                    .route(files::DIRECTORY_ROUTE, web::post().to(make_dir))
                    .route("/processes", web::get().to(processes::list))
                    .route("/processes", web::post().to(processes::start))
                    .route("/processes/{pid}", web::get().to(processes::get))
                    .route("/processes/{pid}/logs", web::get().to(processes::logs))
                    .route("/processes/{pid}/stdin", web::post().to(processes::stdin))
                    .route("/processes/{pid}/signal", web::post().to(processes::signal))
                    .route("/pty", web::get().to(terminal::pty))
                    .route("/fork", web::post().to(fork))
                    .route("/ports", web::get().to(ports::listening))
                    .route("/ports/{port}/{tail:.*}", web::to(ports::proxy)),
            )
            .default_service(web::to(crate::error::not_found))
    })
    .workers(2)
    // Answers go out as written: a streamed answer's head and first part are two writes,
    // and Nagle's algorithm would hold the second for the peer's delayed ACK (40 ms).
    .tcp_nodelay(true)
    .listen(listener)?
    .shutdown_timeout(10)
    .run();
    Ok(server)
}

async fn authenticate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use subtle::ConstantTimeEq as _;
    let expected = req
        .app_data::<web::Data<Endpoint>>()
        .map(|e| e.token.clone())
        .unwrap_or_default();
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        if !crate::auth::is_websocket(req.headers()) {
            crate::body::drain(req.take_payload()).await;
        }
        return Err(ApiError::InvalidKey.into());
    }
    next.call(req).await
}

/// The folders of `id` if it runs here, else 409 (paused or moved since the API looked).
fn folders(endpoint: &Endpoint, id: &str) -> Result<Folders, ApiError> {
    let id = crate::routes::sandboxes::sandbox_id(id)?;
    endpoint
        .held
        .folders(id)
        .ok_or_else(|| sbx_core::process::ProcessError::NotRunning.into())
}

async fn file(
    req: HttpRequest,
    endpoint: web::Data<Endpoint>,
    at: web::Path<(String, String)>,
    body: web::Payload,
) -> Reply {
    let (id, tail) = at.into_inner();
    let op = Op::on_file(&req, &tail, false);
    here(&req, &endpoint, &id, body, op).await
}

async fn delete(
    req: HttpRequest,
    endpoint: web::Data<Endpoint>,
    at: web::Path<(String, String)>,
    query: web::Query<DeleteQuery>,
    body: web::Payload,
) -> Reply {
    let (id, tail) = at.into_inner();
    let op = Op::on_file(&req, &tail, query.recursive.unwrap_or(false));
    here(&req, &endpoint, &id, body, op).await
}

async fn list(
    req: HttpRequest,
    endpoint: web::Data<Endpoint>,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
    body: web::Payload,
) -> Reply {
    here(&req, &endpoint, &id, body, query.op()).await
}

async fn watch(
    req: HttpRequest,
    endpoint: web::Data<Endpoint>,
    id: web::Path<String>,
    query: web::Query<files::watch::WatchQuery>,
    body: web::Payload,
) -> Reply {
    here(&req, &endpoint, &id, body, query.op()).await
}

async fn make_dir(
    req: HttpRequest,
    endpoint: web::Data<Endpoint>,
    at: web::Path<(String, String)>,
    body: web::Payload,
) -> Reply {
    let (id, tail) = at.into_inner();
    let op = files::GuestPath::parse(&format!("/{tail}"), "path").map(Op::MakeDir);
    here(&req, &endpoint, &id, body, op).await
}

/// Answer `op` on sandbox `id`'s folders here; refused before the body is read (a bad path,
/// a sandbox no longer running here), the body is drained first.
async fn here(
    req: &HttpRequest,
    endpoint: &Endpoint,
    id: &str,
    body: web::Payload,
    op: Result<Op, ApiError>,
) -> Reply {
    match op.and_then(|op| Ok((folders(endpoint, id)?, op))) {
        Ok((folders, op)) => files::answer(req, body, Place::Here(folders), op).await,
        Err(e) => {
            crate::body::drain(body.into_inner()).await;
            Err(e)
        }
    }
}

thread_local! {
    /// One client per worker thread (awc's is not `Send`): its connections are kept and reused.
    pub(crate) static CLIENT: awc::Client = awc::Client::builder()
        .disable_timeout()
        .disable_redirects()
        // No cap on connections: log streams stay open for as long as they are read, and
        // must not make other requests wait for a free one.
        .connector(
            awc::Connector::new()
                .timeout(Duration::from_secs(5))
                .limit(0),
        )
        .finish();
}

/// Pass `req` (this API's `/v1/…` request, its `body` streamed) to the runner endpoint at
/// `base`, as `/internal/v1/…`, and its answer back, streamed. A runner that cannot be
/// reached: 503 `unavailable`.
pub async fn forward(req: &HttpRequest, body: web::Payload, base: &str, token: &str) -> Reply {
    let url = internal_url(req, base);
    forward_with(req, body, &url, token, Vec::new(), |name| {
        PASSED.contains(name)
    })
    .await
}

/// `base/internal` and the path and query `req` was sent to.
fn internal_url(req: &HttpRequest, base: &str) -> String {
    format!(
        "{base}/internal{}",
        req.uri().path_and_query().map_or("", |p| p.as_str())
    )
}

/// The `X-Forwarded-Host` of a request to a sandbox's server: the `Host` it was sent to.
fn forwarded_host(req: &HttpRequest) -> Vec<(&'static str, header::HeaderValue)> {
    req.headers()
        .get(header::HOST)
        .map(|h| ("x-forwarded-host", h.clone()))
        .into_iter()
        .collect()
}

/// [`forward`] passing every request header but the connection's own and the caller's
/// credentials (`Authorization`, `Cookie`), and the `Host` it was sent to as
/// `X-Forwarded-Host`: for requests to a sandbox's own server, which the runner filters again
/// ([`ports`]).
pub async fn forward_all(req: &HttpRequest, body: web::Payload, base: &str, token: &str) -> Reply {
    let url = internal_url(req, base);
    forward_with(req, body, &url, token, forwarded_host(req), |name| {
        !ports::not_passed(name.as_str(), false) && name.as_str() != "x-forwarded-host"
    })
    .await
}

/// A request to a preview URL passed to `url` (a runner's `…/ports/{port}/{path}`) as
/// [`forward_all`] passes one, but with all the caller's headers but the connection's own,
/// `Cookie` and `Authorization` included (they belong to the preview's origin: the runner
/// gives them to the sandbox's server, see [`ports::PREVIEW`]).
pub async fn forward_preview(
    req: &HttpRequest,
    body: web::Payload,
    url: &str,
    token: &str,
) -> Reply {
    let mut extra = forwarded_host(req);
    extra.push((ports::PREVIEW, header::HeaderValue::from_static("1")));
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        extra.push((ports::PREVIEW_AUTHORIZATION, auth.clone()));
    }
    forward_with(req, body, url, token, extra, |name| {
        !ports::not_passed(name.as_str(), true) && name.as_str() != "x-forwarded-host"
    })
    .await
}

/// Send `req` to `url` with `body`, the request headers `passed` chooses and `extra` ones; the
/// runner's answer back, streamed. A WebSocket upgrade (to a sandbox's port) is joined to one
/// at `url` instead ([`join_websocket`]).
async fn forward_with(
    req: &HttpRequest,
    body: web::Payload,
    url: &str,
    token: &str,
    extra: Vec<(&'static str, header::HeaderValue)>,
    passed: impl Fn(&header::HeaderName) -> bool,
) -> Reply {
    if crate::auth::is_websocket(req.headers()) && req.method() == actix_web::http::Method::GET {
        return join_websocket(req, body, url, token, extra, passed).await;
    }
    let client = CLIENT.with(Clone::clone);
    let mut out = client.request(req.method().clone(), url).bearer_auth(token);
    for (name, value) in req.headers() {
        if passed(name) {
            out = out.append_header((name.clone(), value.clone()));
        }
    }
    for header in extra {
        out = out.insert_header(header);
    }
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let sent = if matches!(
        *req.method(),
        actix_web::http::Method::PUT
            | actix_web::http::Method::POST
            | actix_web::http::Method::PATCH
    ) {
        // Sized as it came (a server in a sandbox may not take a chunked body), else chunked.
        match length {
            Some(n) => out.send_body(SizedStream::new(n, body)).await,
            None => out.send_stream(body).await,
        }
    } else {
        out.send().await
    };
    let answer = sent.map_err(|e| {
        ApiError::Unavailable(format!(
            "the runner that holds the sandbox did not answer: {e}; retry"
        ))
    })?;
    let status = answer.status();
    if matches!(status.as_u16(), 401 | 403) {
        return Err(ApiError::Unavailable(
            "the runner that holds the sandbox refused this server's token: is SBX_SECRET_KEY the same on every process?".into(),
        ));
    }
    let mut back = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            back.append_header((name.clone(), value.clone()));
        }
    }
    let length = answer
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // No body: 1xx, 204 and 304 have none, and are sent without framing.
    if status.is_informational() || matches!(status.as_u16(), 204 | 304) {
        return Ok(back.finish());
    }
    Ok(match length {
        Some(n) => back.body(SizedStream::new(n, answer)),
        None => back.streaming(answer),
    })
}

/// How long opening a WebSocket on a runner (and through it, to a sandbox's port) may take,
/// or a runner's answer about one.
pub(crate) const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// Accept the caller's WebSocket upgrade (`req`, `body`), open one to `url` on a runner (a
/// sandbox's port) with the request headers `passed` chooses and `extra` ones, answer the
/// caller with the subprotocol chosen there, and pass frames between the two until either
/// closes. Errors: 400 for a handshake that is not one; the runner's refusal by its status
/// (a WebSocket client does not read a body): 502 `bad_gateway` when the server on the port
/// did not switch protocols or nothing listens, 409 when the sandbox stopped running there.
async fn join_websocket(
    req: &HttpRequest,
    body: web::Payload,
    url: &str,
    token: &str,
    extra: Vec<(&'static str, header::HeaderValue)>,
    passed: impl Fn(&header::HeaderName) -> bool,
) -> Reply {
    let (mut response, session, stream) = actix_ws::handle(req, body)
        .map_err(|e| ApiError::invalid(Code::BadRequest, "upgrade", e.to_string()))?;
    let client = CLIENT.with(Clone::clone);
    let mut out = client
        .ws(url)
        .bearer_auth(token)
        .max_frame_size(ports::MAX_WS_FRAME);
    for (name, value) in req.headers() {
        if passed(name) && !ports::HANDSHAKE.contains(&name.as_str()) {
            out = out.header(name.clone(), value.clone());
        }
    }
    for (name, value) in extra {
        out = out.set_header(name, value);
    }
    let (answer, joined) = match tokio::time::timeout(CONNECT_WAIT, out.connect()).await {
        Ok(Ok(joined)) => joined,
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            return Err(match status.as_u16() {
                409 => ApiError::State {
                    code: Code::SandboxNotRunning,
                    detail: "the sandbox stopped running on its runner; GET /v1/sandboxes/{id} says where it is".into(),
                },
                404 | 422 => ApiError::NotFound("no such sandbox or port".into()),
                401 | 403 => unreachable(
                    "it refused this server's token: is SBX_SECRET_KEY the same on every process?",
                ),
                _ => ApiError::State {
                    code: Code::BadGateway,
                    detail: format!("the server on the sandbox's port did not take the WebSocket (nothing listens, or it answered the upgrade otherwise; the runner said {status})"),
                },
            });
        }
        Ok(Err(e)) => return Err(unreachable(e)),
        Err(_) => return Err(unreachable("no answer in 10 s")),
    };
    if let Some(protocol) = answer.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, protocol.clone());
    }
    actix_web::rt::spawn(crate::websocket::relay(
        session,
        stream,
        joined,
        ports::MAX_WS_FRAME,
    ));
    Ok(response)
}

/// A whole answer from a runner's endpoint: its status and body.
pub struct Whole {
    /// The HTTP status.
    pub status: actix_web::http::StatusCode,
    /// The body, at most the limit asked for.
    pub body: bytes::Bytes,
}

/// `method` of `path_and_query` (`/v1/sandboxes/…`, sent as `/internal/v1/…`) on the runner
/// endpoint at `base` with `body` (its content type and bytes), read whole (at most `limit`
/// bytes): for callers whose
/// futures must be `Send` (MCP tools), on a thread of its own (awc's client is not `Send`).
/// Unreachable: 503 `unavailable`; an answer over `limit`: 413 `payload_too_large`.
pub async fn call_whole(
    method: actix_web::http::Method,
    base: &str,
    path_and_query: &str,
    token: &str,
    body: Option<(&'static str, bytes::Bytes)>,
    limit: usize,
) -> Result<Whole, ApiError> {
    let url = format!("{base}/internal{path_and_query}");
    let token = token.to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let answer = actix_web::rt::System::new().block_on(async move {
            let client = awc::Client::builder()
                .timeout(Duration::from_secs(120))
                .disable_redirects()
                .finish();
            let req = client.request(method, url).bearer_auth(token);
            let sent = match body {
                Some((content_type, bytes)) => req.content_type(content_type).send_body(bytes),
                None => req.send(),
            };
            let mut res = sent.await.map_err(unreachable)?;
            let body = match res.body().limit(limit).await {
                Ok(body) => body,
                Err(awc::error::PayloadError::Overflow) => {
                    return Err(ApiError::too_large(
                        "path",
                        format!("the answer is over {limit} bytes"),
                    ));
                }
                Err(e) => return Err(unreachable(e)),
            };
            Ok(Whole {
                status: res.status(),
                body,
            })
        });
        let _ = tx.send(answer);
    });
    rx.await
        .map_err(|_| ApiError::Internal("the runner call's thread ended".into()))?
}

/// The answer for a runner that could not be reached, or broke off.
pub(crate) fn unreachable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!(
        "the runner that holds the sandbox did not answer in full: {e}; retry"
    ))
}
