//! Errors as RFC 9457 problem details. Every error the API returns is an [`ApiError`]; each
//! variant documents its status and carries a stable snake_case `code` clients can match on.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::code::Code;

/// The body of every error: `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `https://sbx.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// A short summary of the problem type.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Stable machine-readable code, e.g. `invalid_api_key`.
    pub code: &'static str,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `malformed_json`: the body is not JSON.
    #[error("{0}")]
    MalformedJson(String),
    /// 400 `bad_request`: query or headers not understood.
    #[error("{0}")]
    BadRequest(String),
    /// 401 `missing_api_key`: no `Authorization: Bearer` header.
    #[error("send your API key as `Authorization: Bearer <key>`")]
    MissingKey,
    /// 401 `invalid_api_key`: the key is unknown or revoked.
    #[error("the API key is not valid, or was revoked")]
    InvalidKey,
    /// 401 `invalid_login`: no such person, or the wrong password.
    #[error("the email or password is wrong")]
    InvalidLogin,
    /// 401 `not_signed_in`: no session cookie, or its session ended.
    #[error("sign in first: the session cookie is missing or its session has ended")]
    NotSignedIn,
    /// 402 `budget_exceeded`: the project spent its monthly budget.
    #[error(
        "this project spent its monthly budget: raise it (PUT /v1/budget) or wait for next month"
    )]
    BudgetExceeded,
    /// 401 `invalid_signature`: a webhook without a valid, recent signature.
    #[error("the webhook's signature is missing, wrong or too old")]
    InvalidSignature,
    /// 429 `login_locked`: too many wrong passwords in a row.
    #[error("too many wrong passwords: this account is locked for {retry_after_s} s")]
    LoginLocked {
        /// Seconds until the lock ends.
        retry_after_s: u64,
    },
    /// 403 with a specific code (`kyc_required`, `csrf_failed`, `not_a_member`): the caller
    /// may not do this.
    #[error("{detail}")]
    Forbidden {
        /// Stable code.
        code: Code,
        /// Why.
        detail: String,
    },
    /// 404 `not_found`: no such object in the caller's project, or no such route.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// 413 `payload_too_large`: the body, code, module or files are over their cap.
    #[error("{detail}")]
    TooLarge {
        /// What is too large.
        detail: String,
        /// The field.
        field: Option<String>,
    },
    /// 415 `unsupported_media_type`: the body is not `application/json`.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// 422 with a specific code (`invalid_request`, `unsupported_language`, `invalid_base64`,
    /// `invalid_limit`, `invalid_module`, ...): well-formed JSON that asks for something invalid.
    #[error("{detail}")]
    Invalid {
        /// Stable code.
        code: Code,
        /// What is wrong.
        detail: String,
        /// The field.
        field: Option<String>,
    },
    /// 409 `conflict`: the request collides with one in flight (same Idempotency-Key).
    #[error("{0}")]
    Conflict(String),
    /// 409 with a specific code (`sandbox_ended`, `sandbox_paused`, `sandbox_pending`,
    /// `snapshot_corrupt`, `snapshot_missing`): the sandbox's state does not allow the request.
    #[error("{detail}")]
    State {
        /// Stable code.
        code: Code,
        /// What is in the way.
        detail: String,
    },
    /// 429 `project_queue_full` (`project: true`) or 503 `queue_full`: admission control
    /// refuses more queued work until some ends.
    #[error("{detail}")]
    QueueFull {
        /// Whether the project's own cap (429) or the global one (503) was hit.
        project: bool,
        /// Which cap, and its value.
        detail: String,
    },
    /// 429 `rate_limited`: the key's request rate is over its policy.
    #[error("too many requests: retry after {retry_after_s} s")]
    RateLimited {
        /// Seconds until a request would be admitted.
        retry_after_s: u64,
    },
    /// 429 `concurrency_limit`: the project already runs as many execs as it may.
    #[error("this project already runs {0} execs at once, its limit; retry when one ends")]
    ConcurrencyLimit(u32),
    /// 503 `unavailable`: a dependency (the database, the runner) is down or saturated.
    #[error("{0}")]
    Unavailable(String),
    /// 500 `internal`: our fault; the cause is logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 422 about `field`.
    pub fn invalid(code: Code, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    /// A 413 about `field`.
    pub fn too_large(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::TooLarge {
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    /// The same error about item `i` of a batch: its field is prefixed with `items[i].`.
    pub fn in_item(self, i: usize) -> Self {
        let prefix = |f: Option<String>| {
            Some(
                format!("items[{i}].{}", f.unwrap_or_default())
                    .trim_end_matches('.')
                    .to_owned(),
            )
        };
        match self {
            Self::Invalid {
                code,
                detail,
                field,
            } => Self::Invalid {
                code,
                detail: format!("items[{i}]: {detail}"),
                field: prefix(field),
            },
            Self::TooLarge { detail, field } => Self::TooLarge {
                detail: format!("items[{i}]: {detail}"),
                field: prefix(field),
            },
            other => other,
        }
    }

    /// The stable code: its name, status and title come from the table ([`Code`]).
    pub fn code(&self) -> Code {
        match self {
            Self::MalformedJson(_) => Code::MalformedJson,
            Self::BadRequest(_) => Code::BadRequest,
            Self::MissingKey => Code::MissingApiKey,
            Self::InvalidKey => Code::InvalidApiKey,
            Self::InvalidLogin => Code::InvalidLogin,
            Self::NotSignedIn => Code::NotSignedIn,
            Self::InvalidSignature => Code::InvalidSignature,
            Self::BudgetExceeded => Code::BudgetExceeded,
            Self::LoginLocked { .. } => Code::LoginLocked,
            Self::Forbidden { code, .. }
            | Self::Invalid { code, .. }
            | Self::State { code, .. } => *code,
            Self::NotFound(_) => Code::NotFound,
            Self::MethodNotAllowed => Code::MethodNotAllowed,
            Self::TooLarge { .. } => Code::PayloadTooLarge,
            Self::UnsupportedMediaType => Code::UnsupportedMediaType,
            Self::Conflict(_) => Code::Conflict,
            Self::QueueFull { project: true, .. } => Code::ProjectQueueFull,
            Self::QueueFull { project: false, .. } => Code::QueueFull,
            Self::RateLimited { .. } => Code::RateLimited,
            Self::ConcurrencyLimit(_) => Code::ConcurrencyLimit,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
        }
    }

    /// The body of this error.
    pub fn problem(&self) -> Problem {
        let field = match self {
            Self::Invalid { field, .. } | Self::TooLarge { field, .. } => field.clone(),
            _ => None,
        };
        let code = self.code();
        Problem {
            type_: format!("https://sbx.dev/problems/{}", code.name()),
            title: code.title(),
            status: code.status().as_u16(),
            detail: self.to_string(),
            code: code.name(),
            field,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(cause = %cause, "internal error");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        match self {
            Self::MissingKey | Self::InvalidKey => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sbx\""),
                ));
            }
            Self::RateLimited { retry_after_s } | Self::LoginLocked { retry_after_s } => {
                res.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
            }
            Self::ConcurrencyLimit(_) | Self::Unavailable(_) | Self::Conflict(_) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::QueueFull { .. } => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        res.body(serde_json::to_vec(&self.problem()).expect("a problem serializes"))
    }
}

impl From<sbx_limits::LimitError> for ApiError {
    fn from(e: sbx_limits::LimitError) -> Self {
        Self::invalid(Code::InvalidLimit, e.field(), e.to_string())
    }
}

impl From<sbx_core::BackendError> for ApiError {
    fn from(e: sbx_core::BackendError) -> Self {
        use sbx_core::BackendError as B;
        match e {
            B::InvalidModule(m) => Self::invalid(Code::InvalidModule, "module_b64", m),
            B::ShuttingDown => Self::Unavailable(e.to_string()),
            B::Runtime(_) | B::Host(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<sbx_sandboxes::SandboxError> for ApiError {
    fn from(e: sbx_sandboxes::SandboxError) -> Self {
        use sbx_sandboxes::SandboxError as S;
        let state = |code: Code, e: S| Self::State {
            code,
            detail: e.to_string(),
        };
        match e {
            S::NotFound => Self::NotFound(e.to_string()),
            S::Ended(_) => state(Code::SandboxEnded, e),
            S::PausedByOwner => state(Code::SandboxPaused, e),
            S::Pending => state(Code::SandboxPending, e),
            S::SnapshotMissing(_) => state(Code::SnapshotMissing, e),
            S::SnapshotCorrupt(_) => state(Code::SnapshotCorrupt, e),
            S::SnapshotTooLarge(_) => state(Code::SnapshotTooLarge, e),
            S::NotAnInterpreter => Self::invalid(Code::InvalidRequest, "code", e.to_string()),
            S::NotAContainer => Self::invalid(Code::InvalidRequest, "command", e.to_string()),
            S::NotRunning(_) => state(Code::SandboxNotRunning, e),
            S::TooManyOpen { .. } => Self::QueueFull {
                project: true,
                detail: e.to_string(),
            },
            S::BadPath(m) => Self::invalid(Code::InvalidPath, "files", m),
            S::Unavailable(m) => Self::Unavailable(m),
            S::Internal(m) => Self::Internal(m),
            S::Store(e) => e.into(),
        }
    }
}

impl From<sbx_core::process::ProcessError> for ApiError {
    fn from(e: sbx_core::process::ProcessError) -> Self {
        use sbx_core::process::ProcessError as P;
        let state = |code: Code, e: P| Self::State {
            code,
            detail: e.to_string(),
        };
        match e {
            P::NotRunning => state(Code::SandboxNotRunning, e),
            P::NoSuchProcess(_) => Self::NotFound(e.to_string()),
            P::Exited(_) => state(Code::ProcessExited, e),
            P::Unmarked(_) | P::NotTerminal(_) => state(Code::Conflict, e),
            P::NoStdin(_) => state(Code::StdinClosed, e),
            P::TooMany => state(Code::TooManyProcesses, e),
            P::Invalid { field, detail } => Self::invalid(Code::InvalidRequest, field, detail),
            P::Runtime(m) => Self::Unavailable(m),
        }
    }
}

impl From<sbx_store::StoreError> for ApiError {
    fn from(e: sbx_store::StoreError) -> Self {
        match e {
            sbx_store::StoreError::Unavailable(m) => {
                Self::Unavailable(format!("the database is unavailable: {m}"))
            }
            sbx_store::StoreError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            sbx_store::StoreError::Query(q) if q.is_closed() => {
                Self::Unavailable("the database connection was lost".into())
            }
            other => Self::Internal(format!("{other:#}")),
        }
    }
}

/// Turns actix's JSON extractor errors into problems: syntax errors are 400, wrong types and
/// missing or unknown fields 422, an oversized body 413, another content type 415.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match err {
        J::OverflowKnownLength { length, limit } => ApiError::TooLarge {
            detail: format!("the body is {length} bytes; at most {limit} are read"),
            field: None,
        },
        J::Overflow { limit } => ApiError::TooLarge {
            detail: format!("the body is over {limit} bytes"),
            field: None,
        },
        J::ContentType => ApiError::UnsupportedMediaType,
        J::Deserialize(e) if e.is_data() => ApiError::Invalid {
            code: Code::InvalidRequest,
            detail: e.to_string(),
            field: None,
        },
        J::Deserialize(e) => ApiError::MalformedJson(format!("the body is not valid JSON: {e}")),
        other => ApiError::BadRequest(other.to_string()),
    };
    api.into()
}

/// Query-string errors as problems (400).
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("query string: {err}")).into()
}

/// Path errors as problems: a malformed id names nothing, so 404.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound(format!("no such object: {err}")).into()
}

/// The answer for routes that do not exist.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}

/// The answer for a method a route does not take, with the `Allow` header listing the ones
/// it does (`allow`, e.g. `"GET, POST"`; RFC 9110 §15.5.6).
pub fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = ApiError::MethodNotAllowed.error_response();
    response.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allow),
    );
    response
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError as _;
    use sbx_sandboxes::SandboxError as S;

    use super::*;

    #[test]
    fn every_sandbox_error_has_its_status_code_and_field() {
        let cases = [
            (S::NotFound, 404, "not_found", None),
            (S::Ended("x".into()), 409, "sandbox_ended", None),
            (S::PausedByOwner, 409, "sandbox_paused", None),
            (S::Pending, 409, "sandbox_pending", None),
            (
                S::SnapshotMissing("x".into()),
                409,
                "snapshot_missing",
                None,
            ),
            (
                S::SnapshotCorrupt("x".into()),
                409,
                "snapshot_corrupt",
                None,
            ),
            (
                S::SnapshotTooLarge("x".into()),
                409,
                "snapshot_too_large",
                None,
            ),
            (S::NotAnInterpreter, 422, "invalid_request", Some("code")),
            (S::NotAContainer, 422, "invalid_request", Some("command")),
            (S::NotRunning("x".into()), 409, "sandbox_not_running", None),
            (
                S::TooManyOpen { open: 3, cap: 3 },
                429,
                "project_queue_full",
                None,
            ),
            (S::BadPath("x".into()), 422, "invalid_path", Some("files")),
            (S::Unavailable("x".into()), 503, "unavailable", None),
            (S::Internal("x".into()), 500, "internal", None),
            (
                S::Store(sbx_store::StoreError::Unavailable("down".into())),
                503,
                "unavailable",
                None,
            ),
        ];
        for (e, status, code, field) in cases {
            let what = format!("{e:?}");
            let api = ApiError::from(e);
            assert_eq!(api.status_code().as_u16(), status, "{what}");
            assert_eq!(api.code().name(), code, "{what}");
            assert_eq!(api.problem().field.as_deref(), field, "{what}");
        }
    }

    #[test]
    fn a_backend_that_never_ran_the_code_says_why() {
        use sbx_core::BackendError as B;
        let cases = [
            (B::InvalidModule("bad".into()), 422, "invalid_module"),
            (B::ShuttingDown, 503, "unavailable"),
            (B::Runtime("x".into()), 500, "internal"),
            (B::Host("x".into()), 500, "internal"),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from(e);
            assert_eq!(api.status_code().as_u16(), status);
            assert_eq!(api.code().name(), code);
        }
    }
}
