//! `api_keys`: keys are random, shown once, and stored only as their SHA-256, so a key is found
//! by an indexed lookup of its hash (a slow password hash buys nothing for 192 random bits).

use rand::RngCore;
use sbx_limits::ProjectLimits;
use sha2::{Digest, Sha256};

use crate::{Db, GenericClient, Result, StoreError};
use sbx_core::ids::{ApiKeyId, ProjectId, UserId};

/// Every key starts with this, so scanners and people can tell what it is.
pub const KEY_PREFIX: &str = "sbx_";
/// Characters of a key kept in the clear, for listings.
const SHOWN_CHARS: usize = 12;

/// Who calls, for which project: an API key's project, or a signed-in member's (the
/// dashboard: [`crate::sessions::caller`]).
#[derive(Debug, Clone)]
pub struct KeyOwner {
    /// The key, when a program calls with one.
    pub api_key_id: Option<ApiKeyId>,
    /// The person, when they call from a signed-in session.
    pub user_id: Option<UserId>,
    /// The project.
    pub project_id: ProjectId,
    /// The project's limits.
    pub limits: ProjectLimits,
    /// Whether the project's owner is KYC-verified.
    pub kyc_verified: bool,
    /// Whether the caller may manage the project's keys, secrets and budget: a person who owns
    /// the project, signed in. Never a key: a leaked key could otherwise mint others that
    /// outlive its revocation.
    pub manages: bool,
    /// Whether the project has spent its monthly budget (as last checked, this month): new
    /// work is refused.
    pub over_budget: bool,
}

impl KeyOwner {
    /// What the per-caller rate limit counts against: the key, or the person.
    pub fn rate_key(&self) -> uuid::Uuid {
        match (self.api_key_id, self.user_id) {
            (Some(k), _) => k.0,
            (None, Some(u)) => u.0,
            (None, None) => uuid::Uuid::nil(),
        }
    }
}

/// A key as listed: never the secret.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The id.
    pub api_key_id: ApiKeyId,
    /// The project.
    pub project_id: ProjectId,
    /// The label.
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was made.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn key_info(r: &tokio_postgres::Row) -> KeyInfo {
    KeyInfo {
        api_key_id: ApiKeyId(r.get("api_key_id")),
        project_id: ProjectId(r.get("project_id")),
        name: r.get("name"),
        prefix: r.get("prefix"),
        revoked: r.get("revoked"),
        created_at: r.get("created_at"),
    }
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Create a key for `project`. Returns the key's id and the secret, which is not kept.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn create(db: &impl Db, project: ProjectId, name: &str) -> Result<(ApiKeyId, String)> {
    let (key, secret) = make(db, project, name).await?;
    Ok((key.api_key_id, secret))
}

/// Create a key for `project`: the key as listed, and the secret, which is not kept.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn make(db: &impl Db, project: ProjectId, name: &str) -> Result<(KeyInfo, String)> {
    let mut raw = [0u8; 24];
    rand::rng().fill_bytes(&mut raw);
    let secret = format!("{KEY_PREFIX}{}", hex::encode(raw));
    let row = db
        .query_one(
            "insert into api_keys (api_key_id, project_id, name, prefix, key_hash)
             values ($1, $2, $3, $4, $5)
             returning api_key_id, project_id, name, prefix, false as revoked, created_at",
            &[
                &ApiKeyId::new().0,
                &project.0,
                &name,
                &&secret[..SHOWN_CHARS],
                &hash(&secret),
            ],
        )
        .await?;
    Ok((key_info(&row), secret))
}

/// The owner of `secret`, if it is a key that exists and is not revoked.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authenticate(db: &impl Db, secret: &str) -> Result<Option<KeyOwner>> {
    if !secret.starts_with(KEY_PREFIX) || secret.len() > 128 {
        return Ok(None);
    }
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "select k.api_key_id, k.project_id, p.max_timeout_ms, p.max_memory_mb,
                    p.max_output_limit_bytes, p.max_concurrent_execs, p.max_disk_mb,
                    coalesce(u.kyc_status = 'verified', false) as kyc_verified,
                    coalesce(p.budget_state = 'exceeded' and p.budget_month
                             = date_trunc('month', now() at time zone 'utc')::date, false)
                        as over_budget
             from api_keys k
             join projects p using (project_id)
             left join users u on u.user_id = p.owner_user_id
             where k.key_hash = $1 and k.revoked_at is null",
        )
        .await?;
    let row = client.query_opt(&stmt, &[&hash(secret)]).await?;
    Ok(row.map(|r| KeyOwner {
        api_key_id: Some(ApiKeyId(r.get("api_key_id"))),
        user_id: None,
        project_id: ProjectId(r.get("project_id")),
        limits: project_limits(&r),
        kyc_verified: r.get("kyc_verified"),
        manages: false,
        over_budget: r.get("over_budget"),
    }))
}

/// The limits in a row holding a project's `max_*` columns.
pub(crate) fn project_limits(r: &tokio_postgres::Row) -> ProjectLimits {
    ProjectLimits {
        max_timeout_ms: r.get::<_, i64>("max_timeout_ms") as u64,
        max_memory_mb: r.get::<_, i64>("max_memory_mb") as u64,
        max_output_limit_bytes: r.get::<_, i64>("max_output_limit_bytes") as u64,
        max_concurrent_execs: r.get::<_, i32>("max_concurrent_execs") as u32,
        max_disk_mb: r.get::<_, i64>("max_disk_mb") as u64,
    }
}

/// Revoke the key with id `id`, or whose listing prefix is `id`, of `project` when given.
/// Revoking twice is not an error.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke(db: &impl Db, id: &str, project: Option<ProjectId>) -> Result<KeyInfo> {
    let client = db.client().await?;
    let uuid = ApiKeyId::parse(id).map(|k| k.0);
    let row = client
        .query_opt(
            "update api_keys set revoked_at = coalesce(revoked_at, now())
             where (api_key_id = $1 or ($1 is null and prefix = $2))
               and ($3::uuid is null or project_id = $3)
             returning api_key_id, project_id, name, prefix, true as revoked, created_at",
            &[&uuid, &id, &project.map(|p| p.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("API key"))?;
    Ok(key_info(&row))
}

/// The keys of `project`, oldest first.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn list(db: &impl Db, project: ProjectId) -> Result<Vec<KeyInfo>> {
    let rows = db
        .query(
            "select api_key_id, project_id, name, prefix, revoked_at is not null as revoked,
                    created_at
             from api_keys where project_id = $1 order by api_key_id",
            &[&project.0],
        )
        .await?;
    Ok(rows.iter().map(key_info).collect())
}
