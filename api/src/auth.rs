//! Authentication and admission for `/v1` (and `/mcp`): one middleware reads the Bearer key
//! and looks it up (by the SHA-256 of the key, an indexed read) or, without one, the
//! dashboard's session cookie ([`crate::accounts`]: the session, the project named by
//! `X-Sbx-Project` and, on a change, the `X-CSRF-Token`); it applies the caller's rate limit,
//! and leaves the [`Caller`] in the request for handlers to extract. Every answer it lets
//! through carries the rate-limit headers.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use sbx_store::keys::KeyOwner;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller of a `/v1` request.
#[derive(Debug, Clone)]
pub struct Caller(pub KeyOwner);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Only reachable behind `guard`; without it, the request is simply unauthenticated.
        ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or(ApiError::MissingKey),
        )
    }
}

/// What a `/v1` handler works with: the application's state and the authenticated caller,
/// extracted together.
pub struct Ctx {
    /// The application's state.
    pub state: web::Data<AppState>,
    /// Who calls, for which project.
    pub caller: Caller,
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("the application state is not configured".into()));
        let caller = req.extensions().get::<Caller>().cloned();
        ready(state.and_then(|state| {
            Ok(Self {
                state,
                caller: caller.ok_or(ApiError::MissingKey)?,
            })
        }))
    }
}

/// What a handler answers: a response, or a problem.
pub type Reply = Result<actix_web::HttpResponse, ApiError>;

/// The key in `Authorization: Bearer <key>`, if the header has that form.
fn bearer(req: &ServiceRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}

/// The caller of a request signed in with session secret `token`: the member of the project
/// `X-Sbx-Project` names (or of their only project), once a change has shown its CSRF token.
///
/// A browser's WebSocket cannot send headers: an upgrade ([`is_websocket`]) may name the
/// project with `?project=` instead, and shows it comes from the dashboard's own pages by its
/// `Origin` (which a page cannot forge) rather than by the CSRF token.
async fn session_caller(
    state: &AppState,
    req: &ServiceRequest,
    token: &str,
) -> Result<KeyOwner, ApiError> {
    use sbx_store::sessions::Project;
    let upgrade = is_websocket(req.headers());
    let named = match req.headers().get(crate::accounts::PROJECT_HEADER) {
        Some(v) => Some(v.to_str().unwrap_or("")),
        None if upgrade => project_in_query(req.query_string()),
        None => None,
    };
    let project = match named {
        None => None,
        Some(v) => Some(sbx_core::ids::ProjectId::parse(v.trim()).ok_or_else(|| {
            ApiError::BadRequest("X-Sbx-Project (or ?project=) must be a project id".into())
        })?),
    };
    if upgrade {
        check_same_origin(req.headers())?;
    }
    let hash = crate::accounts::token_hash(token);
    let found = sbx_store::sessions::caller(&state.pool, &hash, project)
        .await?
        .ok_or(ApiError::NotSignedIn)?;
    if !req.method().is_safe() {
        crate::accounts::check_csrf(req.headers(), &found.csrf_token)?;
    }
    match found.project {
        Project::One(owner) => Ok(owner),
        Project::NotAMember => Err(ApiError::Forbidden {
            code: crate::error::Code::NotAMember,
            detail: "you are not a member of this project".into(),
        }),
        Project::Several => Err(ApiError::BadRequest(
            "you belong to several projects: name one with the X-Sbx-Project header".into(),
        )),
    }
}

/// The `/v1` middleware: authenticate, rate-limit, then run the handler. A refused request's
/// body is drained first ([`crate::body::drain`]).
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone();
    let standing = match admit(&state, &req).await {
        Ok((owner, standing)) => {
            req.extensions_mut().insert(Caller(owner));
            standing
        }
        Err(refused) => {
            // A WebSocket upgrade's payload is the socket: it never ends, and is not drained.
            if !is_websocket(req.headers()) {
                crate::body::drain(req.take_payload()).await;
            }
            return Err(refused);
        }
    };
    let mut res = next.call(req).await?;
    state.limiter.write_headers(standing, res.headers_mut());
    Ok(res)
}

/// Whether `headers` ask for a WebSocket upgrade (as actix's handshake takes one: an
/// `Upgrade` naming `websocket` among others).
pub fn is_websocket(headers: &actix_web::http::header::HeaderMap) -> bool {
    headers
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("websocket"))
}

/// The `project` parameter of a query string, if any.
fn project_in_query(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("project="))
}

/// A cookie-signed WebSocket upgrade must come from a page of this server: its `Origin`'s
/// host and port are the request's `Host` (or `X-Forwarded-Host` behind a proxy). Else 403
/// `csrf_failed`: another site's page (or another port of this host, which counts as the
/// same site for the cookie) is opening a terminal with the visitor's session.
fn check_same_origin(headers: &actix_web::http::header::HeaderMap) -> Result<(), ApiError> {
    use actix_web::http::header;
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let origin_host = value(header::ORIGIN.as_str())
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host);
    let host = value("x-forwarded-host").or_else(|| value(header::HOST.as_str()));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError::Forbidden {
            code: crate::error::Code::CsrfFailed,
            detail: "a WebSocket opened with a session cookie must come from this server's own pages (its Origin is not this host)".into(),
        }),
    }
}

/// Who `req` is from, and its standing against its key's rate; or the refusal (401, 403, 429).
async fn admit(
    state: &web::Data<AppState>,
    req: &ServiceRequest,
) -> Result<(KeyOwner, crate::rate_limit::Standing), actix_web::Error> {
    let owner = match (bearer(req), req.cookie(crate::accounts::COOKIE)) {
        (Some(key), _) => sbx_store::keys::authenticate(&state.pool, key)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::InvalidKey)?,
        (None, Some(cookie)) => session_caller(state, req, cookie.value()).await?,
        (None, None) => return Err(ApiError::MissingKey.into()),
    };
    match state.limiter.check(owner.rate_key()) {
        Ok(s) => Ok((owner, s)),
        Err(wait) => {
            metrics::counter!("sbx_rate_limited_total").increment(1);
            let err = ApiError::RateLimited {
                retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
            };
            let mut res = actix_web::ResponseError::error_response(&err);
            state
                .limiter
                .write_headers(state.limiter.refused(wait), res.headers_mut());
            Err(actix_web::error::InternalError::from_response(err, res).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn a_cookie_signed_websocket_must_come_from_this_host() {
        let same = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(check_same_origin(&same).is_ok());
        let proxied = headers(&[
            ("origin", "https://sbx.example.com"),
            ("host", "10.0.0.5:8080"),
            ("x-forwarded-host", "sbx.example.com"),
        ]);
        assert!(check_same_origin(&proxied).is_ok());
        for bad in [
            headers(&[
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:8080"),
            ]),
            headers(&[
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8080"),
            ]),
            headers(&[("host", "127.0.0.1:8080")]),
            headers(&[("origin", "null"), ("host", "127.0.0.1:8080")]),
        ] {
            let e = check_same_origin(&bad).unwrap_err();
            assert_eq!(e.code(), crate::error::Code::CsrfFailed);
        }
        assert!(is_websocket(&headers(&[("upgrade", "WebSocket")])));
        assert!(is_websocket(&headers(&[("upgrade", "websocket, x")])));
        assert!(!is_websocket(&headers(&[("upgrade", "h2c")])));
        assert_eq!(project_in_query("cols=80&project=abc"), Some("abc"));
        assert_eq!(project_in_query("cols=80"), None);
    }
}
