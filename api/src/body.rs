//! Request bodies read by hand where a handler needs the raw bytes too (idempotency hashes the
//! body): the same checks and problems as the JSON extractor.

use actix_web::HttpRequest;
use actix_web::http::header;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Code};

/// Most bytes of a refused request's body read and dropped ([`drain`]) before the refusal is
/// sent; past it the connection is closed instead.
pub const MAX_DRAINED_BYTES: usize = 64 << 20;
/// Longest a refused request's body is read for ([`drain`]).
pub const MAX_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Read and drop what is left of a request's body (at most [`MAX_DRAINED_BYTES`], for at most
/// [`MAX_DRAIN_TIME`]), so that a client still sending it (a streamed upload refused before it
/// was read: 401, 429, 404, 409) reads the answer instead of stalling on a full connection,
/// and its connection is kept. Past either bound actix closes the connection after answering.
pub async fn drain<E>(mut body: impl futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin) {
    use futures_util::StreamExt as _;
    let read = async {
        let mut seen = 0;
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len();
            if seen > MAX_DRAINED_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(MAX_DRAIN_TIME, read).await;
}

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
    parse_json(body)
}

/// `body` (JSON) parsed into `T`: 400 if it is not JSON, 422 naming the field if it does not
/// fit `T`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let malformed =
        |e: &serde_json::Error| ApiError::MalformedJson(format!("the body is not valid JSON: {e}"));
    let de = &mut serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut *de);
    let value = match parsed {
        Ok(value) => value,
        // JSON Schema (and so the OpenAPI document) counts `3.0` as an integer: a body that
        // failed only on such a number is read again with those numbers made integers. The
        // common body, without them, is read once.
        Err(e) if e.inner().is_data() && is_fraction_type_error(&e) => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| malformed(&e))?;
            return from_value(value);
        }
        Err(e) if e.inner().is_data() => return Err(misfit(e)),
        Err(e) => return Err(malformed(e.inner())),
    };
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// `value` (a JSON body already parsed) as `T`: 422 naming the field if it does not fit.
/// Numbers with no fractional part (`3.0`, `1e3`) are integers, as in JSON Schema.
pub fn from_value<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, ApiError> {
    integral_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(misfit)
}

/// Whether `e` is serde's refusal of a float where an integer was wanted.
fn is_fraction_type_error(e: &serde_path_to_error::Error<serde_json::Error>) -> bool {
    e.inner()
        .to_string()
        .starts_with("invalid type: floating point")
}

/// Every number in `value` that is a float with no fractional part, within `i64` or `u64`,
/// made that integer.
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                // 2^63 and 2^64 are exact as f64; the casts saturate, so check the range first.
                if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                    *n = (f as i64).into();
                } else if (0.0..1.844_674_407_370_955_2e19).contains(&f) {
                    *n = (f as u64).into();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// The 422 for a body that is JSON but does not fit its type, naming the field where it does
/// not (`items[3].disk_mb`, or the missing one: `items[3].code`), or none for the body as a
/// whole (not an object).
fn misfit(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let detail = e.inner().to_string();
    // serde_json's own position ("at line 1 column 24") says nothing the field does not.
    let detail = match detail.rfind(" at line ") {
        Some(at) => detail[..at].to_owned(),
        None => detail,
    };
    let at = (path != ".").then_some(path);
    let detail = match &at {
        Some(f) => format!("{f}: {detail}"),
        None => detail,
    };
    // A missing field is reported at the object that lacks it: the field is the one missing.
    let missing = e
        .inner()
        .to_string()
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned());
    let field = match (at, missing) {
        (Some(at), Some(name)) => Some(format!("{at}.{name}")),
        (None, Some(name)) => Some(name),
        (at, None) => at,
    };
    ApiError::Invalid {
        code: Code::InvalidRequest,
        detail,
        field,
    }
}

/// A JSON body as `T`, read like [`json`]: a type error names its field (actix-web's own
/// extractor cannot). The body is at most the app's `PayloadConfig` limit.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> actix_web::FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let bytes = actix_web::web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = bytes.await.map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    ApiError::TooLarge {
                        detail: format!(
                            "the body is over {} bytes",
                            sbx_limits::exec::MAX_BODY_BYTES
                        ),
                        field: None,
                    }
                } else {
                    ApiError::BadRequest(format!("the body could not be read: {e}"))
                }
            })?;
            Ok(Json(json(&req, &body)?))
        })
    }
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
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| (b' '..=b'~').contains(&b))
    {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )));
    }
    Ok(Some((key.to_owned(), Sha256::digest(body).to_vec())))
}
