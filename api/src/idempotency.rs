//! `Idempotency-Key` on every creating POST (jobs, batches, sandboxes): the same key with the
//! same body answers with what the first request made (200); the key with another body is a 422
//! naming the header; a request that loses the insert race to another with its key answers
//! with the winner's object, or 409 while that one is still being made.
//!
//! Each route finds what its key made (`by_idempotency_key` in its store module) and says how to
//! show it; this module decides what the answer is.

use actix_web::HttpResponse;

use crate::error::{ApiError, Code};

/// The answer to a request repeating an Idempotency-Key, from what that key made (`found`: the
/// object and the SHA-256 of the body it was made with) and this request's body `hash`:
/// `Ok(None)` if the key made nothing yet, the object shown by `show` (200) if the bodies
/// match, and `idempotency_key_reused` (422) if they do not.
pub fn replay<T>(
    found: Option<(T, Option<Vec<u8>>)>,
    hash: &[u8],
    show: impl FnOnce(T) -> HttpResponse,
) -> Result<Option<HttpResponse>, ApiError> {
    match found {
        None => Ok(None),
        Some((made, stored)) if stored.as_deref() == Some(hash) => Ok(Some(show(made))),
        Some(_) => Err(ApiError::invalid(
            Code::IdempotencyKeyReused,
            "Idempotency-Key",
            "this Idempotency-Key was used with another request body",
        )),
    }
}

/// The answer when an insert lost the race to another request with the same key (the store
/// said `Duplicate`) and [`replay`] finds nothing yet: that request has not committed (409).
pub fn in_flight() -> ApiError {
    ApiError::Conflict("a request with this Idempotency-Key is in flight".into())
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError as _;

    use super::*;

    #[test]
    fn a_key_replays_only_the_body_it_came_with() {
        let ok = |n: i32| HttpResponse::Ok().json(n);
        assert!(replay::<i32>(None, b"h", ok).unwrap().is_none());
        let same = replay(Some((7, Some(b"h".to_vec()))), b"h", ok).unwrap();
        assert_eq!(same.unwrap().status(), 200);
        let other = replay(Some((7, Some(b"h".to_vec()))), b"other", ok).unwrap_err();
        assert_eq!(other.status_code().as_u16(), 422);
        assert_eq!(other.code(), Code::IdempotencyKeyReused);
        assert_eq!(in_flight().status_code().as_u16(), 409);
    }
}
