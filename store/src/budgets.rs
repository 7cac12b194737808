//! Projects' monthly budgets: the limit and where its events go, and the state the budget
//! watcher last found (`ok`, `warning` at 80 %, `exceeded` at 100 %) for a UTC month. A change
//! of state is recorded only if no one recorded another since (several processes watch), in
//! the same transaction as the event it announces.

use chrono::{DateTime, NaiveDate, Utc};
use sbx_core::ids::ProjectId;

use crate::{Db, Pool, Result};

/// A project's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The monthly limit in USD; none: no limit.
    pub monthly_limit_usd: Option<f64>,
    /// Where `budget.warning` and `budget.exceeded` are sent.
    pub webhook_url: Option<String>,
    /// `ok`, `warning` or `exceeded`, as last checked.
    pub state: String,
    /// The UTC month (its first day) `state` is about.
    pub month: Option<NaiveDate>,
    /// Spent that month, USD, as last checked.
    pub spent_usd: f64,
    /// When it was last checked.
    pub checked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "monthly_budget_usd, budget_webhook_url, budget_state, budget_month,
    budget_spent_usd, budget_checked_at";

fn budget(r: &tokio_postgres::Row) -> Budget {
    Budget {
        monthly_limit_usd: r.get("monthly_budget_usd"),
        webhook_url: r.get("budget_webhook_url"),
        state: r.get("budget_state"),
        month: r.get("budget_month"),
        spent_usd: r.get("budget_spent_usd"),
        checked_at: r.get("budget_checked_at"),
    }
}

/// `project`'s budget.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn get(db: &impl Db, project: ProjectId) -> Result<Budget> {
    let row = db
        .query_opt(
            &format!("select {COLUMNS} from projects where project_id = $1"),
            &[&project.0],
        )
        .await?
        .ok_or(crate::StoreError::NotFound("project"))?;
    Ok(budget(&row))
}

/// Set `project`'s limit and webhook; its state is `ok` until the next check.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn set(
    db: &impl Db,
    project: ProjectId,
    limit_usd: Option<f64>,
    webhook_url: Option<&str>,
) -> Result<Budget> {
    let row = db
        .query_one(
            &format!(
                "update projects set monthly_budget_usd = $2, budget_webhook_url = $3,
                     budget_state = 'ok', budget_month = null
                 where project_id = $1 returning {COLUMNS}"
            ),
            &[&project.0, &limit_usd, &webhook_url],
        )
        .await?;
    Ok(budget(&row))
}

/// The projects with a limit, and their budgets.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn limited(db: &impl Db) -> Result<Vec<(ProjectId, Budget)>> {
    let rows = db
        .query(
            &format!(
                "select project_id, {COLUMNS} from projects where monthly_budget_usd is not null"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (ProjectId(r.get("project_id")), budget(r)))
        .collect())
}

/// Record a check of `project`: `spent` in `month`, in `state`. When `was` (the state and
/// month the check started from) is no longer what is recorded, another process recorded a
/// check meanwhile and nothing is written (returns false). `event`, a webhook `(url, body)`,
/// is queued with the change.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn record(
    pool: &Pool,
    project: ProjectId,
    was: (&str, Option<NaiveDate>),
    now: (&str, NaiveDate, f64),
    event: Option<(&str, &serde_json::Value)>,
) -> Result<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let (state, month, spent) = now;
    let changed = tx
        .execute(
            "update projects set budget_state = $4, budget_month = $5, budget_spent_usd = $6,
                 budget_checked_at = now()
             where project_id = $1 and budget_state = $2 and budget_month is not distinct from $3",
            &[&project.0, &was.0, &was.1, &state, &month, &spent],
        )
        .await?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some((url, body)) = event {
        crate::webhooks::enqueue_event(&tx, project, url, body).await?;
    }
    tx.commit().await?;
    Ok(true)
}
