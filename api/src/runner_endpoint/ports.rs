//! The runner's side of a container sandbox's ports (`/internal/v1/sandboxes/{id}/ports/
//! {port}/{path}`): an HTTP/1.1 request passed to the server listening on `port` on the
//! sandbox's own loopback, over a connection the runner makes inside the container's network
//! namespace ([`super::HeldSandboxes::dial`]); the answer passed back. Both bodies stream: an
//! upload or a token-by-token answer is never held whole. A WebSocket upgrade is made to the
//! server over the same connection and joined to the API's socket, frame by frame.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt as _, TryStreamExt as _};
use http_body_util::BodyExt as _;

use super::Endpoint;
use crate::auth::Reply;
use crate::error::{ApiError, Code};

/// Set by the API on a request that came to a preview URL: its `Cookie` is the preview
/// origin's and is passed on, and so is its `Authorization` (carried in
/// [`PREVIEW_AUTHORIZATION`], as this hop's own `Authorization` is the runner's token).
/// Never passed from a caller: it is in [`PREVIEW_NOT_PASSED`].
pub const PREVIEW: &str = "x-sbx-preview";
/// A preview request's own `Authorization`, given back to the sandbox's server under its name.
pub const PREVIEW_AUTHORIZATION: &str = "x-sbx-preview-authorization";

/// Request headers never passed to the sandbox's server: the connection's own, this hop's
/// `Authorization` (the runner's token) and the API's marks. A request to a preview URL passes
/// all the rest (cookies, `X-CSRF-Token`, …: they belong to the preview's origin; its own
/// `Authorization` comes as [`PREVIEW_AUTHORIZATION`]).
pub(super) const PREVIEW_NOT_PASSED: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "authorization",
    PREVIEW,
    PREVIEW_AUTHORIZATION,
];

/// The caller's credentials for sbx, never passed on a request through `…/ports/…` (the
/// sandbox must never see them); a preview's are its origin's own.
const SBX_CREDENTIALS: [&str; 3] = ["cookie", "x-sbx-project", "x-csrf-token"];

/// Whether request header `name` stays out of a request to the sandbox's server (one to a
/// preview URL if `preview`).
pub(super) fn not_passed(name: &str, preview: bool) -> bool {
    PREVIEW_NOT_PASSED.contains(&name) || (!preview && SBX_CREDENTIALS.contains(&name))
}

/// The path the API serves a sandbox's port under, for `X-Forwarded-Prefix`.
fn prefix(id: &str, port: u16) -> String {
    format!("/v1/sandboxes/{id}/ports/{port}")
}

/// A port number from the path: 1 to 65535, else 422 naming `port`.
pub fn port_number(port: &str) -> Result<u16, ApiError> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ApiError::invalid(
            Code::InvalidRequest,
            "port",
            format!("a port is 1 to 65535, not {port:?}"),
        )),
    }
}

/// The largest WebSocket frame a port's socket carries either way, bytes: 16 MiB.
pub const MAX_WS_FRAME: usize = 16 << 20;

/// Handshake headers each hop of a WebSocket makes for itself (a key of its own), and
/// extensions, which are not passed: frames go through uncompressed.
pub(super) const HANDSHAKE: [&str; 4] = [
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
];

/// A request body for the sandbox's server: the caller's, streamed, or none (a WebSocket
/// upgrade's, sent without framing).
type Body = http_body_util::Either<
    http_body_util::StreamBody<
        futures_util::stream::LocalBoxStream<
            'static,
            Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>,
        >,
    >,
    http_body_util::Empty<bytes::Bytes>,
>;

/// Pass `req` to the server on `port` of sandbox `id` (running here), at `/{tail}` with the
/// request's query; its answer back. A WebSocket upgrade is made to the server and the two
/// sockets joined ([`join_websocket`]). Errors: 422 for a bad port, 409 when the sandbox does
/// not run here, 502 `port_closed` when nothing listens, 502 `bad_gateway` when the server's
/// answer is not HTTP (or, for a WebSocket, not a 101).
pub(super) async fn proxy(
    req: HttpRequest,
    endpoint: web::Data<Endpoint>,
    at: web::Path<(String, String, String)>,
    body: web::Payload,
) -> Reply {
    let (id, port, tail) = at.into_inner();
    let port = match port_number(&port) {
        Ok(port) => port,
        Err(e) => {
            crate::body::drain(body.into_inner()).await;
            return Err(e);
        }
    };
    let sandbox = crate::routes::sandboxes::sandbox_id(&id)?;
    let Some(connected) = endpoint.held.dial(sandbox, port).await else {
        crate::body::drain(body.into_inner()).await;
        return Err(sbx_core::process::ProcessError::NotRunning.into());
    };
    let stream = match connected.and_then(|s| {
        s.set_nonblocking(true)?;
        s.set_nodelay(true)?;
        tokio::net::TcpStream::from_std(s)
    }) {
        Ok(stream) => stream,
        Err(e) => {
            crate::body::drain(body.into_inner()).await;
            return Err(closed(port, &e));
        }
    };
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| bad_gateway(port, &e))?;
    actix_web::rt::spawn(async move {
        let _ = connection.with_upgrades().await;
    });

    let mut path = format!("/{tail}");
    if !req.query_string().is_empty() {
        path.push('?');
        path.push_str(req.query_string());
    }
    let websocket = crate::auth::is_websocket(req.headers());
    let mut out = hyper::Request::builder()
        .method(req.method().as_str())
        .uri(path);
    // A preview's path is the whole of its origin's: it has no prefix.
    let preview = req.headers().contains_key(PREVIEW);
    for (name, value) in req.headers() {
        let handshake = websocket && HANDSHAKE.contains(&name.as_str());
        if !handshake && !not_passed(name.as_str(), preview) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    out = out.header("host", format!("127.0.0.1:{port}"));
    if let Some(auth) = req.headers().get(PREVIEW_AUTHORIZATION).filter(|_| preview) {
        out = out.header("authorization", auth.as_bytes());
    }
    if !preview {
        out = out.header("x-forwarded-prefix", prefix(&id, port));
    }
    if websocket {
        return join_websocket(&req, body, sender, out, port).await;
    }
    // A request with neither `Content-Length` nor `Transfer-Encoding` has no body (RFC 9112):
    // sent as such, not as an empty chunked one (a second write the server never reads).
    let has_body = req
        .headers()
        .contains_key(actix_web::http::header::CONTENT_LENGTH)
        || req
            .headers()
            .contains_key(actix_web::http::header::TRANSFER_ENCODING);
    let out_body = if has_body {
        let frames = body
            .into_inner()
            .map_ok(hyper::body::Frame::data)
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed_local();
        http_body_util::Either::Left(http_body_util::StreamBody::new(frames))
    } else {
        http_body_util::Either::Right(http_body_util::Empty::new())
    };
    let out = out
        .body(out_body)
        .map_err(|e| ApiError::invalid(Code::BadRequest, "headers", e.to_string()))?;
    let answer = send(sender, out, port).await?;

    let mut back = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(answer.status().as_u16())
            .map_err(|e| bad_gateway(port, &e))?,
    );
    for (name, value) in answer.headers() {
        if !super::HOP_BY_HOP.contains(&name.as_str()) {
            back.append_header((name.as_str(), value.as_bytes()));
        }
    }
    let length = answer
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let status = answer.status();
    if status.is_informational() || matches!(status.as_u16(), 204 | 304) {
        return Ok(back.finish());
    }
    let chunks = answer
        .into_body()
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()))
        .boxed();
    Ok(match length {
        Some(n) => back.body(actix_web::body::SizedStream::new(n, chunks)),
        None => back.streaming(chunks),
    })
}

/// The answer of a runner's `GET …/ports`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Listening {
    /// The ports a server listens on at the sandbox's loopback, ascending.
    pub ports: Vec<u16>,
}

/// `GET /internal/v1/sandboxes/{id}/ports`: the ports a server listens on in a container
/// sandbox running here ([`Listening`]). 409 `sandbox_not_running` unless it runs here.
pub(super) async fn listening(endpoint: web::Data<Endpoint>, id: web::Path<String>) -> Reply {
    let id = crate::routes::sandboxes::sandbox_id(&id)?;
    let ports = endpoint
        .held
        .listening(id)
        .await
        .ok_or(sbx_core::process::ProcessError::NotRunning)?
        .map_err(|e| ApiError::Internal(format!("reading the listening ports of {id}: {e}")))?;
    Ok(HttpResponse::Ok().json(Listening { ports }))
}

/// Send `out` to the server on `port`: its answer, or 502 `bad_gateway`.
async fn send(
    mut sender: hyper::client::conn::http1::SendRequest<Body>,
    out: hyper::Request<Body>,
    port: u16,
) -> Result<hyper::Response<hyper::body::Incoming>, ApiError> {
    sender
        .send_request(out)
        .await
        .map_err(|e| bad_gateway(port, &e))
}

/// Upgrade `out` (a request to the server on `port`, its headers set) to a WebSocket with a
/// handshake of this hop's own, accept the caller's upgrade (`req`, `body`) with the
/// subprotocol the server chose, and pass frames between the two sockets until either closes.
/// Errors: 400 for a caller's handshake that is not one; 502 `bad_gateway` when the server
/// does not switch protocols (its answer is dropped: a WebSocket client does not read it).
async fn join_websocket(
    req: &HttpRequest,
    body: web::Payload,
    sender: hyper::client::conn::http1::SendRequest<Body>,
    out: hyper::http::request::Builder,
    port: u16,
) -> Reply {
    use base64::Engine as _;
    let (mut response, session, stream) = actix_ws::handle(req, body)
        .map_err(|e| ApiError::invalid(Code::BadRequest, "upgrade", e.to_string()))?;
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let out = out
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", key)
        .body(http_body_util::Either::Right(http_body_util::Empty::new()))
        .map_err(|e| ApiError::invalid(Code::BadRequest, "headers", e.to_string()))?;
    let mut answer = send(sender, out, port).await?;
    if answer.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        return Err(bad_gateway(
            port,
            &format!("it answered the WebSocket upgrade with {}", answer.status()),
        ));
    }
    if let Some(protocol) = answer.headers().get("sec-websocket-protocol") {
        let value = actix_web::http::header::HeaderValue::from_bytes(protocol.as_bytes())
            .map_err(|e| bad_gateway(port, &e))?;
        response
            .headers_mut()
            .insert(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    let upgraded = hyper::upgrade::on(&mut answer)
        .await
        .map_err(|e| bad_gateway(port, &e))?;
    let codec = awc::ws::Codec::new().max_size(MAX_WS_FRAME).client_mode();
    let server = actix_codec::Framed::new(hyper_util::rt::TokioIo::new(upgraded), codec);
    actix_web::rt::spawn(crate::websocket::relay(
        session,
        stream,
        server,
        MAX_WS_FRAME,
    ));
    Ok(response)
}

/// 502 `port_closed`: the connection to the port failed.
fn closed(port: u16, e: &std::io::Error) -> ApiError {
    let detail = if e.kind() == std::io::ErrorKind::ConnectionRefused {
        format!(
            "nothing listens on port {port} in the sandbox (a server there must be started and listening, on 127.0.0.1 or 0.0.0.0)"
        )
    } else {
        format!("port {port} in the sandbox could not be reached: {e}")
    };
    ApiError::State {
        code: Code::PortClosed,
        detail,
    }
}

/// 502 `bad_gateway`: the server on the port did not answer in HTTP/1.1 (or as asked).
fn bad_gateway(port: u16, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::State {
        code: Code::BadGateway,
        detail: format!(
            "the server on port {port} in the sandbox did not answer as HTTP/1.1 should: {e}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_1_to_65535() {
        assert_eq!(port_number("8000").unwrap(), 8000);
        assert_eq!(port_number("65535").unwrap(), 65535);
        for bad in ["0", "65536", "-1", "http", ""] {
            let e = port_number(bad).unwrap_err();
            assert_eq!(e.problem().field.as_deref(), Some("port"), "{bad}");
            assert_eq!(e.problem().status, 422, "{bad}");
        }
    }
}
