//! A container sandbox's ports: `…/v1/sandboxes/{id}/ports/{port}/{path}` passes an HTTP
//! request to the server listening on `port` in the sandbox (on its own loopback, so a
//! sandbox without network is reached too) and its answer back, both streamed, through the
//! runner that runs it ([`crate::runner_endpoint::ports`]); a WebSocket upgrade is joined to
//! one the runner opens to the server. `GET …/ports` lists the ports declared (`ports` at
//! create, `POST …/ports`) and those a server listens on.

use actix_web::{HttpRequest, HttpResponse, web};
use sbx_core::sandbox::{SandboxKind, SandboxState};
use sbx_store::ports::MAX_PORTS;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::files::{not_running, runner_of};
use super::sandbox_id;
use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::runner_endpoint::ports::{Listening, port_number};

/// `ports` of a create request checked: distinct, 1 to 65535, at most [`MAX_PORTS`]; as
/// stored, ascending. Errors: 422 naming `ports` or the entry (`ports[2]`).
pub fn declared(ports: &[u16]) -> Result<Vec<i32>, ApiError> {
    if ports.len() > MAX_PORTS {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "ports",
            format!("at most {MAX_PORTS} ports"),
        ));
    }
    for (i, &port) in ports.iter().enumerate() {
        let why = if port == 0 {
            "a port is 1 to 65535"
        } else if ports[..i].contains(&port) {
            "this port is listed already"
        } else {
            continue;
        };
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            format!("ports[{i}]"),
            format!("{port}: {why}"),
        ));
    }
    let mut out: Vec<i32> = ports.iter().map(|&p| i32::from(p)).collect();
    out.sort_unstable();
    Ok(out)
}

/// A sandbox's declared ports as stored (`sandboxes.ports`, ascending), as ports.
pub(crate) fn declared_of(stored: &[i32]) -> Vec<u16> {
    stored
        .iter()
        .filter_map(|&p| u16::try_from(p).ok())
        .collect()
}

/// A port of a container sandbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortView {
    /// The port, 1 to 65535.
    #[schema(minimum = 1, maximum = 65535, example = 8000)]
    pub port: u16,
    /// Declared by the sandbox's owner (`ports` at create, or `POST …/ports`).
    pub declared: bool,
    /// A server listens on it now at an address that covers the sandbox's `127.0.0.1`
    /// (`127.0.0.1`, `0.0.0.0`, or `::` unless the socket is IPv6-only), where
    /// `…/ports/{port}/{path}` connects. Always `false` unless the sandbox is running.
    pub listening: bool,
}

/// A container sandbox's ports: those declared and those a server listens on, ascending.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortList {
    /// The ports.
    pub ports: Vec<PortView>,
}

/// A port to declare.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExposePort {
    /// The port a server listens on (or will), 1 to 65535.
    #[schema(minimum = 1, maximum = 65535, example = 8000)]
    pub port: u16,
}

/// List a container sandbox's ports: the declared ones, and any other a server listens on at
/// the sandbox's loopback (found in its network namespace's TCP table, so not under gVisor,
/// whose network stack is its own), each with whether it listens now. Poll it to wait for a
/// server to come up.
#[utoipa::path(get, path = "/v1/sandboxes/{id}/ports", tag = "ports", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    responses(
        (status = 200, description = "Its ports", body = PortList),
        crate::responses::NoSuchSandbox,
        (status = 409, description = "A code-interpreter (`not_a_container`), or a sandbox paused or ended while its runner was asked", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unauthorized,
        crate::responses::RunnerUnreachable,
    ))]
pub async fn list_ports(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(ports_of(&state, &caller, &id).await?))
}

/// The ports of sandbox `id` of `caller`'s project, as `GET /v1/sandboxes/{id}/ports` answers
/// them (the MCP tool `list_ports` too).
///
/// # Errors
/// As the route documents; a sandbox paused or ended while its runner is asked: 409 with its
/// state.
pub async fn ports_of(state: &AppState, caller: &Caller, id: &str) -> Result<PortList, ApiError> {
    let id = sandbox_id(id)?;
    let project = caller.0.project_id;
    let s = super::find(state, project, id).await?;
    if s.kind == SandboxKind::Interpreter {
        return Err(not_a_container());
    }
    let mut listening = Vec::new();
    if s.state == SandboxState::Running {
        let (url, token) = runner_of(state, project, id).await?;
        let path = format!("/v1/sandboxes/{id}/ports");
        let whole = crate::runner_endpoint::call_whole(
            actix_web::http::Method::GET,
            &url,
            &path,
            &token,
            None,
            1 << 20,
        )
        .await?;
        if !whole.status.is_success() {
            // Paused, ended or moved since it was read: said as the sandbox is now.
            let now = super::find(state, project, id).await?;
            if now.state != SandboxState::Running {
                return Err(not_running(&now));
            }
            return Err(crate::runner_endpoint::unreachable(format!(
                "its runner answered {}: {}",
                whole.status,
                String::from_utf8_lossy(&whole.body)
            )));
        }
        listening = serde_json::from_slice::<Listening>(&whole.body)
            .map_err(|e| ApiError::Internal(format!("the runner's ports of {id}: {e}")))?
            .ports;
    }
    let mut ports = declared_of(&s.ports);
    ports.extend(&listening);
    ports.sort_unstable();
    ports.dedup();
    let ports = ports
        .into_iter()
        .map(|port| PortView {
            port,
            declared: s.ports.contains(&i32::from(port)),
            listening: listening.contains(&port),
        })
        .collect();
    Ok(PortList { ports })
}

/// Declare a port of a container sandbox (at most 16), as `ports` at create does: it is listed
/// by `GET …/ports` from now on, and in the sandbox's `ports`. Declaring one already declared
/// changes nothing. Works in any state but ended.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/ports", tag = "ports", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = ExposePort,
    responses(
        (status = 200, description = "The sandbox, its `ports` with this one", body = super::SandboxView),
        crate::responses::NotJson,
        crate::responses::NoSuchSandbox,
        (status = 409, description = "A code-interpreter (`not_a_container`), or an ended sandbox (`sandbox_ended`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`port` is not 1 to 65535, or 16 are declared already (`invalid_request`)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unauthorized,
    ))]
pub async fn expose_port(
    Ctx { state, caller }: Ctx,
    id: web::Path<String>,
    body: crate::body::Json<ExposePort>,
) -> Reply {
    let port = body.0.port;
    if port == 0 {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "port",
            "a port is 1 to 65535",
        ));
    }
    let id = sandbox_id(&id)?;
    let project = caller.0.project_id;
    if let Some(s) = sbx_store::ports::expose(&state.pool, project, id, port).await? {
        return Ok(HttpResponse::Ok().json(super::SandboxView::from(s)));
    }
    let s = super::find(&state, project, id).await?;
    Err(if s.kind == SandboxKind::Interpreter {
        not_a_container()
    } else if s.state.is_ended() {
        sbx_sandboxes::SandboxError::ended(&s).into()
    } else {
        ApiError::invalid(
            Code::InvalidRequest,
            "port",
            format!("{MAX_PORTS} ports are declared already: at most {MAX_PORTS}"),
        )
    })
}

/// 409 `not_a_container`: ports are a container's.
fn not_a_container() -> ApiError {
    ApiError::State {
        code: Code::NotAContainer,
        detail: "ports are a container sandbox's; a code-interpreter runs no server".into(),
    }
}

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
