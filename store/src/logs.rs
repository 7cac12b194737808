//! `job_logs`, `sandbox_logs` and `template_logs`: what a running job or container sandbox
//! wrote, or what a template's build said, in numbered chunks, for live log streams. Appended in batches by the runner that runs it (each batch
//! announced on [`CHANNEL_LOGS`] with the owner's id); read from a sequence number on by the
//! API, on any host.

use sbx_core::OutputStream;
use sbx_core::ids::{JobId, SandboxId, TemplateId};
use sbx_core::notes::LOGS as CHANNEL_LOGS;

use crate::{Db, Result};

/// Whose log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A job's (exec or container).
    Job(JobId),
    /// A container sandbox's: its command's output, over all its placements.
    Sandbox(SandboxId),
    /// A template version's build.
    Template(TemplateId),
}

impl Owner {
    fn table(self) -> (&'static str, &'static str, uuid::Uuid) {
        match self {
            Owner::Job(j) => ("job_logs", "job_id", j.0),
            Owner::Sandbox(s) => ("sandbox_logs", "sandbox_id", s.0),
            Owner::Template(t) => ("template_logs", "template_id", t.0),
        }
    }

    /// The owner's id, as its log notes carry it.
    pub fn id(self) -> uuid::Uuid {
        self.table().2
    }
}

impl From<JobId> for Owner {
    fn from(j: JobId) -> Self {
        Owner::Job(j)
    }
}

impl From<TemplateId> for Owner {
    fn from(t: TemplateId) -> Self {
        Owner::Template(t)
    }
}

impl From<SandboxId> for Owner {
    fn from(s: SandboxId) -> Self {
        Owner::Sandbox(s)
    }
}

/// One chunk of output.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// 1, 2, … per job.
    pub seq: i32,
    /// The stream it was written to.
    pub stream: OutputStream,
    /// The text.
    pub data: String,
}

/// Append `chunks` (stream, text) to `owner`'s log after `last_seq`; returns the new last seq.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn append(
    db: &impl Db,
    owner: impl Into<Owner>,
    last_seq: i32,
    chunks: &[(OutputStream, String)],
) -> Result<i32> {
    if chunks.is_empty() {
        return Ok(last_seq);
    }
    let seqs: Vec<i32> = (1..=chunks.len() as i32).map(|i| last_seq + i).collect();
    let streams: Vec<&str> = chunks.iter().map(|c| c.0.as_str()).collect();
    let data: Vec<&str> = chunks.iter().map(|c| c.1.as_str()).collect();
    let (table, column, id) = owner.into().table();
    db
        .execute(
            &format!(
                "with ins as (
                     insert into {table} ({column}, seq, stream, data)
                     select $1, s, st, d from unnest($2::int[], $3::text[], $4::text[]) as t(s, st, d)
                 )
                 select pg_notify($5, $1::text)"
            ),
            &[&id, &seqs, &streams, &data, &CHANNEL_LOGS],
        )
        .await?;
    Ok(last_seq + chunks.len() as i32)
}

/// `owner`'s chunks after `after`, in order, at most `limit`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn read(
    db: &impl Db,
    owner: impl Into<Owner>,
    after: i32,
    limit: i64,
) -> Result<Vec<Chunk>> {
    let (table, column, id) = owner.into().table();
    let rows = db
        .query(
            &format!(
                "select seq, stream, data from {table} where {column} = $1 and seq > $2
                 order by seq limit $3"
            ),
            &[&id, &after, &limit],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Chunk {
                seq: r.try_get("seq")?,
                stream: crate::named(r, "stream")?,
                data: r.try_get("data")?,
            })
        })
        .collect()
}

/// The last seq of `owner`'s log (0 when empty): where a new placement of a sandbox goes on.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn last_seq(db: &impl Db, owner: impl Into<Owner>) -> Result<i32> {
    let (table, column, id) = owner.into().table();
    let row = db
        .query_one(
            &format!("select coalesce(max(seq), 0) from {table} where {column} = $1"),
            &[&id],
        )
        .await?;
    Ok(row.get(0))
}
