//! `GET /v1/sandboxes/{id}/metrics`: what a container sandbox used, step by step, from the
//! meter's one-second samples (CPU, memory, disk, network, cost), and its cost so far.
//! Code-interpreter sandboxes are billed from their state changes, not sampled: their series
//! is empty and only the cost so far is given. Samples older than a day are merged per minute
//! ([`FULL_RESOLUTION_S`]): a finer step over them gives a point per minute.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Ctx, Reply};
use crate::error::ApiError;

/// Most points one answer holds: a longer range needs a longer step.
pub const MAX_POINTS: i64 = 2000;

/// The longest step, seconds: 366 days.
pub const MAX_STEP_S: u32 = 31_622_400;

/// Samples are kept at one second for this long (a day), then merged into one per minute
/// (`sbx_store::usage::downsample`, run every minute by the server).
pub const FULL_RESOLUTION_S: f64 = 86_400.0;

/// Query of `GET /v1/sandboxes/{id}/metrics`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricsQuery {
    /// Start (RFC 3339); default the sandbox's creation, or an hour before `to` if later.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default now, or the sandbox's end.
    pub to: Option<DateTime<Utc>>,
    /// Seconds per point, 1 or more; default the smallest that keeps the range within 300
    /// points. A step that would give more than 2000 points is raised to the smallest that
    /// does not (the answer's `step_seconds` says which was used).
    #[param(minimum = 1, maximum = 31_622_400)]
    pub step: Option<u32>,
}

/// One step of the series.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricPoint {
    /// Start of the step.
    pub at: DateTime<Utc>,
    /// CPU used, in cores, averaged over the step (Docker's account; null: not read).
    pub cpu_cores: Option<f64>,
    /// Memory in use, bytes, without reclaimable page cache: the step's highest.
    pub memory_bytes: Option<i64>,
    /// Bytes used on the sandbox's disk (`/workspace` and `/outputs`): the step's highest.
    pub disk_bytes: Option<i64>,
    /// Bytes received over the network in the step (loopback aside).
    pub network_rx_bytes: Option<i64>,
    /// Bytes sent over the network in the step (loopback aside).
    pub network_tx_bytes: Option<i64>,
    /// What the step cost, USD.
    pub cost_usd: f64,
}

/// A sandbox's metrics.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxMetrics {
    /// The sandbox.
    pub sandbox_id: String,
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// Seconds per point.
    pub step_seconds: u32,
    /// Steps with samples, oldest first (steps without any are left out).
    pub points: Vec<MetricPoint>,
    /// What the sandbox has cost since it was created, USD (running and paused, as
    /// `GET /v1/usage` counts it).
    pub cost_so_far_usd: f64,
}

/// A container sandbox's CPU, memory, disk and network use over time, from the meter's
/// one-second samples, and the sandbox's cost so far.
#[utoipa::path(get, path = "/v1/sandboxes/{id}/metrics", tag = "sandboxes", security(("api_key" = [])),
    params(("id" = String, Path, description = "The sandbox's id"), MetricsQuery),
    responses(
        (status = 200, description = "The series and the cost so far", body = SandboxMetrics),
        (status = 400, description = "A bad range (`from` not before `to`), or a step of 0 or over 366 days", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such sandbox in this project", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn sandbox_metrics(
    Ctx { state, caller }: Ctx,
    id: web::Path<String>,
    query: web::Query<MetricsQuery>,
) -> Reply {
    let project = caller.0.project_id;
    let id = super::sandbox_id(&id)?;
    let s = sbx_store::sandboxes::get(&state.pool, project, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such sandbox".into()))?;
    let q = query.into_inner();
    let now = Utc::now();
    let to = q.to.unwrap_or_else(|| s.ended_at.unwrap_or(now).min(now));
    let from = q
        .from
        .unwrap_or_else(|| s.created_at.max(to - Duration::hours(1)));
    if from >= to {
        return Err(ApiError::BadRequest("`from` must be before `to`".into()));
    }
    let span_s = (to - from).num_seconds().max(1);
    let finest = u32::try_from((span_s + MAX_POINTS - 1) / MAX_POINTS).unwrap_or(u32::MAX);
    let step = match q.step {
        Some(s) if s == 0 || s > MAX_STEP_S => {
            return Err(ApiError::BadRequest(format!(
                "`step` is 1 to {MAX_STEP_S} seconds (366 days)"
            )));
        }
        Some(step) => step.max(finest),
        None => u32::try_from((span_s + 299) / 300).unwrap_or(u32::MAX),
    }
    .max(1);
    let points = sbx_store::usage::metrics(&state.pool, id, from, to, f64::from(step)).await?;
    let cost_so_far_usd =
        crate::routes::usage::spend(&state, project, Some(id), s.created_at, now).await?;
    Ok(HttpResponse::Ok().json(SandboxMetrics {
        sandbox_id: id.to_string(),
        from,
        to,
        step_seconds: step,
        points: points
            .into_iter()
            .map(|p| MetricPoint {
                at: p.at,
                cpu_cores: p.cpu_cores,
                memory_bytes: p.memory_bytes,
                disk_bytes: p.disk_bytes,
                network_rx_bytes: p.net_rx_bytes,
                network_tx_bytes: p.net_tx_bytes,
                cost_usd: p.cost,
            })
            .collect(),
        cost_so_far_usd,
    }))
}
