//! Prices per resource-second and the cost arithmetic of the meter and `GET /v1/usage`.
//!
//! Every price is in **USD per second of one unit** of its resource: a CPU core, a GiB of
//! memory, a whole GPU card, a GiB of stored snapshot, one running exec. The defaults are
//! roughly what clouds charge on demand; `SBX_PRICES` overrides any of them (see
//! [`Prices::parse`]).
//!
//! # Rounding
//! A cost is computed in `f64` and rounded once, to the nearest whole nano-dollar
//! ([`UsdNanos`], 10⁻⁹ USD). Sums are sums of those integers: exact, and the same in any order
//! or grouping, so a usage breakdown always adds up to its total. Convert to dollars only to
//! show a figure. A nano-dollar is about a fourteen-thousandth of a core-second, but a GiB of
//! storage costs only 40 of them a second: price aggregated resource-seconds (a workload's
//! GiB-seconds over a sampling batch or a report's range) rather than each one-second sample,
//! so rounding stays far below a cent.

use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::LimitError;

/// Nano-dollars in one US dollar.
pub const NANOS_PER_USD: u64 = 1_000_000_000;

/// A CPU core for one second, unless configured: about $0.05 a core-hour.
pub const DEFAULT_CPU_CORE_SECOND: f64 = 0.000_014;
/// A GiB of memory for one second, unless configured: about $0.016 a GiB-hour.
pub const DEFAULT_MEMORY_GIB_SECOND: f64 = 0.000_004_5;
/// A whole GPU card of a model without its own price, for one second: about $2.16 an hour.
pub const DEFAULT_GPU_SECOND: f64 = 0.000_6;
/// A whole H100 for one second, unless configured: about $3.96 an hour.
pub const DEFAULT_H100_SECOND: f64 = 0.001_1;
/// A whole A10G for one second, unless configured: about $1.08 an hour.
pub const DEFAULT_A10G_SECOND: f64 = 0.000_3;
/// A GiB of paused-sandbox snapshot stored for one second: about $0.10 a GiB-month.
pub const DEFAULT_STORAGE_GIB_SECOND: f64 = 0.000_000_04;
/// One second of a wasm exec, CPU and memory included: about one core and half a GiB.
pub const DEFAULT_EXEC_SECOND: f64 = 0.000_016;

/// An amount of money in whole nano-dollars (10⁻⁹ USD): what costs are summed in. Additions
/// saturate rather than wrap (u64 holds about 18 billion dollars).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UsdNanos(pub u64);

impl UsdNanos {
    /// The amount in dollars, for display.
    pub fn usd(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }
}

impl Add for UsdNanos {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for UsdNanos {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl std::iter::Sum for UsdNanos {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), Add::add)
    }
}

/// What is billed, with the unit its quantity is counted in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "resource", rename_all = "snake_case")]
pub enum Resource {
    /// CPU, in cores (fractions allowed).
    Cpu,
    /// Memory, in GiB.
    Memory,
    /// A GPU of this model, in cards' worth: 0.25 for a quarter share, 2 for two cards.
    Gpu {
        /// The card model, as the inventory names it.
        model: String,
    },
    /// A paused sandbox's stored snapshot, in GiB.
    Storage,
    /// A running wasm exec, in execs (CPU and memory included in its price).
    Exec,
}

impl Resource {
    /// The resource's stable name in usage reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Gpu { .. } => "gpu",
            Self::Storage => "storage",
            Self::Exec => "exec",
        }
    }

    /// The unit the quantity is counted in.
    pub fn unit(&self) -> &'static str {
        match self {
            Self::Cpu => "core",
            Self::Memory | Self::Storage => "GiB",
            Self::Gpu { .. } => "card",
            Self::Exec => "exec",
        }
    }
}

/// Prices per resource-second, in USD per second of one unit (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "PriceOverrides")]
pub struct Prices {
    /// One CPU core for one second.
    pub cpu_core_second: f64,
    /// One GiB of memory for one second.
    pub memory_gib_second: f64,
    /// One whole card for one second, per model. A model is priced by the key that names it
    /// exactly (ignoring case and spacing), else by the longest key found in its name as whole
    /// words ("H100" prices "NVIDIA H100 80GB HBM3"), else by `gpu_default_second`.
    pub gpu_second: BTreeMap<String, f64>,
    /// One whole card of a model `gpu_second` does not price, for one second.
    pub gpu_default_second: f64,
    /// One GiB of paused-sandbox snapshot stored for one second.
    pub storage_gib_second: f64,
    /// One wasm exec running for one second.
    pub exec_second: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            cpu_core_second: DEFAULT_CPU_CORE_SECOND,
            memory_gib_second: DEFAULT_MEMORY_GIB_SECOND,
            gpu_second: BTreeMap::from([
                ("A10G".to_owned(), DEFAULT_A10G_SECOND),
                ("H100".to_owned(), DEFAULT_H100_SECOND),
            ]),
            gpu_default_second: DEFAULT_GPU_SECOND,
            storage_gib_second: DEFAULT_STORAGE_GIB_SECOND,
            exec_second: DEFAULT_EXEC_SECOND,
        }
    }
}

/// Prices as configured: each field given replaces its default; `gpu_second` entries are added
/// to the default models' (a default model's price can be changed, not removed).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceOverrides {
    cpu_core_second: Option<f64>,
    memory_gib_second: Option<f64>,
    gpu_second: Option<BTreeMap<String, f64>>,
    gpu_default_second: Option<f64>,
    storage_gib_second: Option<f64>,
    exec_second: Option<f64>,
}

impl TryFrom<PriceOverrides> for Prices {
    type Error = LimitError;

    fn try_from(o: PriceOverrides) -> Result<Self, LimitError> {
        let mut p = Prices::default();
        let fields = [
            ("cpu_core_second", o.cpu_core_second, &mut p.cpu_core_second),
            (
                "memory_gib_second",
                o.memory_gib_second,
                &mut p.memory_gib_second,
            ),
            (
                "gpu_default_second",
                o.gpu_default_second,
                &mut p.gpu_default_second,
            ),
            (
                "storage_gib_second",
                o.storage_gib_second,
                &mut p.storage_gib_second,
            ),
            ("exec_second", o.exec_second, &mut p.exec_second),
        ];
        for (field, given, price) in fields {
            if let Some(value) = given {
                *price = checked(field.to_owned(), value)?;
            }
        }
        for (model, value) in o.gpu_second.unwrap_or_default() {
            let field = format!("gpu_second.{model}");
            let model = model.split_whitespace().collect::<Vec<_>>().join(" ");
            if model.is_empty() {
                return Err(LimitError::BlankPriceModel);
            }
            let value = checked(field, value)?;
            // A key that names a default model in another case replaces it.
            p.gpu_second.retain(|k, _| !k.eq_ignore_ascii_case(&model));
            p.gpu_second.insert(model, value);
        }
        Ok(p)
    }
}

fn checked(field: String, value: f64) -> Result<f64, LimitError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(LimitError::Price { field, value })
    }
}

/// The lowercase words of a model name.
fn words(model: &str) -> Vec<String> {
    model.split_whitespace().map(str::to_lowercase).collect()
}

impl Prices {
    /// Prices from a settings value: a JSON object overriding any default field, e.g.
    /// `{"cpu_core_second": 0.00002, "gpu_second": {"A100 80GB": 0.0008}}`. Unknown fields are
    /// refused (a typo must not silently bill at the default). Empty or blank: the defaults.
    pub fn parse(s: &str) -> Result<Self, LimitError> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        // In two steps, so that a bad value is reported as such rather than as bad JSON.
        let overrides: PriceOverrides =
            serde_json::from_str(s).map_err(|e| LimitError::PriceJson(e.to_string()))?;
        Self::try_from(overrides)
    }

    /// Price of one whole card of `model` for one second (see [`Prices::gpu_second`]).
    pub fn gpu_price(&self, model: &str) -> f64 {
        let model = words(model);
        let mut best: Option<(usize, usize, f64)> = None;
        for (key, &price) in &self.gpu_second {
            let key = words(key);
            if key.is_empty() {
                continue;
            }
            if key == model {
                return price;
            }
            let found = model.windows(key.len()).any(|w| w == key.as_slice());
            let score = (key.len(), key.iter().map(String::len).sum::<usize>());
            // Strictly longer only: among equal keys the first in key order wins.
            if found && best.is_none_or(|(w, c, _)| score > (w, c)) {
                best = Some((score.0, score.1, price));
            }
        }
        best.map_or(self.gpu_default_second, |(_, _, price)| price)
    }

    /// Price of one unit of `resource` for one second, in USD.
    pub fn price(&self, resource: &Resource) -> f64 {
        match resource {
            Resource::Cpu => self.cpu_core_second,
            Resource::Memory => self.memory_gib_second,
            Resource::Gpu { model } => self.gpu_price(model),
            Resource::Storage => self.storage_gib_second,
            Resource::Exec => self.exec_second,
        }
    }

    /// Cost of `quantity` units of `resource` (see [`Resource`] for the units) held for
    /// `seconds`, rounded to the nearest nano-dollar. A negative, NaN or infinite quantity or
    /// duration costs nothing: a metering bug must not credit a wallet or poison a sum.
    pub fn cost_nanos(&self, resource: &Resource, quantity: f64, seconds: f64) -> UsdNanos {
        let valid = |x: f64| x.is_finite() && x >= 0.0;
        if !valid(quantity) || !valid(seconds) {
            return UsdNanos(0);
        }
        let nanos = self.price(resource) * quantity * seconds * NANOS_PER_USD as f64;
        // `as` saturates at u64::MAX.
        UsdNanos(nanos.round() as u64)
    }

    /// [`Prices::cost_nanos`] in USD, for display: sum [`UsdNanos`], not these.
    pub fn cost(&self, resource: &Resource, quantity: f64, seconds: f64) -> f64 {
        self.cost_nanos(resource, quantity, seconds).usd()
    }
}

/// What a running workload holds: its CPU and memory allocation and its GPU share.
#[derive(Debug, Clone, PartialEq)]
pub struct Held<'a> {
    /// CPU, in thousandths of a core.
    pub cpu_millis: i32,
    /// Memory, in bytes.
    pub memory_bytes: i64,
    /// The GPU card model and the cards' worth held (0.25 to the card count), if any.
    pub gpu: Option<(&'a str, f64)>,
}

/// What holding a [`Held`] for some seconds amounts to: the resource-seconds and their cost in
/// USD (each rounded to the nano-dollar, as [`Prices::cost_nanos`] does).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Charge {
    /// Cores held, times seconds.
    pub cpu_core_seconds: f64,
    /// GiB of memory held, times seconds.
    pub memory_gib_seconds: f64,
    /// Cards' worth of GPU held, times seconds.
    pub gpu_card_seconds: f64,
    /// Cost of the CPU.
    pub cpu_cost: f64,
    /// Cost of the memory.
    pub memory_cost: f64,
    /// Cost of the GPU share.
    pub gpu_cost: f64,
}

/// The charge for holding `held` for `seconds` at `prices`: what the meter records for a
/// running container each second and what `GET /v1/usage` adds up for a running interpreter.
pub fn charge(prices: &Prices, held: &Held<'_>, seconds: f64) -> Charge {
    let cores = f64::from(held.cpu_millis) / 1000.0;
    let gib = held.memory_bytes as f64 / f64::from(1u32 << 30);
    let (gpu_card_seconds, gpu_cost) = match held.gpu {
        Some((model, share)) => (
            share * seconds,
            prices.cost(
                &Resource::Gpu {
                    model: model.to_owned(),
                },
                share,
                seconds,
            ),
        ),
        None => (0.0, 0.0),
    };
    Charge {
        cpu_core_seconds: cores * seconds,
        memory_gib_seconds: gib * seconds,
        gpu_card_seconds,
        cpu_cost: prices.cost(&Resource::Cpu, cores, seconds),
        memory_cost: prices.cost(&Resource::Memory, gib, seconds),
        gpu_cost,
    }
}

impl FromStr for Prices {
    type Err = LimitError;

    fn from_str(s: &str) -> Result<Self, LimitError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(model: &str) -> Resource {
        Resource::Gpu {
            model: model.into(),
        }
    }

    #[test]
    fn default_costs() {
        let p = Prices::default();
        assert_eq!(p.cost_nanos(&Resource::Cpu, 1.0, 1.0), UsdNanos(14_000));
        assert_eq!(
            p.cost_nanos(&Resource::Cpu, 2.0, 3600.0),
            UsdNanos(100_800_000)
        );
        assert_eq!(p.cost_nanos(&Resource::Memory, 0.5, 1.0), UsdNanos(2_250));
        assert_eq!(p.cost_nanos(&Resource::Storage, 1.0, 1.0), UsdNanos(40));
        assert_eq!(p.cost_nanos(&Resource::Exec, 1.0, 0.25), UsdNanos(4_000));
        assert_eq!(
            p.cost_nanos(&gpu("H100 80GB"), 1.0, 1.0),
            UsdNanos(1_100_000)
        );
        assert_eq!(
            p.cost_nanos(&gpu("H100 80GB"), 0.25, 4.0),
            UsdNanos(1_100_000)
        );
        assert_eq!(p.cost_nanos(&gpu("A10G 24GB"), 2.0, 1.0), UsdNanos(600_000));
        assert_eq!(p.cost_nanos(&gpu("L4"), 1.0, 1.0), UsdNanos(600_000));
        assert!((p.cost(&gpu("H100 80GB"), 1.0, 3600.0) - 3.96).abs() < 1e-12);
    }

    #[test]
    fn rounding_is_once_to_the_nearest_nano_dollar() {
        let p = Prices::default();
        // 0.1 GiB stored for a second: 4 nano-dollars exactly; 0.01 GiB: 0.4, rounds to 0.
        assert_eq!(p.cost_nanos(&Resource::Storage, 0.1, 1.0), UsdNanos(4));
        assert_eq!(p.cost_nanos(&Resource::Storage, 0.01, 1.0), UsdNanos(0));
        // Priced as an aggregate, the same usage is not lost.
        assert_eq!(
            p.cost_nanos(&Resource::Storage, 0.01, 3600.0),
            UsdNanos(1_440)
        );
        // 1/3 core for a second: 4666.67 rounds up.
        assert_eq!(
            p.cost_nanos(&Resource::Cpu, 1.0 / 3.0, 1.0),
            UsdNanos(4_667)
        );
    }

    #[test]
    fn sums_are_exact_in_any_order() {
        let p = Prices::default();
        let costs: Vec<UsdNanos> = (1..=1000)
            .map(|i| p.cost_nanos(&Resource::Memory, f64::from(i) * 0.37, 1.0))
            .collect();
        let forward: UsdNanos = costs.iter().copied().sum();
        let backward: UsdNanos = costs.iter().rev().copied().sum();
        let halves = costs[..500].iter().copied().sum::<UsdNanos>()
            + costs[500..].iter().copied().sum::<UsdNanos>();
        assert_eq!(forward, backward);
        assert_eq!(forward, halves);
        assert_eq!(UsdNanos(u64::MAX) + UsdNanos(1), UsdNanos(u64::MAX));
        let mut total = UsdNanos(1);
        total += UsdNanos(2);
        assert_eq!(total, UsdNanos(3));
        assert_eq!(UsdNanos(1_500_000_000).usd(), 1.5);
    }

    #[test]
    fn bad_quantities_cost_nothing() {
        let p = Prices::default();
        for (q, s) in [
            (-1.0, 1.0),
            (1.0, -1.0),
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
        ] {
            assert_eq!(p.cost_nanos(&Resource::Cpu, q, s), UsdNanos(0), "{q} {s}");
        }
        assert_eq!(p.cost_nanos(&Resource::Cpu, 0.0, 10.0), UsdNanos(0));
        assert_eq!(p.cost_nanos(&Resource::Cpu, 1e30, 1e30), UsdNanos(u64::MAX));
    }

    #[test]
    fn gpu_models_are_priced_by_the_best_key() {
        let p = Prices::parse(
            r#"{"gpu_second": {"H100 80GB": 0.002, "A100": 0.0008, "a100 80gb": 0.0009}}"#,
        )
        .unwrap();
        assert_eq!(p.gpu_price("H100 80GB"), 0.002);
        assert_eq!(p.gpu_price("h100  80gb"), 0.002);
        assert_eq!(p.gpu_price("NVIDIA H100 80GB HBM3"), 0.002, "longest key");
        assert_eq!(p.gpu_price("NVIDIA H100 NVL"), DEFAULT_H100_SECOND);
        assert_eq!(p.gpu_price("NVIDIA A100-SXM4-40GB"), DEFAULT_GPU_SECOND);
        assert_eq!(p.gpu_price("NVIDIA A100 40GB"), 0.0008);
        assert_eq!(p.gpu_price("A100 80GB PCIe"), 0.0009);
        assert_eq!(p.gpu_price("NVIDIA A10G"), DEFAULT_A10G_SECOND);
        assert_eq!(p.gpu_price("H1000"), DEFAULT_GPU_SECOND, "whole words only");
        assert_eq!(p.gpu_price(""), DEFAULT_GPU_SECOND);
    }

    #[test]
    fn settings_override_any_field() {
        assert_eq!(Prices::parse("").unwrap(), Prices::default());
        assert_eq!(Prices::parse("  {} ").unwrap(), Prices::default());
        let p: Prices = r#"{
            "cpu_core_second": 0.00002,
            "memory_gib_second": 0,
            "gpu_default_second": 0.0005,
            "storage_gib_second": 1e-8,
            "exec_second": 0.00001,
            "gpu_second": {"h100": 0.001, "L4  24GB": 0.0002}
        }"#
        .parse()
        .unwrap();
        assert_eq!(p.cpu_core_second, 0.00002);
        assert_eq!(p.memory_gib_second, 0.0);
        assert_eq!(p.gpu_default_second, 0.0005);
        assert_eq!(p.storage_gib_second, 1e-8);
        assert_eq!(p.exec_second, 0.00001);
        assert_eq!(
            p.gpu_second,
            BTreeMap::from([
                ("A10G".to_owned(), DEFAULT_A10G_SECOND),
                ("L4 24GB".to_owned(), 0.0002),
                ("h100".to_owned(), 0.001),
            ]),
            "merged with the defaults; a default model in another case is replaced"
        );
        let only_cpu = Prices::parse(r#"{"cpu_core_second": 0.1}"#).unwrap();
        assert_eq!(
            only_cpu,
            Prices {
                cpu_core_second: 0.1,
                ..Prices::default()
            }
        );
        // What is served back parses to the same prices.
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(Prices::parse(&json).unwrap(), p);
    }

    #[test]
    fn bad_settings() {
        let cases = [
            ("[1, 2]", "JSON object"),
            ("{", "JSON object"),
            (r#"{"cpu_second": 1}"#, "unknown field"),
            (r#"{"cpu_core_second": "cheap"}"#, "invalid type"),
            (r#"{"cpu_core_second": -1}"#, "cpu_core_second must be"),
            (
                r#"{"gpu_second": {"H100": -0.5}}"#,
                "gpu_second.H100 must be",
            ),
            (r#"{"gpu_second": {" ": 0.5}}"#, "blank model"),
            (r#"{"gpu_second": 0.5}"#, "invalid type"),
        ];
        for (json, says) in cases {
            let e = Prices::parse(json).unwrap_err();
            assert!(e.to_string().contains(says), "{json}: {e}");
        }
    }

    #[test]
    fn resource_names_and_units() {
        assert_eq!(gpu("T4").name(), "gpu");
        assert_eq!(gpu("T4").unit(), "card");
        assert_eq!(Resource::Memory.unit(), "GiB");
        assert_eq!(
            serde_json::to_value(gpu("T4")).unwrap(),
            serde_json::json!({"resource": "gpu", "model": "T4"})
        );
        assert_eq!(
            serde_json::to_value(Resource::Cpu).unwrap(),
            serde_json::json!({"resource": "cpu"})
        );
    }

    #[test]
    fn a_charge_is_the_sum_of_its_resources_at_their_prices() {
        let prices = Prices::default();
        let held = Held {
            cpu_millis: 2000,
            memory_bytes: 4 << 30,
            gpu: None,
        };
        let c = charge(&prices, &held, 10.0);
        assert_eq!(c.cpu_core_seconds, 20.0);
        assert_eq!(c.memory_gib_seconds, 40.0);
        assert_eq!(c.cpu_cost, prices.cost(&Resource::Cpu, 2.0, 10.0));
        assert_eq!(c.memory_cost, prices.cost(&Resource::Memory, 4.0, 10.0));
        assert_eq!((c.gpu_card_seconds, c.gpu_cost), (0.0, 0.0));
        let with_gpu = Held {
            gpu: Some(("H100 80GB", 0.5)),
            ..held
        };
        let g = charge(&prices, &with_gpu, 10.0);
        assert_eq!(g.gpu_card_seconds, 5.0);
        assert_eq!(g.gpu_cost, prices.cost(&gpu("H100 80GB"), 0.5, 10.0));
        assert_eq!(charge(&prices, &held, 0.0), Charge::default());
    }
}
