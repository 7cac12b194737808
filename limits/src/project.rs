//! A project's limits: the ceiling on what any one exec may ask for, how many may run at once,
//! and how fast its keys may call the API.

use serde::{Deserialize, Serialize};

/// Longest wall time an exec may ask for unless the project says otherwise: 5 minutes.
pub const DEFAULT_MAX_TIMEOUT_MS: u64 = 300_000;
/// Most memory an exec may ask for unless the project says otherwise: 2 GiB.
pub const DEFAULT_MAX_MEMORY_MB: u64 = 2048;
/// Largest per-stream output cap an exec may ask for: 16 MiB.
pub const DEFAULT_MAX_OUTPUT_LIMIT_BYTES: u64 = 16 << 20;
/// Most disk any one workload may ask for unless the project says otherwise: 10 GiB (an
/// exec's `disk_mb`, a sandbox's or a job's `disk`).
pub const DEFAULT_MAX_DISK_MB: u64 = 10 << 10;
/// Execs of one project running at once, across its keys.
pub const DEFAULT_MAX_CONCURRENT_EXECS: u32 = 32;

/// The ceilings one project's requests are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectLimits {
    /// Longest `timeout_ms` an exec may ask for, in milliseconds.
    pub max_timeout_ms: u64,
    /// Most `memory_mb` an exec may ask for, in MiB.
    pub max_memory_mb: u64,
    /// Largest `output_limit_bytes` an exec may ask for, in bytes (per stream).
    pub max_output_limit_bytes: u64,
    /// Execs of this project that may run at once; past it the API answers 429.
    pub max_concurrent_execs: u32,
    /// Most disk any one workload may ask for, in MiB (`disk_mb`, `disk`).
    #[serde(default = "default_max_disk_mb")]
    pub max_disk_mb: u64,
}

fn default_max_disk_mb() -> u64 {
    DEFAULT_MAX_DISK_MB
}

impl Default for ProjectLimits {
    fn default() -> Self {
        Self {
            max_timeout_ms: DEFAULT_MAX_TIMEOUT_MS,
            max_memory_mb: DEFAULT_MAX_MEMORY_MB,
            max_output_limit_bytes: DEFAULT_MAX_OUTPUT_LIMIT_BYTES,
            max_concurrent_execs: DEFAULT_MAX_CONCURRENT_EXECS,
            max_disk_mb: DEFAULT_MAX_DISK_MB,
        }
    }
}

/// Requests per second a key may make on average, unless configured.
pub const DEFAULT_RATE_PER_SECOND: u32 = 200;
/// Requests a key may make at once above its average rate, unless configured.
pub const DEFAULT_RATE_BURST: u32 = 400;

/// A token-bucket policy: `per_second` tokens refill each second, up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatePolicy {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Bucket size: requests allowed at once.
    pub burst: u32,
}

impl Default for RatePolicy {
    fn default() -> Self {
        Self {
            per_second: DEFAULT_RATE_PER_SECOND,
            burst: DEFAULT_RATE_BURST,
        }
    }
}

impl RatePolicy {
    /// The window, in whole seconds, in which a full bucket refills; what the
    /// `RateLimit-Policy` header calls `w`.
    pub fn window_s(&self) -> u64 {
        u64::from(self.burst)
            .div_ceil(u64::from(self.per_second.max(1)))
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_the_time_to_refill_the_bucket() {
        let p = RatePolicy {
            per_second: 10,
            burst: 25,
        };
        assert_eq!(p.window_s(), 3);
        let p = RatePolicy {
            per_second: 100,
            burst: 10,
        };
        assert_eq!(p.window_s(), 1);
    }
}
