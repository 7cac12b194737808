//! `GET /v1/usage`: what the project used and what it costs, over a time range, by resource,
//! by sandbox or by day: the wallet's expenditure breakdown. See `sbx_store::usage` for where
//! each figure comes from.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, DurationRound, Utc};
use sbx_core::sandbox::{SandboxKind, SandboxState};
use sbx_limits::billing::{self, Resource};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Ctx, Reply};
use crate::error::ApiError;
use sbx_core::ids::{ProjectId, SandboxId};

/// Query of `GET /v1/usage`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Start of the range (RFC 3339); default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End of the range, exclusive (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
    /// How rows are grouped; default `resource`.
    #[param(inline)]
    pub group_by: Option<GroupBy>,
    /// Only this sandbox's usage (its cost so far, with `from` at its creation); execs are
    /// left out. A sandbox of another project, or none, gives an empty report.
    #[param(value_type = Option<String>, format = Uuid)]
    pub sandbox_id: Option<SandboxId>,
}

/// How `GET /v1/usage` groups its rows: by resource (`cpu`, `memory`, …), by sandbox (execs
/// together as `execs`) or by UTC day.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One row per resource.
    #[default]
    Resource,
    /// One row per sandbox, and `execs`.
    Sandbox,
    /// One row per UTC day.
    Day,
}

impl GroupBy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Resource => "resource",
            Self::Sandbox => "sandbox",
            Self::Day => "day",
        }
    }
}

/// Amounts of one group.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct Amounts {
    /// Seconds running (sandboxes) or executing (execs).
    pub running_seconds: f64,
    /// Seconds paused.
    pub paused_seconds: f64,
    /// Core-seconds of CPU allocated.
    pub cpu_core_seconds: f64,
    /// GiB-seconds of memory allocated.
    pub memory_gib_seconds: f64,
    /// Card-seconds of GPU held (a quarter share for 4 s is 1).
    pub gpu_card_seconds: f64,
    /// GiB-seconds of snapshots kept while paused.
    pub storage_gib_seconds: f64,
    /// Exec seconds.
    pub exec_seconds: f64,
    /// Cost per resource, USD.
    pub cost_by_resource: BTreeMap<&'static str, f64>,
    /// Total cost, USD.
    pub cost: f64,
}

impl Amounts {
    fn charge(&mut self, resource: &'static str, cost: f64) {
        *self.cost_by_resource.entry(resource).or_default() += cost;
        self.cost += cost;
    }
}

/// One group of the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRow {
    /// The group: a resource name, a sandbox id (`execs` for execs) or a day (`2026-11-25`).
    pub key: String,
    /// Its amounts.
    #[serde(flatten)]
    pub amounts: Amounts,
}

/// The report.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// How rows are grouped.
    pub group_by: String,
    /// Always `USD`.
    pub currency: &'static str,
    /// The sum of every row's cost.
    pub total_cost: f64,
    /// The groups.
    pub rows: Vec<UsageRow>,
}

fn day(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::days(1)).unwrap_or(t)
}

/// [`from`, `to`) cut at UTC midnights: (day, seconds).
fn by_day(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(DateTime<Utc>, f64)> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let next = (day(t) + Duration::days(1)).min(to);
        out.push((day(t), (next - t).as_seconds_f64()));
        t = next;
    }
    out
}

/// Amounts by (sandbox, or `jobs` for container jobs' samples, or `execs`; UTC day) of
/// `project` (of its sandbox `only`, if given) in [`from`, `to`).
async fn cells(
    state: &AppState,
    project: ProjectId,
    only: Option<SandboxId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<(String, DateTime<Utc>), Amounts>, ApiError> {
    let prices = &state.prices;
    // (sandbox or "execs", day) → amounts.
    let mut cells: BTreeMap<(String, DateTime<Utc>), Amounts> = BTreeMap::new();

    for (sandbox, d, s) in sbx_store::usage::sampled(&state.pool, project, only, from, to).await? {
        let key = sandbox.map_or_else(|| "jobs".to_owned(), |i| i.to_string());
        let a = cells.entry((key, d)).or_default();
        a.running_seconds += s.seconds;
        a.cpu_core_seconds += s.cpu_core_seconds;
        a.memory_gib_seconds += s.memory_gib_seconds;
        a.gpu_card_seconds += s.gpu_seconds;
        a.charge("cpu", s.cpu_cost);
        a.charge("memory", s.memory_cost);
        a.charge("gpu", s.gpu_cost);
    }
    for st in sbx_store::usage::stretches(&state.pool, project, only, from, to).await? {
        for (d, secs) in by_day(st.from, st.to) {
            let a = cells.entry((st.sandbox_id.to_string(), d)).or_default();
            if st.state == SandboxState::Paused {
                let gib = st.snapshot_bytes.unwrap_or(0) as f64 / f64::from(1u32 << 30);
                a.paused_seconds += secs;
                a.storage_gib_seconds += gib * secs;
                a.charge("storage", prices.cost(&Resource::Storage, gib, secs));
            } else if st.kind == SandboxKind::Interpreter {
                // Containers' running time is in the samples; interpreters' is exact here.
                let held = billing::Held {
                    cpu_millis: st.cpu_millis,
                    memory_bytes: st.memory_bytes,
                    gpu: None,
                };
                let c = billing::charge(prices, &held, secs);
                a.running_seconds += secs;
                a.cpu_core_seconds += c.cpu_core_seconds;
                a.memory_gib_seconds += c.memory_gib_seconds;
                a.charge("cpu", c.cpu_cost);
                a.charge("memory", c.memory_cost);
            }
        }
    }
    let execs = match only {
        Some(_) => Vec::new(),
        None => sbx_store::usage::exec_seconds(&state.pool, project, from, to).await?,
    };
    for (d, _, secs) in execs {
        let a = cells.entry(("execs".into(), d)).or_default();
        a.exec_seconds += secs;
        a.running_seconds += secs;
        a.charge("exec", prices.cost(&Resource::Exec, 1.0, secs));
    }
    Ok(cells)
}

/// What `project` (its sandbox `only`, if given) spent in [`from`, `to`), USD: the usage
/// report's `total_cost` (the budget watcher's measure; a sandbox's cost so far).
pub async fn spend(
    state: &AppState,
    project: ProjectId,
    only: Option<SandboxId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<f64, ApiError> {
    Ok(cells(state, project, only, from, to)
        .await?
        .values()
        .map(|a| a.cost)
        .sum())
}

/// The project's usage and its cost.
#[utoipa::path(get, path = "/v1/usage", tag = "usage", security(("api_key" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "Usage and cost in the range", body = UsageReport),
        (status = 400, description = "A bad range or grouping", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unauthorized,
    ))]
pub async fn usage(Ctx { state, caller }: Ctx, query: web::Query<UsageQuery>) -> Reply {
    let q = query.into_inner();
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(ApiError::BadRequest("`from` must be before `to`".into()));
    }
    if to - from > Duration::days(366) {
        return Err(ApiError::BadRequest(
            "the range may span at most 366 days".into(),
        ));
    }
    let group_by = q.group_by.unwrap_or_default().as_str();
    let cells = cells(&state, caller.0.project_id, q.sandbox_id, from, to).await?;

    let mut groups: BTreeMap<String, Amounts> = BTreeMap::new();
    for ((key, d), a) in cells {
        match group_by {
            "resource" => {
                for (resource, cost) in &a.cost_by_resource {
                    let g = groups.entry((*resource).to_owned()).or_default();
                    match *resource {
                        "cpu" => g.cpu_core_seconds += a.cpu_core_seconds,
                        "memory" => g.memory_gib_seconds += a.memory_gib_seconds,
                        "gpu" => g.gpu_card_seconds += a.gpu_card_seconds,
                        "storage" => g.storage_gib_seconds += a.storage_gib_seconds,
                        _ => g.exec_seconds += a.exec_seconds,
                    }
                    g.charge(resource, *cost);
                }
            }
            grouping => {
                let k = if grouping == "day" {
                    d.format("%Y-%m-%d").to_string()
                } else {
                    key
                };
                let g = groups.entry(k).or_default();
                g.running_seconds += a.running_seconds;
                g.paused_seconds += a.paused_seconds;
                g.cpu_core_seconds += a.cpu_core_seconds;
                g.memory_gib_seconds += a.memory_gib_seconds;
                g.gpu_card_seconds += a.gpu_card_seconds;
                g.storage_gib_seconds += a.storage_gib_seconds;
                g.exec_seconds += a.exec_seconds;
                for (r, c) in a.cost_by_resource {
                    g.charge(r, c);
                }
            }
        }
    }
    let rows: Vec<UsageRow> = groups
        .into_iter()
        .map(|(key, amounts)| UsageRow { key, amounts })
        .collect();
    let total_cost = rows.iter().map(|r| r.amounts.cost).sum();
    Ok(HttpResponse::Ok().json(UsageReport {
        from,
        to,
        group_by: group_by.to_owned(),
        currency: "USD",
        total_cost,
        rows,
    }))
}

/// The rates the meter charges: USD per second of one unit of each resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceList {
    /// Always `USD`.
    pub currency: &'static str,
    /// The rates (set by the operator with `SBX_PRICES`; see `sbx_limits::billing`).
    #[serde(flatten)]
    pub prices: billing::Prices,
}

/// The current rates per resource-second, the ones `GET /v1/usage` costs with.
#[utoipa::path(get, path = "/v1/prices", tag = "usage", security(("api_key" = [])),
    responses(
        (status = 200, description = "USD per resource-second", body = PriceList),
        crate::responses::Unauthorized,
    ))]
pub async fn prices(Ctx { state, .. }: Ctx) -> Reply {
    Ok(HttpResponse::Ok().json(PriceList {
        currency: "USD",
        prices: (*state.prices).clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_are_cut_at_midnight() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let parts = by_day(t("2026-11-24T23:00:00Z"), t("2026-11-25T01:30:00Z"));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].1, 3600.0);
        assert_eq!(parts[1].1, 5400.0);
        assert_eq!(parts[1].0, t("2026-11-25T00:00:00Z"));
    }
}
