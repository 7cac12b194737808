//! `POST /v1/sandboxes/{id}/previews`: a signed, expiring URL that opens a port of a container
//! sandbox in a browser, on an origin of its own (see [`crate::previews`]).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sandbox_id;
use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::previews::{Preview, unix_now};

/// How long a preview URL works when the request does not say, seconds.
pub const DEFAULT_EXPIRES_IN_S: u32 = 3600;
/// The longest a preview URL works, seconds: a day.
pub const MAX_EXPIRES_IN_S: u32 = 86_400;

/// A preview URL request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The port the server listens on in the sandbox, 1 to 65535.
    #[schema(minimum = 1, maximum = 65535, example = 8000)]
    pub port: u16,
    /// Seconds the URL works, 1 to 86400; default 3600.
    #[schema(minimum = 1, maximum = 86400, example = 3600)]
    pub expires_in: Option<u32>,
}

/// A preview URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewView {
    /// The URL: open it in a browser (every path under it goes to the port), or call it.
    #[schema(example = "http://0f3c5a…e9.preview.localhost:8080/")]
    pub url: String,
    /// The sandbox.
    pub sandbox_id: String,
    /// The port it opens.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: u16,
    /// When it stops working (RFC 3339); it also stops when the sandbox ends.
    pub expires_at: DateTime<Utc>,
}

/// Sign a preview URL for a port of a container sandbox: whoever holds it reaches the server on
/// that port with a browser or any HTTP client, without an API key, until `expires_at` or the
/// sandbox's end. The URL's host is a label of its own under `SBX_PREVIEW_URL`'s domain, so the
/// sandbox's pages never run on the API's origin. Cookies and `Authorization` sent to it go to
/// the sandbox's server. A URL outlives a pause (it works again after resume); expired, it
/// answers 410 `preview_expired`.
#[utoipa::path(post, path = "/v1/sandboxes/{id}/previews", tag = "ports", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox id")),
    request_body = PreviewRequest,
    responses(
        (status = 201, description = "The URL", body = PreviewView),
        crate::responses::NotJson,
        crate::responses::NoSuchSandbox,
        (status = 409, description = "A code-interpreter (`not_a_container`), or an ended sandbox (`sandbox_ended`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`port` or `expires_in` out of range (`invalid_request`)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unauthorized,
    ))]
pub async fn create_preview(
    Ctx { state, caller }: Ctx,
    id: web::Path<String>,
    body: crate::body::Json<PreviewRequest>,
) -> Reply {
    let view = issue(&state, &caller, &id, body.0.port, body.0.expires_in).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Sign a preview URL for `port` of sandbox `id` of `caller`'s project, working `expires_in`
/// seconds (default [`DEFAULT_EXPIRES_IN_S`]), with the checks `POST
/// /v1/sandboxes/{id}/previews` makes. The MCP tool `preview_url` runs the same.
///
/// # Errors
/// As the route documents.
pub async fn issue(
    state: &AppState,
    caller: &Caller,
    id: &str,
    port: u16,
    expires_in: Option<u32>,
) -> Result<PreviewView, ApiError> {
    if port == 0 {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "port",
            "a port is 1 to 65535",
        ));
    }
    let expires_in = expires_in.unwrap_or(DEFAULT_EXPIRES_IN_S);
    if !(1..=MAX_EXPIRES_IN_S).contains(&expires_in) {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "expires_in",
            format!("expires_in is 1 to {MAX_EXPIRES_IN_S} seconds"),
        ));
    }
    let id = sandbox_id(id)?;
    let s = super::find(state, caller.0.project_id, id).await?;
    if s.kind == sbx_core::sandbox::SandboxKind::Interpreter {
        return Err(ApiError::State {
            code: Code::NotAContainer,
            detail: "preview URLs open a port of a container sandbox; a code-interpreter has none"
                .into(),
        });
    }
    if s.state.is_ended() {
        return Err(sbx_sandboxes::SandboxError::ended(&s).into());
    }
    let expires = unix_now() + u64::from(expires_in);
    let preview = Preview {
        sandbox: id,
        port,
        expires: u32::try_from(expires).unwrap_or(u32::MAX),
    };
    Ok(PreviewView {
        url: preview.url(&state.preview_site, &state.sealer),
        sandbox_id: id.to_string(),
        port,
        expires_at: DateTime::from_timestamp(i64::from(preview.expires), 0).unwrap_or_default(),
    })
}
