//! `kyc_submissions`: identity checks people submit from the dashboard, and their decisions
//! (by an operator, or by a provider's webhook). A submission makes its person `pending`; a
//! decision makes them `verified` or `rejected`, in the same transaction.

use chrono::{DateTime, NaiveDate, Utc};
use sbx_core::ids::UserId;

use crate::{Db, Pool, Result, StoreError};

/// What a person submits.
#[derive(Debug, Clone)]
pub struct NewSubmission<'a> {
    /// Who.
    pub user_id: UserId,
    /// Their legal name.
    pub legal_name: &'a str,
    /// ISO 3166-1 alpha-2.
    pub country: &'a str,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// The document's file name.
    pub document_name: &'a str,
    /// Its media type.
    pub document_type: &'a str,
    /// The file, sealed.
    pub document_sealed: &'a [u8],
}

/// A submission as an operator reviews it (without the document).
#[derive(Debug, Clone)]
pub struct Submission {
    /// The id.
    pub submission_id: uuid::Uuid,
    /// Who.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Their legal name.
    pub legal_name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// The document's file name.
    pub document_name: String,
    /// Its media type.
    pub document_type: String,
    /// `pending`, `verified` or `rejected`.
    pub status: String,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// A rejection's reason, or a provider's reference.
    pub decision_note: Option<String>,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "k.submission_id, k.user_id, u.email, k.legal_name, k.country,
    k.date_of_birth, k.document_name, k.document_type, k.status, k.decided_at, k.decision_note,
    k.created_at";

fn submission(r: &tokio_postgres::Row) -> Submission {
    Submission {
        submission_id: r.get("submission_id"),
        user_id: UserId(r.get("user_id")),
        email: r.get("email"),
        legal_name: r.get("legal_name"),
        country: r.get("country"),
        date_of_birth: r.get("date_of_birth"),
        document_name: r.get("document_name"),
        document_type: r.get("document_type"),
        status: r.get("status"),
        decided_at: r.get("decided_at"),
        decision_note: r.get("decision_note"),
        created_at: r.get("created_at"),
    }
}

/// Record `s` and make its person `pending`; a submission of theirs still pending is
/// superseded (rejected, saying so). Returns the submission's id, or `None` when the person
/// is verified already (nothing is recorded).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn submit(pool: &Pool, s: &NewSubmission<'_>) -> Result<Option<uuid::Uuid>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // The person's row first, as every decision does: one order, no deadlock.
    let became_pending = tx
        .execute(
            "update users set kyc_status = 'pending' where user_id = $1 and kyc_status <> 'verified'",
            &[&s.user_id.0],
        )
        .await?;
    if became_pending == 0 {
        return Ok(None);
    }
    tx.execute(
        "update kyc_submissions set status = 'rejected', decided_at = now(),
             decision_note = 'superseded by a later submission'
         where user_id = $1 and status = 'pending'",
        &[&s.user_id.0],
    )
    .await?;
    let id = uuid::Uuid::now_v7();
    tx.execute(
        "insert into kyc_submissions (submission_id, user_id, legal_name, country, date_of_birth,
                                      document_name, document_type, document_sealed)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &id,
            &s.user_id.0,
            &s.legal_name,
            &s.country,
            &s.date_of_birth,
            &s.document_name,
            &s.document_type,
            &s.document_sealed,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Who made submission `id`, if there is one.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn submitter(db: &impl Db, id: uuid::Uuid) -> Result<Option<UserId>> {
    let row = db
        .query_opt(
            "select user_id from kyc_submissions where submission_id = $1",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| UserId(r.get("user_id"))))
}

/// Submissions in `status` (all when `None`), oldest first, at most `limit`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(db: &impl Db, status: Option<&str>, limit: i64) -> Result<Vec<Submission>> {
    let rows = db
        .query(
            &format!(
                "select {COLUMNS} from kyc_submissions k join users u using (user_id)
                 where $1::text is null or k.status = $1
                 order by k.created_at limit $2"
            ),
            &[&status, &limit],
        )
        .await?;
    Ok(rows.iter().map(submission).collect())
}

/// Submission `id`'s document: its name, media type and sealed bytes.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn document(db: &impl Db, id: uuid::Uuid) -> Result<Option<(String, String, Vec<u8>)>> {
    let row = db
        .query_opt(
            "select document_name, document_type, document_sealed from kyc_submissions
             where submission_id = $1",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| {
        (
            r.get("document_name"),
            r.get("document_type"),
            r.get("document_sealed"),
        )
    }))
}

/// Decide pending submission `id`: `verified` or `rejected`, by operator `by`, with `note`;
/// its person takes that status. [`StoreError::NotFound`] when there is no such pending one.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn decide(
    pool: &Pool,
    id: uuid::Uuid,
    status: &str,
    by: Option<UserId>,
    note: Option<&str>,
) -> Result<Submission> {
    if !matches!(status, "verified" | "rejected") {
        return Err(StoreError::Invalid(format!(
            "a decision is verified or rejected; got {status:?}"
        )));
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // The person's row first, as a submission does: one order, no deadlock.
    tx.execute(
        "select 1 from users where user_id = (select user_id from kyc_submissions
                                               where submission_id = $1) for update",
        &[&id],
    )
    .await?;
    let row = tx
        .query_opt(
            "update kyc_submissions set status = $2, decided_at = now(), decided_by = $3,
                                        decision_note = $4
             where submission_id = $1 and status = 'pending' returning user_id",
            &[&id, &status, &by.map(|b| b.0), &note],
        )
        .await?
        .ok_or(StoreError::NotFound("pending KYC submission"))?;
    let user: uuid::Uuid = row.get("user_id");
    tx.execute(
        "update users set kyc_status = $2 where user_id = $1",
        &[&user, &status],
    )
    .await?;
    let row = tx
        .query_one(
            &format!(
                "select {COLUMNS} from kyc_submissions k join users u using (user_id)
                 where k.submission_id = $1"
            ),
            &[&id],
        )
        .await?;
    tx.commit().await?;
    Ok(submission(&row))
}

/// A provider's decision about the person with `email`: their latest pending submission, if
/// any, is decided with `reference`, and they take `status` (`verified` or `rejected`).
/// [`StoreError::NotFound`] when there is no such person.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn provider_decision(
    pool: &Pool,
    webhook_id: &str,
    email: &str,
    status: &str,
    reference: Option<&str>,
) -> Result<Receipt> {
    if !matches!(status, "verified" | "rejected") {
        return Err(StoreError::Invalid(format!(
            "a decision is verified or rejected; got {status:?}"
        )));
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let fresh = tx
        .execute(
            "insert into webhook_receipts (source, webhook_id) values ('kyc', $1)
             on conflict do nothing",
            &[&webhook_id],
        )
        .await?;
    if fresh == 0 {
        return Ok(Receipt::Duplicate);
    }
    let row = tx
        .query_opt(
            "update users set kyc_status = $2 where lower(email) = lower($1) returning user_id",
            &[&email, &status],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
    let user: uuid::Uuid = row.get("user_id");
    tx.execute(
        "update kyc_submissions set status = $2, decided_at = now(), decision_note = $3
         where submission_id = (select submission_id from kyc_submissions
                                where user_id = $1 and status = 'pending'
                                order by created_at desc limit 1)",
        &[&user, &status, &reference],
    )
    .await?;
    tx.commit().await?;
    Ok(Receipt::Applied)
}

/// What became of a provider's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Applied now.
    Applied,
    /// Its `webhook-id` was received before: acknowledged, not applied again.
    Duplicate,
}

/// Forget webhook receipts older than `max_age_s` seconds (past the signature tolerance a
/// replay fails on its timestamp anyway); returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn purge_receipts(db: &impl Db, max_age_s: f64) -> Result<u64> {
    db.execute(
        "delete from webhook_receipts where received_at < now() - $1 * interval '1 second'",
        &[&max_age_s],
    )
    .await
}
