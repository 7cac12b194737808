//! Request bodies read by hand where a handler needs the raw bytes too (idempotency hashes the
//! body): the same checks and problems as the JSON extractor.

use actix_web::HttpRequest;
use actix_web::http::header;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Code};

/// Most characters an `Idempotency-Key` may have.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// `body` parsed as JSON into `T`: 415 if it is not `application/json`, 400 if it is not
/// JSON, 422 if it does not fit `T`.
pub fn json<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !(essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")) {
        return Err(ApiError::UnsupportedMediaType);
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::Invalid {
                code: Code::InvalidRequest,
                detail: e.to_string(),
                field: None,
            }
        } else {
            ApiError::MalformedJson(format!("the body is not valid JSON: {e}"))
        }
    })
}

/// The request's `Idempotency-Key` with the SHA-256 of `body`, when the header is there.
pub fn idempotency(req: &HttpRequest, body: &[u8]) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )));
    }
    Ok(Some((key.to_owned(), Sha256::digest(body).to_vec())))
}
