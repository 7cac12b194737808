//! The limits of one exec and the request-size caps. A request names what it wants; what it
//! leaves out gets a `DEFAULT_*`; anything zero or above its project's ceiling is refused.

use serde::{Deserialize, Serialize};

use crate::{LimitError, ProjectLimits};

/// Wall time of an exec that names none: 10 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Memory of an exec that names none: 512 MiB of linear memory.
pub const DEFAULT_MEMORY_MB: u64 = 512;
/// Disk of an exec that names none: 128 MiB for its `/workspace` and `/tmp` together.
pub const DEFAULT_DISK_MB: u64 = 128;
/// Output cap per stream (stdout, stderr) of an exec that names none: 1 MiB.
pub const DEFAULT_OUTPUT_LIMIT_BYTES: u64 = 1 << 20;
/// Smallest memory an exec may ask for. The Python runtime starts from a snapshot with numpy,
/// pandas and matplotlib already imported: 80 MiB of linear memory before the first line of
/// the caller's code, so less than this would leave a program no room at all.
pub const MIN_MEMORY_MB: u64 = 128;

/// Largest Python source accepted in `code`: 1 MiB.
pub const MAX_CODE_BYTES: usize = 1 << 20;
/// Largest WASI module accepted in `module_b64`, decoded: 32 MiB.
pub const MAX_MODULE_BYTES: usize = 32 << 20;
/// Most files a request may hand in.
pub const MAX_INPUT_FILES: usize = 100;
/// Most bytes all input files may hold together, decoded: 16 MiB.
pub const MAX_INPUT_FILES_BYTES: usize = 16 << 20;
/// Longest path of an input file, in bytes.
pub const MAX_PATH_BYTES: usize = 512;
/// Most files an exec's result returns; more are counted but not returned.
pub const MAX_OUTPUT_FILES: usize = 100;
/// Most bytes of files an exec's result returns together: 8 MiB.
pub const MAX_OUTPUT_FILES_BYTES: u64 = 8 << 20;
/// Most arguments and environment variables, each.
pub const MAX_ARGS: usize = 256;
/// Largest `stdin`: 4 MiB.
pub const MAX_STDIN_BYTES: usize = 4 << 20;
/// Largest request body the API reads: enough for a maximal module in base64 plus files.
pub const MAX_BODY_BYTES: usize = 72 << 20;

/// What a request asked for; `None` means "the default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedLimits {
    /// Wall-time limit, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear-memory limit, in MiB.
    pub memory_mb: Option<u64>,
    /// Output cap per stream, in bytes.
    pub output_limit_bytes: Option<u64>,
    /// Disk cap of `/workspace` and `/tmp` together, in MiB.
    #[serde(default)]
    pub disk_mb: Option<u64>,
}

/// The limits an exec runs under, resolved and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecLimits {
    /// Wall-time limit, in milliseconds.
    pub timeout_ms: u64,
    /// Linear-memory limit, in bytes.
    pub memory_bytes: u64,
    /// Output cap per stream, in bytes.
    pub output_limit_bytes: u64,
    /// Disk cap of `/workspace` and `/tmp` together, in bytes (files too: one per 16 KiB of
    /// it, as ext4 would give). Jobs queued before disk caps existed get the default.
    #[serde(default = "default_disk_bytes")]
    pub disk_bytes: u64,
}

fn default_disk_bytes() -> u64 {
    DEFAULT_DISK_MB << 20
}

impl Default for ExecLimits {
    fn default() -> Self {
        Self {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            memory_bytes: DEFAULT_MEMORY_MB << 20,
            output_limit_bytes: DEFAULT_OUTPUT_LIMIT_BYTES,
            disk_bytes: default_disk_bytes(),
        }
    }
}

fn bounded(field: &'static str, got: u64, min: u64, max: u64) -> Result<u64, LimitError> {
    if got < min {
        Err(LimitError::TooSmall { field, min, got })
    } else if got > max {
        Err(LimitError::TooLarge { field, max, got })
    } else {
        Ok(got)
    }
}

impl ExecLimits {
    /// The limits for `requested` under `project`: defaults filled in (clamped to the
    /// project's ceilings, so a project with a lower ceiling still works without asking), and
    /// every value asked for checked against its floor and ceiling.
    pub fn resolve(
        requested: RequestedLimits,
        project: &ProjectLimits,
    ) -> Result<Self, LimitError> {
        let timeout_ms = match requested.timeout_ms {
            Some(t) => bounded("timeout_ms", t, 1, project.max_timeout_ms)?,
            None => DEFAULT_TIMEOUT_MS.min(project.max_timeout_ms),
        };
        let memory_mb = match requested.memory_mb {
            Some(m) => bounded("memory_mb", m, MIN_MEMORY_MB, project.max_memory_mb)?,
            None => DEFAULT_MEMORY_MB.min(project.max_memory_mb),
        };
        let output_limit_bytes = match requested.output_limit_bytes {
            Some(o) => bounded("output_limit_bytes", o, 1, project.max_output_limit_bytes)?,
            None => DEFAULT_OUTPUT_LIMIT_BYTES.min(project.max_output_limit_bytes),
        };
        let disk_mb = match requested.disk_mb {
            Some(d) => bounded("disk_mb", d, 1, project.max_disk_mb)?,
            None => DEFAULT_DISK_MB.min(project.max_disk_mb),
        };
        Ok(Self {
            timeout_ms,
            memory_bytes: memory_mb << 20,
            output_limit_bytes,
            disk_bytes: disk_mb << 20,
        })
    }
}

/// The limits of one call in a code-interpreter session: its wall time and output cap,
/// resolved as an exec's are (defaults clamped to the project's ceilings, asked values checked
/// against them). Its memory is the session's, set when the sandbox was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-time limit, in milliseconds.
    pub timeout_ms: u64,
    /// Output cap per stream, in bytes.
    pub output_limit_bytes: u64,
}

impl CallLimits {
    /// The limits for a call asking `timeout_ms` and `output_limit_bytes` under `project`.
    pub fn resolve(
        timeout_ms: Option<u64>,
        output_limit_bytes: Option<u64>,
        project: &ProjectLimits,
    ) -> Result<Self, LimitError> {
        let requested = RequestedLimits {
            timeout_ms,
            output_limit_bytes,
            ..RequestedLimits::default()
        };
        let l = ExecLimits::resolve(requested, project)?;
        Ok(Self {
            timeout_ms: l.timeout_ms,
            output_limit_bytes: l.output_limit_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_limits_obeyed_and_violated() {
        let project = ProjectLimits::default();
        let d = CallLimits::resolve(None, None, &project).unwrap();
        assert_eq!(
            (d.timeout_ms, d.output_limit_bytes),
            (DEFAULT_TIMEOUT_MS, DEFAULT_OUTPUT_LIMIT_BYTES)
        );
        let asked = CallLimits::resolve(Some(250), Some(100), &project).unwrap();
        assert_eq!((asked.timeout_ms, asked.output_limit_bytes), (250, 100));
        for (t, o, field) in [
            (Some(0), None, "timeout_ms"),
            (Some(project.max_timeout_ms + 1), None, "timeout_ms"),
            (None, Some(0), "output_limit_bytes"),
            (
                None,
                Some(project.max_output_limit_bytes + 1),
                "output_limit_bytes",
            ),
        ] {
            assert_eq!(
                CallLimits::resolve(t, o, &project).unwrap_err().field(),
                field
            );
        }
    }

    #[test]
    fn nothing_asked_gets_the_defaults() {
        let l = ExecLimits::resolve(RequestedLimits::default(), &ProjectLimits::default()).unwrap();
        assert_eq!(l, ExecLimits::default());
    }

    #[test]
    fn defaults_are_clamped_to_a_lower_ceiling() {
        let project = ProjectLimits {
            max_timeout_ms: 500,
            max_memory_mb: 64,
            ..Default::default()
        };
        let l = ExecLimits::resolve(RequestedLimits::default(), &project).unwrap();
        assert_eq!(l.timeout_ms, 500);
        assert_eq!(l.memory_bytes, 64 << 20);
    }

    #[test]
    fn each_limit_has_a_floor_and_a_ceiling() {
        let project = ProjectLimits::default();
        let cases = [
            (
                RequestedLimits {
                    timeout_ms: Some(0),
                    ..Default::default()
                },
                "timeout_ms",
            ),
            (
                RequestedLimits {
                    timeout_ms: Some(u64::MAX),
                    ..Default::default()
                },
                "timeout_ms",
            ),
            (
                RequestedLimits {
                    memory_mb: Some(1),
                    ..Default::default()
                },
                "memory_mb",
            ),
            (
                RequestedLimits {
                    memory_mb: Some(1 << 40),
                    ..Default::default()
                },
                "memory_mb",
            ),
            (
                RequestedLimits {
                    output_limit_bytes: Some(0),
                    ..Default::default()
                },
                "output_limit_bytes",
            ),
            (
                RequestedLimits {
                    output_limit_bytes: Some(1 << 40),
                    ..Default::default()
                },
                "output_limit_bytes",
            ),
            (
                RequestedLimits {
                    disk_mb: Some(0),
                    ..Default::default()
                },
                "disk_mb",
            ),
            (
                RequestedLimits {
                    disk_mb: Some(project.max_disk_mb + 1),
                    ..Default::default()
                },
                "disk_mb",
            ),
        ];
        for (asked, field) in cases {
            let err = ExecLimits::resolve(asked, &project).unwrap_err();
            assert_eq!(err.field(), field, "{asked:?}");
        }
    }

    #[test]
    fn values_within_bounds_are_kept() {
        let asked = RequestedLimits {
            timeout_ms: Some(1234),
            memory_mb: Some(200),
            output_limit_bytes: Some(10),
            disk_mb: Some(3),
        };
        let l = ExecLimits::resolve(asked, &ProjectLimits::default()).unwrap();
        assert_eq!(
            (
                l.timeout_ms,
                l.memory_bytes,
                l.output_limit_bytes,
                l.disk_bytes
            ),
            (1234, 200 << 20, 10, 3 << 20)
        );
    }
}
