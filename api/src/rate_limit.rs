//! Per-key rate limiting: a governor token bucket per API key, and the headers that tell a
//! client where it stands (IETF draft `RateLimit`/`RateLimit-Policy`, plus the widely parsed
//! `RateLimit-Limit`/`-Remaining`/`-Reset`). The state is per process: durable quotas belong in
//! PostgreSQL.

use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use sbx_limits::RatePolicy;

/// Keyed by [`sbx_store::keys::KeyOwner::rate_key`]: an API key's id, or a person's.
type Keyed = RateLimiter<
    uuid::Uuid,
    DefaultKeyedStateStore<uuid::Uuid>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The limiter every request with a valid key passes through.
pub struct KeyLimiter {
    limiter: Keyed,
    policy: RatePolicy,
}

/// Where a key stands after a request was admitted or refused.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    /// Requests left in the bucket.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_s: u64,
}

impl KeyLimiter {
    /// A limiter applying `policy` to each key.
    pub fn new(policy: RatePolicy) -> Self {
        let per_second = NonZeroU32::new(policy.per_second.max(1)).expect("non-zero");
        let burst = NonZeroU32::new(policy.burst.max(1)).expect("non-zero");
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            policy,
        }
    }

    /// Take one request from `key`'s bucket: its standing, or the wait before it may retry.
    pub fn check(&self, key: uuid::Uuid) -> Result<Standing, Duration> {
        match self.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = self.policy.burst.saturating_sub(remaining);
                Ok(Standing {
                    remaining,
                    reset_s: u64::from(missing).div_ceil(u64::from(self.policy.per_second.max(1))),
                })
            }
            Err(not_until) => Err(not_until.wait_time_from(self.limiter.clock().now())),
        }
    }

    /// Forget keys whose buckets are full again; call now and then to bound memory.
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
    }

    /// Write the rate-limit headers for `standing` into `headers`.
    pub fn write_headers(&self, standing: Standing, headers: &mut HeaderMap) {
        let p = self.policy;
        let set = |h: &mut HeaderMap, name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::try_from(value) {
                h.insert(HeaderName::from_static(name), v);
            }
        };
        set(
            headers,
            "ratelimit-policy",
            format!("\"default\";q={};w={}", p.burst, p.window_s()),
        );
        set(
            headers,
            "ratelimit",
            format!(
                "\"default\";r={};t={}",
                standing.remaining, standing.reset_s
            ),
        );
        set(headers, "ratelimit-limit", p.burst.to_string());
        set(
            headers,
            "ratelimit-remaining",
            standing.remaining.to_string(),
        );
        set(headers, "ratelimit-reset", standing.reset_s.to_string());
    }

    /// The standing of a refused request that must wait `wait`.
    pub fn refused(&self, wait: Duration) -> Standing {
        Standing {
            remaining: 0,
            reset_s: wait.as_secs_f64().ceil() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_refused_with_a_wait() {
        let l = KeyLimiter::new(RatePolicy {
            per_second: 1,
            burst: 3,
        });
        let key = uuid::Uuid::now_v7();
        let remaining: Vec<u32> = (0..3).map(|_| l.check(key).unwrap().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let wait = l.check(key).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(l.check(uuid::Uuid::now_v7()).is_ok());
    }
}
