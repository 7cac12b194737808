//! `users`: people, and the KYC status that gates GPU work.

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
}

/// The user with `email`, created if new.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn upsert(db: &impl Db, email: &str) -> Result<User> {
    let row = db
        .query_one(
            "insert into users (user_id, email) values ($1, $2)
             on conflict (email) do update set email = excluded.email
             returning user_id, email, kyc_status",
            &[&UserId::new().0, &email],
        )
        .await?;
    Ok(user(&row))
}

fn user(row: &tokio_postgres::Row) -> User {
    User {
        user_id: UserId(row.get("user_id")),
        email: row.get("email"),
        kyc_status: row.get("kyc_status"),
    }
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
            "update users set kyc_status = $2 where email = $1 returning user_id, email, kyc_status",
            &[&email, &status],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
    Ok(user(&row))
}
