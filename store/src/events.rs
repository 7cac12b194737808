//! The project's event feed: its sandboxes' state changes, typed (`sandbox.paused`, …) by the
//! `sandbox_events` trigger, and what runners report that is not one
//! (`sandbox.egress_denied`), read in order after an event id (`GET /v1/events`). Both are
//! queued for the project's webhook endpoints (see `webhook_endpoints`) by
//! `sbx_record_sandbox_event` (migration V22).

use chrono::{DateTime, Utc};
use sbx_core::ids::{ProjectId, SandboxId};
use sbx_core::sandbox::{SandboxState, StateReason};

use crate::{Db, Result, named};

/// The event types a sandbox's state changes have.
pub const TYPES: &[&str] = &[
    "sandbox.pending",
    "sandbox.running",
    "sandbox.paused",
    "sandbox.resumed",
    "sandbox.terminated",
    "sandbox.failed",
    EGRESS_DENIED,
];

/// The type of an attempt to reach what a sandbox's egress rules do not allow.
pub const EGRESS_DENIED: &str = "sandbox.egress_denied";

/// Every sandbox event type, as a filter.
pub const ALL: &str = "sandbox.*";

/// One event of the feed.
#[derive(Debug, Clone)]
pub struct ProjectEvent {
    /// Its id: increasing, the feed's resume point.
    pub event_id: i64,
    /// One of [`TYPES`].
    pub r#type: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The sandbox.
    pub sandbox_id: SandboxId,
    /// Its new state.
    pub state: SandboxState,
    /// Why.
    pub reason: StateReason,
    /// An account, for failures.
    pub detail: Option<String>,
}

/// What to read of the feed.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these types (empty: all).
    pub types: Vec<String>,
    /// Only this sandbox's.
    pub sandbox: Option<SandboxId>,
}

/// `project`'s events after `after`, oldest first, at most `limit`, as `filter` says.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn after(
    db: &impl Db,
    project: ProjectId,
    after: i64,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<ProjectEvent>> {
    let rows = db
        .query(
            "select e.event_id, e.type, e.at, e.sandbox_id, e.state, e.reason, e.detail
             from sandbox_events e join sandboxes s using (sandbox_id)
             where s.project_id = $1 and e.event_id > $2
               and (cardinality($3::text[]) = 0 or e.type = any($3))
               and ($4::uuid is null or e.sandbox_id = $4)
             order by e.event_id limit $5",
            &[
                &project.0,
                &after,
                &filter.types,
                &filter.sandbox.map(|s| s.0),
                &limit,
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ProjectEvent {
                event_id: r.try_get("event_id")?,
                r#type: r.try_get("type")?,
                at: r.try_get("at")?,
                sandbox_id: SandboxId(r.try_get("sandbox_id")?),
                state: named(r, "state")?,
                reason: named(r, "reason")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// Records that sandbox `sandbox` tried to reach what its egress rules do not allow, as
/// `detail` says (`denied.test:443 (connect)`): an [`EGRESS_DENIED`] event with the
/// sandbox's state at the time and reason `egress_denied`, queued for the project's webhook
/// endpoints like a state change. Nothing is recorded for a sandbox that no longer exists.
#[tracing::instrument(level = "debug", skip_all, fields(sandbox = %sandbox))]
pub async fn record_egress_denied(db: &impl Db, sandbox: SandboxId, detail: &str) -> Result<()> {
    db.execute(
        "select sbx_record_sandbox_event(sandbox_id, project_id, $2, state, $3, $4, null)
         from sandboxes where sandbox_id = $1",
        &[
            &sandbox.0,
            &EGRESS_DENIED,
            &StateReason::EgressDenied.as_str(),
            &detail,
        ],
    )
    .await?;
    Ok(())
}

/// The id of the newest event there is (0 when none): where a feed read "from now" starts.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn newest(db: &impl Db) -> Result<i64> {
    let row = db
        .query_one("select coalesce(max(event_id), 0) from sandbox_events", &[])
        .await?;
    Ok(row.get(0))
}
