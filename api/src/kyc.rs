//! Identity checks (KYC). A signed-in person submits one (`POST /auth/kyc`: legal name,
//! country, date of birth, an ID document kept sealed) and becomes `pending`; an operator
//! decides it (`GET /admin/kyc`, `GET /admin/kyc/{id}/document`, `POST /admin/kyc/{id}/verify`
//! or `…/reject`), or a provider does through a signed webhook (`POST /v1/kyc/webhook`,
//! Standard Webhooks with `SBX_KYC_WEBHOOK_SECRET`). Which work needs a verified owner is the
//! server's `SBX_KYC_REQUIRED` ([`sbx_limits::sandbox::KycRule`]).

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use chrono::{Datelike as _, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::accounts::signed_in;
use crate::auth::Reply;
use crate::error::{ApiError, Code};

/// Largest ID document accepted, in bytes (decoded).
pub const MAX_DOCUMENT_BYTES: usize = 10 << 20;
/// The media types an ID document may have.
pub const DOCUMENT_TYPES: &[&str] = &["image/png", "image/jpeg", "application/pdf"];
/// Largest submission body, in bytes: the document in base64 and the rest.
pub const MAX_SUBMISSION_BODY_BYTES: usize = MAX_DOCUMENT_BYTES / 3 * 4 + (64 << 10);
/// Largest provider webhook body, in bytes.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 64 << 10;
/// The shortest webhook secret accepted, in decoded bytes.
pub const MIN_SECRET_BYTES: usize = 24;
/// How far a webhook's timestamp may be from now, in seconds (replays older than this fail).
pub const WEBHOOK_TOLERANCE_S: i64 = 300;

/// An ID document.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentIn {
    /// The file's name.
    #[schema(example = "passport.jpg", min_length = 1, max_length = 200)]
    pub name: String,
    /// `image/png`, `image/jpeg` or `application/pdf`.
    #[schema(example = "image/jpeg")]
    pub content_type: String,
    /// The file in base64, at most 10 MiB decoded.
    pub content_b64: String,
}

/// What a person submits to have their identity verified.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KycRequest {
    /// Their legal name, as on the document (1 to 200 characters).
    #[schema(example = "Ada Lovelace", min_length = 1, max_length = 200)]
    pub legal_name: String,
    /// Country of the document, ISO 3166-1 alpha-2.
    #[schema(example = "GB", pattern = "^[A-Z]{2}$")]
    pub country: String,
    /// Date of birth, `YYYY-MM-DD`; they must be 18 or older.
    #[schema(example = "1990-12-10", format = Date)]
    pub date_of_birth: String,
    /// An ID document: passport, identity card or driving licence.
    pub document: DocumentIn,
}

/// A person's KYC status.
#[derive(Debug, Serialize, ToSchema)]
pub struct KycStatus {
    /// `unverified`, `pending`, `verified` or `rejected`.
    pub kyc_status: String,
}

/// The file extension of a document of media type `content_type` whose bytes start as that
/// type's do; `None` when they do not.
fn extension(content_type: &str, bytes: &[u8]) -> Option<&'static str> {
    let (magic, ext): (&[u8], _) = match content_type {
        "image/png" => (b"\x89PNG\r\n\x1a\n", "png"),
        "image/jpeg" => (b"\xff\xd8\xff", "jpg"),
        "application/pdf" => (b"%PDF-", "pdf"),
        _ => return None,
    };
    bytes.starts_with(magic).then_some(ext)
}

fn invalid(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::invalid(Code::InvalidRequest, field, detail)
}

fn age_on(born: NaiveDate, today: NaiveDate) -> i32 {
    let had_birthday = (today.month(), today.day()) >= (born.month(), born.day());
    today.year() - born.year() - i32::from(!had_birthday)
}

/// Submit an identity check; the person becomes `pending` until it is decided.
#[utoipa::path(post, path = "/auth/kyc", tag = "accounts",
    request_body = KycRequest,
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 202, description = "Submitted: the person is now `pending`", body = KycStatus),
        (status = 401, description = "Not signed in (`not_signed_in`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "No or a wrong X-CSRF-Token (`csrf_failed`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already verified (`conflict`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The document is over 10 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn submit_kyc(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: crate::body::Json<KycRequest>,
) -> Reply {
    let session = signed_in(&state, &req, true).await?;
    if session.user.kyc_status == "verified" {
        return Err(ApiError::Conflict(
            "this identity is verified already".into(),
        ));
    }
    let r = body.0;
    let name = r.legal_name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(invalid("legal_name", "legal_name is 1 to 200 characters"));
    }
    if !(r.country.len() == 2 && r.country.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(invalid(
            "country",
            "country is an ISO 3166-1 alpha-2 code, e.g. GB",
        ));
    }
    let born = NaiveDate::parse_from_str(&r.date_of_birth, "%Y-%m-%d")
        .map_err(|_| invalid("date_of_birth", "date_of_birth is a date, YYYY-MM-DD"))?;
    let age = age_on(born, Utc::now().date_naive());
    if !(18..=130).contains(&age) {
        return Err(invalid(
            "date_of_birth",
            "an identity check is for people aged 18 or over",
        ));
    }
    let doc = r.document;
    let doc_name = doc.name.trim();
    if doc_name.is_empty()
        || doc_name.chars().count() > 200
        || doc_name.contains(['/', '\\'])
        || doc_name.chars().any(char::is_control)
    {
        return Err(invalid(
            "document.name",
            "document.name is a file name, 1 to 200 characters",
        ));
    }
    if !DOCUMENT_TYPES.contains(&doc.content_type.as_str()) {
        return Err(invalid(
            "document.content_type",
            format!(
                "document.content_type is one of {}",
                DOCUMENT_TYPES.join(", ")
            ),
        ));
    }
    if doc.content_b64.len() > MAX_DOCUMENT_BYTES.div_ceil(3) * 4 + 4 {
        return Err(ApiError::too_large(
            "document.content_b64",
            "the document is over 10 MiB",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(doc.content_b64.trim())
        .map_err(|e| {
            ApiError::invalid(
                Code::InvalidBase64,
                "document.content_b64",
                format!("document.content_b64 is not valid base64: {e}"),
            )
        })?;
    if bytes.is_empty() || bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::too_large(
            "document.content_b64",
            "the document is empty or over 10 MiB",
        ));
    }
    if extension(&doc.content_type, &bytes).is_none() {
        return Err(invalid(
            "document.content_b64",
            format!("the document is not a {} file", doc.content_type),
        ));
    }
    let sealed = state.sealer.seal(&bytes);
    let recorded = sbx_store::kyc::submit(
        &state.pool,
        &sbx_store::kyc::NewSubmission {
            user_id: session.user.user_id,
            legal_name: name,
            country: &r.country,
            date_of_birth: born,
            document_name: doc_name,
            document_type: &doc.content_type,
            document_sealed: &sealed,
        },
    )
    .await?;
    if recorded.is_none() {
        return Err(ApiError::State {
            code: Code::Conflict,
            detail: "this identity is verified already".into(),
        });
    }
    Ok(HttpResponse::Accepted().json(KycStatus {
        kyc_status: "pending".into(),
    }))
}

/// A submission as an operator reviews it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionView {
    /// The id.
    pub id: String,
    /// The person's email.
    pub email: String,
    /// Their legal name.
    pub legal_name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// The document's file name (`GET /admin/kyc/{id}/document` gives it).
    pub document_name: String,
    /// Its media type.
    pub document_type: String,
    /// `pending`, `verified` or `rejected`.
    pub status: String,
    /// A rejection's reason, or a provider's reference.
    pub decision_note: Option<String>,
    /// When it was submitted.
    pub created_at: chrono::DateTime<Utc>,
    /// When it was decided.
    pub decided_at: Option<chrono::DateTime<Utc>>,
}

impl From<sbx_store::kyc::Submission> for SubmissionView {
    fn from(s: sbx_store::kyc::Submission) -> Self {
        Self {
            id: s.submission_id.to_string(),
            email: s.email,
            legal_name: s.legal_name,
            country: s.country,
            date_of_birth: s.date_of_birth.to_string(),
            document_name: s.document_name,
            document_type: s.document_type,
            status: s.status,
            decision_note: s.decision_note,
            created_at: s.created_at,
            decided_at: s.decided_at,
        }
    }
}

/// Submissions to review.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionList {
    /// Oldest first.
    pub data: Vec<SubmissionView>,
}

/// Which submissions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubmissionQuery {
    /// `pending` (the default), `verified`, `rejected` or `all`.
    #[param(inline, value_type = Option<String>, pattern = "^(pending|verified|rejected|all)$")]
    pub status: Option<String>,
}

/// The signed-in operator making request `req` (and, for a change, its CSRF token).
async fn operator(
    state: &AppState,
    req: &HttpRequest,
    change: bool,
) -> Result<sbx_store::sessions::SignedIn, ApiError> {
    let s = signed_in(state, req, change).await?;
    if !s.user.operator {
        return Err(ApiError::Forbidden {
            code: Code::NotAnOperator,
            detail: "only operators of this deployment may do this".into(),
        });
    }
    Ok(s)
}

/// Identity checks, for operators.
#[utoipa::path(get, path = "/admin/kyc", tag = "admin",
    params(SubmissionQuery),
    responses(
        (status = 200, description = "The submissions", body = SubmissionList),
        (status = 401, description = "Not signed in (`not_signed_in`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator (`not_an_operator`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_submissions(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<SubmissionQuery>,
) -> Reply {
    operator(&state, &req, false).await?;
    let status = match query.status.as_deref().unwrap_or("pending") {
        "all" => None,
        s @ ("pending" | "verified" | "rejected") => Some(s),
        _ => {
            return Err(ApiError::BadRequest(
                "status is pending, verified, rejected or all".into(),
            ));
        }
    };
    let rows = sbx_store::kyc::list(&state.pool, status, 500).await?;
    Ok(HttpResponse::Ok().json(SubmissionList {
        data: rows.into_iter().map(SubmissionView::from).collect(),
    }))
}

fn submission_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::NotFound("no such submission".into()))
}

/// A submission's ID document, as uploaded.
#[utoipa::path(get, path = "/admin/kyc/{id}/document", tag = "admin",
    params(("id" = String, Path, description = "The submission id")),
    responses(
        (status = 200, description = "The document, with its media type", content_type = "application/octet-stream"),
        (status = 401, description = "Not signed in (`not_signed_in`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator (`not_an_operator`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such submission", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn submission_document(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Reply {
    operator(&state, &req, false).await?;
    let id = submission_id(&id)?;
    let (_, content_type, sealed) = sbx_store::kyc::document(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such submission".into()))?;
    let bytes = state
        .sealer
        .open(&sealed)
        .map_err(|e| ApiError::Internal(format!("opening a KYC document: {e}")))?;
    // Named by us, typed as checked at upload, never rendered as a page.
    let ext = extension(&content_type, &bytes).unwrap_or("bin");
    let disposition =
        actix_web::http::header::ContentDisposition::attachment(format!("submission-{id}.{ext}"));
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(disposition)
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("content-security-policy", "sandbox"))
        .body(bytes))
}

/// A decision's reason.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (shown to the person), at most 500 characters.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// Decide a pending submission: `verify` or `reject`; the person takes that status.
#[utoipa::path(post, path = "/admin/kyc/{id}/{decision}", tag = "admin",
    params(
        ("id" = String, Path, description = "The submission id"),
        ("decision" = String, Path, description = "`verify` or `reject`", pattern = "^(verify|reject)$"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token"),
    ),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "Decided", body = SubmissionView),
        (status = 401, description = "Not signed in (`not_signed_in`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator, or no CSRF token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pending submission", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn decide(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: crate::body::Json<DecisionRequest>,
) -> Reply {
    let op = operator(&state, &req, true).await?;
    let (id, decision) = path.into_inner();
    let id = submission_id(&id)?;
    if sbx_store::kyc::submitter(&state.pool, id).await? == Some(op.user.user_id) {
        return Err(ApiError::Forbidden {
            code: Code::NotAnOperator,
            detail: "an operator may not decide their own identity check".into(),
        });
    }
    let status = match decision.as_str() {
        "verify" => "verified",
        "reject" => "rejected",
        _ => return Err(ApiError::NotFound("decide with verify or reject".into())),
    };
    let reason = body
        .0
        .reason
        .map(|r| r.chars().take(500).collect::<String>());
    let decided = sbx_store::kyc::decide(
        &state.pool,
        id,
        status,
        Some(op.user.user_id),
        reason.as_deref(),
    )
    .await
    .map_err(|e| match e {
        sbx_store::StoreError::NotFound(_) => {
            ApiError::NotFound("no such pending submission".into())
        }
        e => e.into(),
    })?;
    Ok(HttpResponse::Ok().json(SubmissionView::from(decided)))
}

/// A provider's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"type": "kyc.verified", "data": {"email": "ada@example.com", "reference": "chk_42"}}))]
pub struct ProviderEvent {
    /// `kyc.verified` or `kyc.rejected`.
    #[schema(example = "kyc.verified")]
    pub r#type: String,
    /// Whom it is about.
    pub data: ProviderDecision,
}

/// Whom a provider's decision is about.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProviderDecision {
    /// The person's email.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// The provider's reference for the check.
    #[schema(example = "chk_42")]
    pub reference: Option<String>,
}

/// `secret` if it is a usable Standard Webhooks secret: `whsec_` and at least
/// [`MIN_SECRET_BYTES`] bytes in base64 (an empty key would let anyone sign).
pub fn check_secret(secret: &str) -> Result<(), String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| format!("the KYC webhook secret is not whsec_ and base64: {e}"))?;
    if key.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the KYC webhook secret has {} bytes; it needs at least {MIN_SECRET_BYTES}",
            key.len()
        ));
    }
    Ok(())
}

/// Whether `headers` carry a valid Standard Webhooks signature of `body` by `secret`, made
/// within [`WEBHOOK_TOLERANCE_S`] of now.
fn signed(secret: &str, headers: &actix_web::http::header::HeaderMap, body: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sigs)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return false;
    };
    if Utc::now().timestamp().abs_diff(ts) > WEBHOOK_TOLERANCE_S as u64 {
        return false;
    }
    let Some(expected) = crate::webhooks::sign(secret, id, ts, body) else {
        return false;
    };
    sigs.split(' ')
        .any(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
}

/// A KYC provider's decision, signed with the server's `SBX_KYC_WEBHOOK_SECRET` (Standard
/// Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
#[utoipa::path(post, path = "/v1/kyc/webhook", tag = "accounts",
    request_body = ProviderEvent,
    responses(
        (status = 204, description = "Recorded: the person took the status (a `webhook-id` received before is acknowledged and not applied again)"),
        (status = 401, description = "No, a wrong or a stale signature (`invalid_signature`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No KYC provider is configured, or no such person", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn provider_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Reply {
    let Some(secret) = state.kyc_webhook_secret.as_deref() else {
        return Err(ApiError::NotFound(
            "no KYC provider is configured on this server".into(),
        ));
    };
    if !signed(secret, req.headers(), &body) {
        return Err(ApiError::InvalidSignature);
    }
    let event: ProviderEvent = crate::body::json(&req, &body)?;
    let status = match event.r#type.as_str() {
        "kyc.verified" => "verified",
        "kyc.rejected" => "rejected",
        _ => return Err(invalid("type", "type is kyc.verified or kyc.rejected")),
    };
    let webhook_id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    sbx_store::kyc::provider_decision(
        &state.pool,
        webhook_id,
        &event.data.email,
        status,
        event.data.reference.as_deref(),
    )
    .await
    .map_err(|e| match e {
        sbx_store::StoreError::NotFound(_) => ApiError::NotFound("no person has this email".into()),
        e => e.into(),
    })?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    #[test]
    fn age_counts_birthdays() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(super::age_on(d("2008-11-30"), d("2026-11-30")), 18);
        assert_eq!(super::age_on(d("2008-12-01"), d("2026-11-30")), 17);
        assert_eq!(super::age_on(d("2000-02-29"), d("2026-02-28")), 25);
    }
}
