//! A container sandbox's ports: `…/v1/sandboxes/{id}/ports/{port}/{path}` passes an HTTP
//! request to the server listening on `port` in the sandbox (on its own loopback, so a
//! sandbox without network is reached too) and its answer back, both streamed, through the
//! runner that runs it ([`crate::runner_endpoint::ports`]); a WebSocket upgrade is joined to
//! one the runner opens to the server.

use actix_web::{HttpRequest, web};

use super::files::runner_of;
use super::sandbox_id;
use crate::auth::{Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::runner_endpoint::ports::port_number;

/// Refuse a request signed in with the dashboard's session cookie (403 `forbidden`): what a
/// sandbox's server answers would run in the browser as a page of this API's origin, with
/// the person's session.
fn with_key(req: &HttpRequest) -> Result<(), ApiError> {
    if req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        code: Code::SessionNotAllowed,
        detail: "a sandbox's ports are called with an API key (Authorization: Bearer), not a dashboard session: what its server answers must not run as a page of this site".into(),
    })
}

/// One documented operation per method (OpenAPI wants an `operationId` each), all
/// [`call_port`].
macro_rules! port_operations {
    ($($method:ident => $name:ident),+ $(,)?) => {$(
        /// Call the server on a port of a container sandbox: `path` and query passed on,
        /// headers too but the caller's credentials (`Authorization`, `Cookie`), with
        /// `X-Forwarded-Prefix: /v1/sandboxes/{id}/ports/{port}` and `X-Forwarded-Host`.
        /// Bodies stream both ways (uploads, Server-Sent Events, chunked answers). The
        /// server's answer is passed back as it is, whatever its status; sbx's own refusals
        /// are problems. A `GET` with `Upgrade: websocket` is answered 101 and joined to a
        /// WebSocket opened to the server (frames up to 16 MiB, the server's subprotocol
        /// answered back), or refused with 502 `bad_gateway` if it does not switch.
        #[utoipa::path($method, path = "/v1/sandboxes/{id}/ports/{port}/{path}", tag = "ports", security(("api_key" = [])),
            params(
                ("id" = String, Path, description = "The sandbox id"),
                ("port" = u16, Path, minimum = 1, maximum = 65535, description = "The port the server listens on in the sandbox"),
                ("path" = String, Path, description = "The path on that server (may be empty, and hold `/`)"),
            ),
            request_body(content = Vec<u8>, description = "Passed on as it is", content_type = "*/*"),
            responses(
                (status = 200, description = "The server's answer, whatever its status", content_type = "*/*"),
                (status = 403, description = "Signed in with a dashboard session rather than an API key (`session_not_allowed`)", body = crate::error::Problem, content_type = "application/problem+json"),
                crate::responses::NoSuchSandbox,
                (status = 409, description = "A code-interpreter (`not_a_container`), or a sandbox that is paused (`sandbox_paused`), starting or ended", body = crate::error::Problem, content_type = "application/problem+json"),
                (status = 422, description = "`port` is not 1 to 65535 (`invalid_request`)", body = crate::error::Problem, content_type = "application/problem+json"),
                (status = 502, description = "Nothing listens on the port (`port_closed`), or the server did not answer in HTTP/1.1 (`bad_gateway`)", body = crate::error::Problem, content_type = "application/problem+json"),
                crate::responses::Unauthorized,
                crate::responses::RunnerUnreachable,
            ))]
        pub async fn $name(
            ctx: Ctx,
            req: HttpRequest,
            at: web::Path<(String, String, String)>,
            body: web::Payload,
        ) -> Reply {
            call_port(ctx, req, at, body).await
        }
    )+};
}

port_operations! {
    get => call_port_get,
    post => call_port_post,
    put => call_port_put,
    patch => call_port_patch,
    delete => call_port_delete,
    head => call_port_head,
}

/// The methods a port is called with.
pub const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, HEAD";

/// Pass the request to the runner that runs sandbox `id`, unless it is refused first (the
/// body then drained).
async fn call_port(
    ctx: Ctx,
    req: HttpRequest,
    at: web::Path<(String, String, String)>,
    body: web::Payload,
) -> Reply {
    let (id, port, _) = at.into_inner();
    let placed = match (sandbox_id(&id), port_number(&port), with_key(&req)) {
        (Ok(id), Ok(_), Ok(())) => runner_of(&ctx.state, ctx.caller.0.project_id, id).await,
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
    };
    match placed {
        Ok((url, token)) => crate::runner_endpoint::forward_all(&req, body, &url, &token).await,
        Err(e) => {
            crate::body::drain(body.into_inner()).await;
            Err(e)
        }
    }
}
