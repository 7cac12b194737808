//! Monthly budgets: `GET /v1/budget` and `PUT /v1/budget`, and the watcher that checks every
//! limited project's spend this UTC month (the usage report's total) every [`CHECK_EVERY`].
//! At 80 % of the limit the project's budget webhook gets `budget.warning`; at 100 %
//! `budget.exceeded`, new work is refused (402 `budget_exceeded`: execs, jobs, batches, new and
//! resumed sandboxes, calls in them) and running sandboxes are paused with reason `budget`
//! (nothing is deleted). Raising the limit, removing it, or a new month lets work start again.

use std::time::Duration;

use actix_web::HttpResponse;
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use sbx_core::ids::ProjectId;
use sbx_core::sandbox::{SandboxState, StateReason};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};

/// How often the watcher checks each limited project.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);
/// The share of the limit at which `budget.warning` is sent.
pub const WARNING_AT: f64 = 0.8;
/// Largest limit accepted, USD.
const MAX_LIMIT_USD: f64 = 1e9;

/// 402 `budget_exceeded` when `caller`'s project spent its monthly budget.
pub fn within_budget(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.over_budget {
        return Err(ApiError::BudgetExceeded);
    }
    Ok(())
}

/// The first day of `t`'s UTC month, and its start.
fn month_of(t: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
    let first = NaiveDate::from_ymd_opt(t.year(), t.month(), 1).expect("a month has a first day");
    (
        first,
        first.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
    )
}

/// The first instant of the month after `first`.
fn next_month(first: NaiveDate) -> DateTime<Utc> {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .expect("a month has a first day")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

/// `ok`, `warning` or `exceeded` for `spent` of `limit`.
fn state_of(spent: f64, limit: f64) -> &'static str {
    if spent >= limit {
        "exceeded"
    } else if spent >= WARNING_AT * limit {
        "warning"
    } else {
        "ok"
    }
}

fn rank(state: &str) -> u8 {
    match state {
        "exceeded" => 2,
        "warning" => 1,
        _ => 0,
    }
}

/// Check `project`'s spend against `budget` now: record the state and, when it rose this
/// month, announce it and (for `exceeded`) pause the project's running sandboxes. Returns what
/// was spent this month, USD, when there is a limit to check.
pub async fn check(
    state: &AppState,
    project: ProjectId,
    budget: &sbx_store::budgets::Budget,
) -> Result<Option<f64>, ApiError> {
    let Some(limit) = budget.monthly_limit_usd else {
        return Ok(None);
    };
    let now = Utc::now();
    let (month, start) = month_of(now);
    let spent = crate::routes::usage::spend(state, project, None, start, now).await?;
    let new = state_of(spent, limit);
    let same_month = budget.month == Some(month);
    let rose = rank(new) > if same_month { rank(&budget.state) } else { 0 };
    let body = serde_json::json!({
        "type": format!("budget.{new}"),
        "timestamp": now,
        "data": {
            "project_id": project.to_string(),
            "month": month.to_string(),
            "monthly_limit_usd": limit,
            "spent_usd": spent,
        },
    });
    let event = match (&budget.webhook_url, rose && new != "ok") {
        (Some(url), true) => Some((url.as_str(), &body)),
        _ => None,
    };
    let recorded = sbx_store::budgets::record(
        &state.pool,
        project,
        (&budget.state, budget.month),
        (new, month, spent),
        event,
    )
    .await?;
    if recorded && rose && new == "exceeded" {
        pause_running(state, project).await;
    }
    Ok(Some(spent))
}

/// Pause every running sandbox of `project`, for its budget; a failure is logged (the next
/// check does not pause again: the sandbox's owner sees its state).
async fn pause_running(state: &AppState, project: ProjectId) {
    let running = match sbx_store::sandboxes::list(
        &state.pool,
        project,
        Some(SandboxState::Running),
        None,
        10_000,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(project = %project, error = %e, "budget: listing running sandboxes");
            return;
        }
    };
    for s in running {
        if let Err(e) = state
            .sandboxes
            .pause_for(project, s.sandbox_id, StateReason::Budget)
            .await
        {
            tracing::warn!(sandbox = %s.sandbox_id, error = %e, "budget: could not pause a sandbox");
        }
    }
}

/// Check every limited project every [`CHECK_EVERY`] until the process ends.
pub async fn watch(state: actix_web::web::Data<AppState>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        let projects = match sbx_store::budgets::limited(&state.pool).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "budget: listing limited projects");
                continue;
            }
        };
        for (project, budget) in projects {
            if let Err(e) = check(&state, project, &budget).await {
                tracing::warn!(project = %project, error = %e, "budget: a check failed");
            }
        }
    }
}

/// A project's budget and where it stands this month.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetView {
    /// The monthly limit, USD; `null`: none.
    pub monthly_limit_usd: Option<f64>,
    /// Where `budget.warning` (at 80 %) and `budget.exceeded` (at 100 %) are sent, signed with
    /// the project's webhook secret.
    pub webhook_url: Option<String>,
    /// Spent this UTC month, USD (the usage report's total).
    pub spent_usd: f64,
    /// `spent_usd / monthly_limit_usd`, when there is a limit.
    pub fraction: Option<f64>,
    /// `ok`, `warning` (80 % or more) or `exceeded` (new work is refused; running sandboxes are
    /// paused with reason `budget`).
    pub state: String,
    /// Start of this month (UTC).
    pub period_start: DateTime<Utc>,
    /// Start of the next month (UTC), when the count starts again.
    pub period_end: DateTime<Utc>,
}

/// A budget to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    /// The monthly limit, USD (0 to 1e9); `null` removes it.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub monthly_limit_usd: Option<f64>,
    /// Where budget events go: an `http` or `https` URL, or `null`.
    pub webhook_url: Option<String>,
}

/// `project`'s budget as it stands; `spent` this month when a check just measured it.
async fn view(
    state: &AppState,
    project: ProjectId,
    spent: Option<f64>,
) -> Result<BudgetView, ApiError> {
    let b = sbx_store::budgets::get(&state.pool, project).await?;
    let now = Utc::now();
    let (month, start) = month_of(now);
    let spent = match spent {
        Some(s) => s,
        None => crate::routes::usage::spend(state, project, None, start, now).await?,
    };
    let current = b.month == Some(month);
    Ok(BudgetView {
        monthly_limit_usd: b.monthly_limit_usd,
        webhook_url: b.webhook_url,
        spent_usd: spent,
        fraction: b.monthly_limit_usd.filter(|l| *l > 0.0).map(|l| spent / l),
        state: if current { b.state } else { "ok".into() },
        period_start: start,
        period_end: next_month(month),
    })
}

/// The project's monthly budget and this month's spend.
#[utoipa::path(get, path = "/v1/budget", tag = "usage", security(("api_key" = [])),
    responses((status = 200, description = "The budget", body = BudgetView)))]
pub async fn get_budget(Ctx { state, caller }: Ctx) -> Reply {
    Ok(HttpResponse::Ok().json(view(&state, caller.0.project_id, None).await?))
}

/// Set (or remove) the project's monthly budget; it is checked at once.
#[utoipa::path(put, path = "/v1/budget", tag = "usage", security(("api_key" = [])),
    request_body = BudgetRequest,
    responses(
        (status = 200, description = "Set, and checked", body = BudgetView),
        (status = 403, description = "Not an owner signed in (`not_an_owner`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_budget(
    Ctx { state, caller }: Ctx,
    body: crate::body::Json<BudgetRequest>,
) -> Reply {
    if !caller.0.manages {
        return Err(ApiError::Forbidden {
            code: Code::NotAnOwner,
            detail: "only the project's owners, signed in, set its budget".into(),
        });
    }
    let r = body.0;
    if let Some(l) = r.monthly_limit_usd
        && !(l.is_finite() && (0.0..=MAX_LIMIT_USD).contains(&l))
    {
        return Err(ApiError::invalid(
            Code::InvalidLimit,
            "monthly_limit_usd",
            "monthly_limit_usd is a number of USD from 0 to 1e9, or null",
        ));
    }
    let url = match r.webhook_url {
        Some(u) => Some(crate::routes::exec::webhook_url("webhook_url", u)?),
        None => None,
    };
    let project = caller.0.project_id;
    let b =
        sbx_store::budgets::set(&state.pool, project, r.monthly_limit_usd, url.as_deref()).await?;
    let spent = check(&state, project, &b).await?;
    Ok(HttpResponse::Ok().json(view(&state, project, spent).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_months() {
        assert_eq!(state_of(0.0, 10.0), "ok");
        assert_eq!(state_of(7.99, 10.0), "ok");
        assert_eq!(state_of(8.0, 10.0), "warning");
        assert_eq!(state_of(10.0, 10.0), "exceeded");
        assert_eq!(state_of(0.0, 0.0), "exceeded");
        let t = DateTime::parse_from_rfc3339("2026-12-31T23:59:59Z")
            .unwrap()
            .to_utc();
        let (first, start) = month_of(t);
        assert_eq!(first.to_string(), "2026-12-01");
        assert_eq!(start.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(next_month(first).to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }
}
