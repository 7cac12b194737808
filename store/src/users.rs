//! `users`: people, the KYC status that gates GPU work, and what signing in needs: a
//! password hash, the operator flag, and the count of failed attempts that locks an account.

use crate::{Db, Result, StoreError};
use sbx_core::ids::UserId;

/// The KYC statuses a user may have.
pub const KYC_STATUSES: &[&str] = &["unverified", "pending", "verified", "rejected"];

/// A user row.
#[derive(Debug, Clone)]
pub struct User {
    /// The id.
    pub user_id: UserId,
    /// The email.
    pub email: String,
    /// One of [`KYC_STATUSES`].
    pub kyc_status: String,
    /// Whether they operate this deployment (the dashboard's Admin page).
    pub operator: bool,
}

/// What signing in as a user checks.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// The argon2id PHC string, if a password is set.
    pub password_hash: Option<String>,
    /// No sign-in before this.
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// The columns [`user`] reads.
const COLUMNS: &str = "user_id, email, kyc_status, operator";

/// The user with `email` (kept in lower case: emails compare without case), created if new.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn upsert(db: &impl Db, email: &str) -> Result<User> {
    let row = db
        .query_one(
            "insert into users (user_id, email) values ($1, $2)
             on conflict (email) do update set email = excluded.email
             returning user_id, email, kyc_status, operator",
            &[&UserId::new().0, &email.trim().to_lowercase()],
        )
        .await?;
    Ok(user(&row))
}

fn user(row: &tokio_postgres::Row) -> User {
    User {
        user_id: UserId(row.get("user_id")),
        email: row.get("email"),
        kyc_status: row.get("kyc_status"),
        operator: row.get("operator"),
    }
}

/// Set the password hash (an argon2id PHC string) of the user with `email`, ending their
/// sessions.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_password(db: &impl Db, email: &str, hash: &str) -> Result<User> {
    let row = db
        .query_opt(
            &format!(
                "with u as (
                     update users set password_hash = $2, failed_logins = 0, locked_until = null
                     where lower(email) = lower($1) returning {COLUMNS}
                 ), gone as (delete from sessions where user_id in (select user_id from u))
                 select * from u"
            ),
            &[&email, &hash],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
    Ok(user(&row))
}

/// Make the user with `email` an operator, or not.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_operator(db: &impl Db, email: &str, operator: bool) -> Result<User> {
    let row = db
        .query_opt(
            &format!(
                "update users set operator = $2 where lower(email) = lower($1) returning {COLUMNS}"
            ),
            &[&email, &operator],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
    Ok(user(&row))
}

/// What signing in as `email` checks, if there is such a user (emails compare without case).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn credentials(db: &impl Db, email: &str) -> Result<Option<Credentials>> {
    let row = db
        .query_opt(
            &format!(
                "select {COLUMNS}, password_hash, locked_until from users
                 where lower(email) = lower($1) order by created_at limit 1"
            ),
            &[&email],
        )
        .await?;
    Ok(row.map(|r| Credentials {
        user: user(&r),
        password_hash: r.get("password_hash"),
        locked_until: r.get("locked_until"),
    }))
}

/// Count a sign-in attempt as user `id` before its password is checked, so that attempts
/// made at once cannot outrun the lock: the `max_attempts`-th since the last success locks
/// the account for `lock_s` seconds (and starts the count again). `Err` with the end of the
/// lock when the account is locked (the attempt is not made); else the end of the lock this
/// attempt set, if it set one.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn begin_attempt(
    db: &impl Db,
    id: UserId,
    max_attempts: i32,
    lock_s: f64,
) -> Result<std::result::Result<Option<chrono::DateTime<chrono::Utc>>, chrono::DateTime<chrono::Utc>>>
{
    let row = db
        .query_opt(
            "update users set
                 failed_logins = case when failed_logins + 1 >= $2 then 0 else failed_logins + 1 end,
                 locked_until = case when failed_logins + 1 >= $2
                                     then now() + $3 * interval '1 second' end
             where user_id = $1 and (locked_until is null or locked_until <= now())
             returning locked_until",
            &[&id.0, &max_attempts, &lock_s],
        )
        .await?;
    if let Some(row) = row {
        return Ok(Ok(row.get("locked_until")));
    }
    let row = db
        .query_one(
            "select locked_until from users where user_id = $1",
            &[&id.0],
        )
        .await?;
    let until: Option<chrono::DateTime<chrono::Utc>> = row.get("locked_until");
    Ok(Err(until.unwrap_or_else(chrono::Utc::now)))
}

/// A right password for user `id`: the count of attempts starts again (a lock set by this
/// attempt, or by others made at the same time, is lifted: its maker knows the password).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn login_succeeded(db: &impl Db, id: UserId) -> Result<()> {
    db.execute(
        "update users set failed_logins = 0, locked_until = null where user_id = $1",
        &[&id.0],
    )
    .await?;
    Ok(())
}

/// Set the KYC status of the user with `email`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_kyc(db: &impl Db, email: &str, status: &str) -> Result<User> {
    if !KYC_STATUSES.contains(&status) {
        return Err(StoreError::Invalid(format!(
            "KYC status must be one of {KYC_STATUSES:?}; got {status:?}"
        )));
    }
    let row = db
        .query_opt(
            &format!("update users set kyc_status = $2 where lower(email) = lower($1) returning {COLUMNS}"),
            &[&email, &status],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
    Ok(user(&row))
}
