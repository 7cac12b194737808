//! `job_logs`: what a running job wrote, in numbered chunks, for live log streams. Appended in
//! batches by the runner; read from a sequence number on by the API.

use crate::ids::JobId;
use crate::queue::CHANNEL_LOGS;
use crate::{Pool, Result};

/// One chunk of output.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// 1, 2, … per job.
    pub seq: i32,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The text.
    pub data: String,
}

/// Append `chunks` (stream, text) to `job`'s log after `last_seq`; returns the new last seq.
pub async fn append(
    pool: &Pool,
    job: JobId,
    last_seq: i32,
    chunks: &[(&'static str, String)],
) -> Result<i32> {
    if chunks.is_empty() {
        return Ok(last_seq);
    }
    let seqs: Vec<i32> = (1..=chunks.len() as i32).map(|i| last_seq + i).collect();
    let streams: Vec<&str> = chunks.iter().map(|c| c.0).collect();
    let data: Vec<&str> = chunks.iter().map(|c| c.1.as_str()).collect();
    let client = pool.get().await?;
    client
        .execute(
            "with ins as (
                 insert into job_logs (job_id, seq, stream, data)
                 select $1, s, st, d from unnest($2::int[], $3::text[], $4::text[]) as t(s, st, d)
             )
             select pg_notify($5, $1::text)",
            &[&job.0, &seqs, &streams, &data, &CHANNEL_LOGS],
        )
        .await?;
    Ok(last_seq + chunks.len() as i32)
}

/// `job`'s chunks after `after`, in order, at most `limit`.
pub async fn read(pool: &Pool, job: JobId, after: i32, limit: i64) -> Result<Vec<Chunk>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "select seq, stream, data from job_logs where job_id = $1 and seq > $2 order by seq limit $3",
            &[&job.0, &after, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Chunk {
            seq: r.get(0),
            stream: r.get(1),
            data: r.get(2),
        })
        .collect())
}
