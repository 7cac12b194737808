//! What a sandbox may ask for: memory as Kubernetes-style quantities ("512Mi", "2Gi"), CPU, GPU
//! shares, its lifetime and idle pause, and the defaults when it asks for nothing.

use serde::{Deserialize, Serialize};

use crate::LimitError;

/// A sandbox's lifetime when the request names none: one hour.
pub const DEFAULT_TIMEOUT_S: u64 = 3600;
/// The longest lifetime a sandbox may have, also after extensions: one day.
pub const MAX_TIMEOUT_S: u64 = 86_400;
/// Memory of a code-interpreter session when the request names none.
pub const DEFAULT_INTERPRETER_MEMORY: u64 = 512 << 20;
/// Idle time after which a code-interpreter session is paused, unless the request says.
pub const DEFAULT_IDLE_PAUSE_S: u64 = 300;
/// The GPU shares a sandbox may ask for, of one card.
pub const GPU_FRACTIONS: &[f64] = &[0.25, 0.5, 0.75, 1.0];
/// Most whole cards one sandbox may ask for.
pub const MAX_GPU_COUNT: u32 = 8;
/// Most CPU cores one sandbox may ask for.
pub const MAX_CPU: f64 = 64.0;

/// Bytes in `q`: a plain number of bytes, or a number with a binary (`Ki`, `Mi`, `Gi`, `Ti`) or
/// decimal (`k`, `K`, `M`, `G`, `T`) suffix.
pub fn parse_bytes(field: &'static str, q: &str) -> Result<u64, LimitError> {
    let bad = || LimitError::Quantity {
        field,
        value: q.to_owned(),
    };
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, unit) = q.split_at(split);
    let scale: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    let n: f64 = number.parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    let bytes = n * scale as f64;
    if bytes > u64::MAX as f64 / 2.0 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// A sandbox's lifetime: `asked` or the default, from 1 s to [`MAX_TIMEOUT_S`].
pub fn timeout_s(asked: Option<u64>) -> Result<u64, LimitError> {
    let t = asked.unwrap_or(DEFAULT_TIMEOUT_S);
    if !(1..=MAX_TIMEOUT_S).contains(&t) {
        return Err(LimitError::OutOfRange {
            field: "timeout_s",
            detail: format!("must be from 1 to {MAX_TIMEOUT_S} seconds; got {t}"),
        });
    }
    Ok(t)
}

/// Which sandboxes need a KYC-verified project owner (`SBX_KYC_REQUIRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KycRule {
    /// Sandboxes and container jobs with a GPU share.
    #[default]
    Gpu,
    /// Every sandbox and container job.
    All,
    /// None.
    None,
}

impl KycRule {
    /// Whether a sandbox (with a GPU share when `gpu`) needs a verified owner.
    pub fn needs_kyc(self, gpu: bool) -> bool {
        match self {
            Self::Gpu => gpu,
            Self::All => true,
            Self::None => false,
        }
    }

    /// What a refusal says.
    pub fn why(self) -> &'static str {
        match self {
            Self::Gpu => "GPU sandboxes need the project owner's identity verified (KYC)",
            _ => "sandboxes need the project owner's identity verified (KYC) on this server",
        }
    }
}

/// A GPU request: a share of one card, or whole cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GpuRequest {
    /// The card model, as the inventory names it ("H100 80GB"), or "any".
    pub r#type: String,
    /// Cards.
    pub count: u32,
    /// Share of each card: one of [`GPU_FRACTIONS`]; below 1 only with `count` 1.
    pub fraction: f64,
}

impl GpuRequest {
    /// Check the request's shape.
    pub fn check(&self) -> Result<(), LimitError> {
        let out = |detail: String| LimitError::OutOfRange {
            field: "gpu",
            detail,
        };
        if self.r#type.trim().is_empty() {
            return Err(out("gpu.type must name a card model, or \"any\"".into()));
        }
        if !(1..=MAX_GPU_COUNT).contains(&self.count) {
            return Err(out(format!(
                "gpu.count must be from 1 to {MAX_GPU_COUNT}; got {}",
                self.count
            )));
        }
        if !GPU_FRACTIONS.contains(&self.fraction) {
            return Err(out(format!(
                "gpu.fraction must be one of 0.25, 0.5, 0.75, 1.0; got {}",
                self.fraction
            )));
        }
        if self.fraction < 1.0 && self.count != 1 {
            return Err(out(
                "a gpu.fraction below 1 is a share of one card: gpu.count must be 1".into(),
            ));
        }
        Ok(())
    }
}

/// CPU cores asked for, checked: more than 0, at most [`MAX_CPU`]. Thousandths of a core.
pub fn cpu_millis(cpu: f64) -> Result<u32, LimitError> {
    if !cpu.is_finite() || cpu <= 0.0 || cpu > MAX_CPU {
        return Err(LimitError::OutOfRange {
            field: "cpu",
            detail: format!("must be more than 0 and at most {MAX_CPU} cores; got {cpu}"),
        });
    }
    Ok((cpu * 1000.0).round().max(1.0) as u32)
}

/// Smallest memory a container sandbox may have.
pub const MIN_CONTAINER_MEMORY: u64 = 16 << 20;
/// Memory of a container sandbox when neither the request nor its image names any.
pub const DEFAULT_CONTAINER_MEMORY: u64 = 1 << 30;
/// Disk of a code-interpreter sandbox that names none: 512 MiB for `/workspace` and `/tmp`.
pub const DEFAULT_INTERPRETER_DISK: u64 = 512 << 20;
/// Disk of a container sandbox or job that names none: 2 GiB for `/workspace` and
/// `/outputs` together (a sparse image: host disk is taken only as it is written, but the
/// whole cap is set aside at placement).
pub const DEFAULT_CONTAINER_DISK: u64 = 2 << 30;
/// Smallest disk a sandbox may have.
pub const MIN_DISK: u64 = 1 << 20;
/// CPU cores of a sandbox when neither the request nor its image names any.
pub const DEFAULT_CPU: f64 = 1.0;

/// What a sandbox request asks of its resources (`None`: the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxRequest<'a> {
    /// Memory as a quantity (`512Mi`).
    pub memory: Option<&'a str>,
    /// Disk as a quantity (`10Gi`).
    pub disk: Option<&'a str>,
    /// CPU cores.
    pub cpu: Option<f64>,
    /// Lifetime, in seconds.
    pub timeout_s: Option<u64>,
    /// Idle seconds before an automatic pause (interpreters; 0: never).
    pub idle_timeout_s: Option<u64>,
    /// A GPU share (containers).
    pub gpu: Option<GpuRequest>,
}

/// Which kind of sandbox a request is for, and what that kind brings.
#[derive(Debug, Clone, Copy)]
pub enum SandboxClass<'a> {
    /// A code-interpreter session: a wasm linear memory, paused when idle.
    Interpreter,
    /// A container, of this catalog image when it is one (its defaults apply).
    Container(Option<&'a crate::catalog::CatalogImage>),
}

/// The resources a sandbox gets: the request resolved against its kind's defaults and checked
/// against the project's ceilings.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxResources {
    /// Memory limit, in bytes.
    pub memory_bytes: u64,
    /// Disk cap, in bytes (files too: one per 16 KiB).
    pub disk_bytes: u64,
    /// CPU, in thousandths of a core.
    pub cpu_millis: u32,
    /// Lifetime, in seconds.
    pub timeout_s: u64,
    /// Idle seconds before an automatic pause; `None`: never (and always for containers).
    pub idle_pause_s: Option<u64>,
    /// The GPU share, checked.
    pub gpu: Option<GpuRequest>,
}

/// `request` for a sandbox of `class` in a project with ceilings `project`: defaults filled
/// in (the image's, then the kind's; an interpreter's default memory and every default disk
/// are clamped to the ceiling), every value checked, in the order memory, disk, CPU, lifetime,
/// idle pause, GPU. The error names the field.
pub fn resolve(
    class: SandboxClass<'_>,
    request: &SandboxRequest<'_>,
    project: &crate::ProjectLimits,
) -> Result<SandboxResources, LimitError> {
    let max_memory_mb = project.max_memory_mb;
    let ceiling = max_memory_mb << 20;
    let defaults = match class {
        SandboxClass::Container(Some(image)) => Some(&image.default_resources),
        _ => None,
    };
    let (default_memory, min_memory) = match class {
        SandboxClass::Interpreter => (
            DEFAULT_INTERPRETER_MEMORY.min(ceiling),
            crate::exec::MIN_MEMORY_MB << 20,
        ),
        SandboxClass::Container(_) => (DEFAULT_CONTAINER_MEMORY, MIN_CONTAINER_MEMORY),
    };
    let memory_bytes = match request
        .memory
        .or_else(|| defaults.map(|d| d.memory.as_str()))
    {
        Some(q) => parse_bytes("memory", q)?,
        None => default_memory,
    };
    if memory_bytes < min_memory || memory_bytes > ceiling {
        return Err(LimitError::OutOfRange {
            field: "memory",
            detail: format!(
                "must be from {}Mi to this project's ceiling of {max_memory_mb}Mi",
                min_memory >> 20
            ),
        });
    }
    let max_disk_mb = project.max_disk_mb;
    let default_disk = match class {
        SandboxClass::Interpreter => DEFAULT_INTERPRETER_DISK,
        SandboxClass::Container(_) => DEFAULT_CONTAINER_DISK,
    };
    let disk_bytes = match request.disk {
        Some(q) => parse_bytes("disk", q)?,
        None => default_disk.min(max_disk_mb << 20),
    };
    if disk_bytes < MIN_DISK || disk_bytes > max_disk_mb << 20 {
        return Err(LimitError::OutOfRange {
            field: "disk",
            detail: format!(
                "must be from {}Mi to this project's ceiling of {max_disk_mb}Mi",
                MIN_DISK >> 20
            ),
        });
    }
    let cpu = request
        .cpu
        .or_else(|| defaults.map(|d| d.cpu))
        .unwrap_or(DEFAULT_CPU);
    let cpu_millis = cpu_millis(cpu)?;
    let timeout_s = timeout_s(request.timeout_s)?;
    let idle_pause_s = match class {
        SandboxClass::Interpreter => {
            let idle = request.idle_timeout_s.unwrap_or(DEFAULT_IDLE_PAUSE_S);
            if idle > MAX_TIMEOUT_S {
                return Err(LimitError::OutOfRange {
                    field: "idle_timeout_s",
                    detail: format!("must be at most {MAX_TIMEOUT_S} seconds"),
                });
            }
            (idle > 0).then_some(idle)
        }
        SandboxClass::Container(_) => None,
    };
    if let Some(g) = &request.gpu {
        g.check()?;
    }
    Ok(SandboxResources {
        memory_bytes,
        disk_bytes,
        cpu_millis,
        timeout_s,
        idle_pause_s,
        gpu: request.gpu.clone(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kyc_rule_says_which_sandboxes_need_a_verified_owner() {
        use super::KycRule::*;
        assert_eq!(
            [Gpu, All, None].map(|r| (r.needs_kyc(false), r.needs_kyc(true))),
            [(false, true), (true, true), (false, false)]
        );
    }

    use super::*;

    /// Default ceilings, but memory at `max_memory_mb`.
    fn ceiling(max_memory_mb: u64) -> crate::ProjectLimits {
        crate::ProjectLimits {
            max_memory_mb,
            ..Default::default()
        }
    }

    #[test]
    fn sandbox_requests_resolve_to_defaults_and_are_checked_against_the_ceiling() {
        let none = SandboxRequest::default();
        let r = resolve(SandboxClass::Interpreter, &none, &ceiling(4096)).unwrap();
        assert_eq!(
            r,
            SandboxResources {
                memory_bytes: DEFAULT_INTERPRETER_MEMORY,
                disk_bytes: DEFAULT_INTERPRETER_DISK,
                cpu_millis: 1000,
                timeout_s: DEFAULT_TIMEOUT_S,
                idle_pause_s: Some(DEFAULT_IDLE_PAUSE_S),
                gpu: None,
            }
        );
        // The interpreter's default is clamped to a low ceiling; an explicit ask is not.
        let low = resolve(SandboxClass::Interpreter, &none, &ceiling(256)).unwrap();
        assert_eq!(low.memory_bytes, 256 << 20);
        let ask = SandboxRequest {
            memory: Some("1Gi"),
            ..Default::default()
        };
        let e = resolve(SandboxClass::Interpreter, &ask, &ceiling(256)).unwrap_err();
        assert_eq!(e.field(), "memory");
        let tiny = SandboxRequest {
            memory: Some("64Mi"),
            ..Default::default()
        };
        assert!(resolve(SandboxClass::Interpreter, &tiny, &ceiling(4096)).is_err());
        assert!(resolve(SandboxClass::Container(None), &tiny, &ceiling(4096)).is_ok());
        let never = SandboxRequest {
            idle_timeout_s: Some(0),
            ..Default::default()
        };
        assert_eq!(
            resolve(SandboxClass::Interpreter, &never, &ceiling(4096))
                .unwrap()
                .idle_pause_s,
            None
        );
        let forever = SandboxRequest {
            idle_timeout_s: Some(MAX_TIMEOUT_S + 1),
            ..Default::default()
        };
        let e = resolve(SandboxClass::Interpreter, &forever, &ceiling(4096)).unwrap_err();
        assert_eq!(e.field(), "idle_timeout_s");
    }

    #[test]
    fn disk_is_a_quantity_within_the_projects_ceiling() {
        let none = SandboxRequest::default();
        let r = resolve(SandboxClass::Container(None), &none, &ceiling(4096)).unwrap();
        assert_eq!(r.disk_bytes, DEFAULT_CONTAINER_DISK);
        let small = crate::ProjectLimits {
            max_disk_mb: 100,
            ..Default::default()
        };
        let r = resolve(SandboxClass::Container(None), &none, &small).unwrap();
        assert_eq!(
            r.disk_bytes,
            100 << 20,
            "the default is clamped to the ceiling"
        );
        for bad in ["0", "-1Gi", "101Mi", "10 apples", "0.5Ki"] {
            let ask = SandboxRequest {
                disk: Some(bad),
                ..Default::default()
            };
            let e = resolve(SandboxClass::Interpreter, &ask, &small).unwrap_err();
            assert_eq!(e.field(), "disk", "{bad}");
        }
        let ask = SandboxRequest {
            disk: Some("64Mi"),
            ..Default::default()
        };
        let r = resolve(SandboxClass::Interpreter, &ask, &small).unwrap();
        assert_eq!(r.disk_bytes, 64 << 20);
    }

    #[test]
    fn a_catalog_images_defaults_apply_unless_the_request_says() {
        let torch = crate::catalog::find("pytorch").unwrap();
        let none = SandboxRequest::default();
        let r = resolve(
            SandboxClass::Container(Some(torch)),
            &none,
            &ceiling(64 << 10),
        )
        .unwrap();
        assert_eq!((r.memory_bytes, r.cpu_millis), (16 << 30, 4000));
        assert_eq!(r.idle_pause_s, None);
        // Over a smaller ceiling, the image's default is refused, naming the field.
        let e = resolve(SandboxClass::Container(Some(torch)), &none, &ceiling(8192)).unwrap_err();
        assert_eq!(e.field(), "memory");
        let ask = SandboxRequest {
            memory: Some("2Gi"),
            cpu: Some(0.5),
            ..Default::default()
        };
        let r = resolve(SandboxClass::Container(Some(torch)), &ask, &ceiling(8192)).unwrap();
        assert_eq!((r.memory_bytes, r.cpu_millis), (2 << 30, 500));
        let custom = resolve(SandboxClass::Container(None), &none, &ceiling(8192)).unwrap();
        assert_eq!((custom.memory_bytes, custom.cpu_millis), (1 << 30, 1000));
        let bad_gpu = SandboxRequest {
            gpu: Some(GpuRequest {
                r#type: "any".into(),
                count: 2,
                fraction: 0.5,
            }),
            ..Default::default()
        };
        let e = resolve(SandboxClass::Container(None), &bad_gpu, &ceiling(8192)).unwrap_err();
        assert_eq!(e.field(), "gpu");
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_bytes("memory", "512Mi"), Ok(512 << 20));
        assert_eq!(parse_bytes("memory", "2Gi"), Ok(2 << 30));
        assert_eq!(parse_bytes("memory", "1.5Gi"), Ok(3 << 29));
        assert_eq!(parse_bytes("memory", "1G"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("memory", "4096"), Ok(4096));
        for bad in ["", "Mi", "2GB", "-1Gi", "2 Gi x", "1e99Ti"] {
            assert!(parse_bytes("memory", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gpu_shares() {
        let g = |count, fraction| GpuRequest {
            r#type: "H100 80GB".into(),
            count,
            fraction,
        };
        assert!(g(1, 0.25).check().is_ok());
        assert!(g(2, 1.0).check().is_ok());
        assert!(g(2, 0.5).check().is_err());
        assert!(g(1, 0.3).check().is_err());
        assert!(g(0, 1.0).check().is_err());
        assert!(g(9, 1.0).check().is_err());
    }

    #[test]
    fn timeouts_and_cpu() {
        assert_eq!(timeout_s(None), Ok(3600));
        assert!(timeout_s(Some(0)).is_err());
        assert!(timeout_s(Some(MAX_TIMEOUT_S + 1)).is_err());
        assert_eq!(cpu_millis(0.5), Ok(500));
        assert!(cpu_millis(0.0).is_err());
        assert!(cpu_millis(f64::NAN).is_err());
    }
}
