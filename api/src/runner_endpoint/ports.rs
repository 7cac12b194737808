//! The runner's side of a container sandbox's ports (`/internal/v1/sandboxes/{id}/ports/
//! {port}/{path}`): an HTTP/1.1 request passed to the server listening on `port` on the
//! sandbox's own loopback, over a connection the runner makes inside the container's network
//! namespace ([`super::HeldSandboxes::dial`]); the answer passed back. Both bodies stream: an
//! upload or a token-by-token answer is never held whole.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt as _, TryStreamExt as _};
use http_body_util::BodyExt as _;

use super::Endpoint;
use crate::auth::Reply;
use crate::error::{ApiError, Code};

/// Request headers not passed to the sandbox's server: the connection's own, and the caller's
/// credentials for sbx (which the sandbox must never see).
pub(super) const NOT_PASSED: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "authorization",
    "cookie",
    "x-sbx-project",
    "x-csrf-token",
];

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

/// Pass `req` to the server on `port` of sandbox `id` (running here), at `/{tail}` with the
/// request's query; its answer back. Errors: 422 for a bad port, 409 when the sandbox does not
/// run here, 502 `port_closed` when nothing listens, 502 `bad_gateway` when the server's
/// answer is not HTTP.
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
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| bad_gateway(port, &e))?;
    actix_web::rt::spawn(async move {
        let _ = connection.await;
    });

    let mut path = format!("/{tail}");
    if !req.query_string().is_empty() {
        path.push('?');
        path.push_str(req.query_string());
    }
    let mut out = hyper::Request::builder()
        .method(req.method().as_str())
        .uri(path);
    for (name, value) in req.headers() {
        if !NOT_PASSED.contains(&name.as_str()) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    out = out
        .header("host", format!("127.0.0.1:{port}"))
        .header("x-forwarded-prefix", prefix(&id, port));
    let frames = body
        .into_inner()
        .map_ok(hyper::body::Frame::data)
        .map_err(|e| std::io::Error::other(e.to_string()));
    let out = out
        .body(http_body_util::StreamBody::new(frames))
        .map_err(|e| ApiError::invalid(Code::BadRequest, "headers", e.to_string()))?;
    let answer = sender
        .send_request(out)
        .await
        .map_err(|e| bad_gateway(port, &e))?;

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

/// 502 `bad_gateway`: the server on the port did not answer in HTTP/1.1.
fn bad_gateway(port: u16, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::State {
        code: Code::BadGateway,
        detail: format!("the server on port {port} in the sandbox did not answer in HTTP/1.1: {e}"),
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
