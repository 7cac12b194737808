//! `sessions`: people signed in to the dashboard. The cookie holds a random secret; the
//! table keeps its SHA-256 (as for API keys, a slow hash buys nothing for 256 random bits), the
//! CSRF token the dashboard sends back on every change, and an absolute end.

use sbx_core::ids::{ProjectId, UserId};

use crate::keys::{KeyOwner, project_limits};
use crate::users::User;
use crate::{Db, GenericClient, Result};

/// A live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session.
    pub session_id: uuid::Uuid,
    /// Whose it is.
    pub user: User,
    /// What `X-CSRF-Token` must say on a change.
    pub csrf_token: String,
}

/// Which project a signed-in request works in.
#[derive(Debug, Clone)]
pub enum Project {
    /// The one asked for, or the person's only one.
    One(KeyOwner),
    /// The person is not a member of the project asked for, or of any.
    NotAMember,
    /// None was asked for and the person belongs to several.
    Several,
}

/// A signed-in request's caller: its session's CSRF token and its project.
#[derive(Debug, Clone)]
pub struct SessionCaller {
    /// What `X-CSRF-Token` must say on a change.
    pub csrf_token: String,
    /// The project it works in.
    pub project: Project,
}

/// Start a session of `user` kept as `token_hash`, ending in `ttl_s` seconds.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(
    db: &impl Db,
    user: UserId,
    token_hash: &[u8],
    csrf_token: &str,
    user_agent: Option<&str>,
    ttl_s: f64,
) -> Result<uuid::Uuid> {
    let id = uuid::Uuid::now_v7();
    db.execute(
        "insert into sessions (session_id, token_hash, user_id, csrf_token, user_agent, expires_at)
         values ($1, $2, $3, $4, $5, now() + $6 * interval '1 second')",
        &[&id, &token_hash, &user.0, &csrf_token, &user_agent, &ttl_s],
    )
    .await?;
    Ok(id)
}

/// The live session kept as `token_hash`, if any.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(db: &impl Db, token_hash: &[u8]) -> Result<Option<SignedIn>> {
    let row = db
        .query_opt(
            "select s.session_id, s.csrf_token, u.user_id, u.email, u.kyc_status, u.operator
             from sessions s join users u using (user_id)
             where s.token_hash = $1 and s.expires_at > now()",
            &[&token_hash],
        )
        .await?;
    Ok(row.map(|r| SignedIn {
        session_id: r.get("session_id"),
        user: User {
            user_id: UserId(r.get("user_id")),
            email: r.get("email"),
            kyc_status: r.get("kyc_status"),
            operator: r.get("operator"),
        },
        csrf_token: r.get("csrf_token"),
    }))
}

/// The caller of a request signed in as `token_hash`, working in `project` (or the person's
/// only project): one indexed read per request, as for an API key.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn caller(
    db: &impl Db,
    token_hash: &[u8],
    project: Option<ProjectId>,
) -> Result<Option<SessionCaller>> {
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "select s.csrf_token, s.user_id, m.project_id, m.role, p.max_timeout_ms, p.max_memory_mb,
                    p.max_output_limit_bytes, p.max_concurrent_execs, p.max_disk_mb,
                    coalesce(o.kyc_status = 'verified', false) as kyc_verified,
                    coalesce(p.budget_state = 'exceeded' and p.budget_month
                             = date_trunc('month', now() at time zone 'utc')::date, false)
                        as over_budget
             from sessions s
             left join memberships m on m.user_id = s.user_id
                                    and ($2::uuid is null or m.project_id = $2)
             left join projects p on p.project_id = m.project_id
             left join users o on o.user_id = p.owner_user_id
             where s.token_hash = $1 and s.expires_at > now()
             limit 2",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&token_hash, &project.map(|p| p.0)])
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let project = match (rows.len(), first.get::<_, Option<uuid::Uuid>>("project_id")) {
        (1, Some(id)) => Project::One(KeyOwner {
            api_key_id: None,
            user_id: Some(UserId(first.get("user_id"))),
            project_id: ProjectId(id),
            limits: project_limits(first),
            kyc_verified: first.get("kyc_verified"),
            manages: first.get::<_, Option<String>>("role").as_deref() == Some("owner"),
            over_budget: first.get("over_budget"),
        }),
        (1, None) => Project::NotAMember,
        _ => Project::Several,
    };
    Ok(Some(SessionCaller {
        csrf_token: first.get("csrf_token"),
        project,
    }))
}

/// End session `id`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(db: &impl Db, id: uuid::Uuid) -> Result<()> {
    db.execute("delete from sessions where session_id = $1", &[&id])
        .await?;
    Ok(())
}

/// End every session of `user`; returns how many there were.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_all(db: &impl Db, user: UserId) -> Result<u64> {
    db.execute("delete from sessions where user_id = $1", &[&user.0])
        .await
}

/// Delete the sessions that ended (`expires_at` past); returns how many. Expired ones are
/// never honoured anyway: this only keeps the table small.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn purge_expired(db: &impl Db) -> Result<u64> {
    db.execute("delete from sessions where expires_at <= now()", &[])
        .await
}
