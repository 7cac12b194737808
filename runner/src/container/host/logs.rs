//! Containers' output shipped into `sandbox_logs`, numbered across a sandbox's placements.

use std::time::Duration;

use sbx_core::OutputStream;
use sbx_store::Pool;

use crate::container::ContainerBackend;

/// Most bytes of output kept in a container's log per placement.
pub(super) const MAX_LOG_BYTES: usize = 32 << 20;

/// Copy container `container`'s output into `owner`'s log, in batches, until it ends or
/// [`MAX_LOG_BYTES`] are kept (a last line then says so).
pub(super) async fn follow_logs(
    pool: Pool,
    backend: ContainerBackend,
    container: String,
    owner: sbx_store::logs::Owner,
) {
    use futures_util::StreamExt as _;
    let mut seq = match owner {
        sbx_store::logs::Owner::Job(_) => 0,
        sbx_store::logs::Owner::Sandbox(_) => match sbx_store::logs::last_seq(&pool, owner).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(?owner, error = %e, "could not find where a sandbox's log ends");
                return;
            }
        },
    };
    let mut stream = backend.logs(&container, true);
    let mut batch: Vec<(OutputStream, String)> = Vec::new();
    let mut kept = 0usize;
    // Written 200 ms after the first chunk of a batch; an idle container costs no wake-ups.
    let mut flush_at = None;
    loop {
        let due = flush_at;
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(Ok(c)) => {
                    kept += c.data.len();
                    if kept > MAX_LOG_BYTES {
                        batch.push((OutputStream::Stderr, format!(
                            "\n[sbx: the log is over {} MiB; what follows is not kept]\n",
                            MAX_LOG_BYTES >> 20
                        )));
                        break;
                    }
                    batch.push((c.stream, sbx_core::exec::output_text(&c.data)));
                    flush_at.get_or_insert_with(|| {
                        tokio::time::Instant::now() + Duration::from_millis(200)
                    });
                }
                Some(Err(_)) | None => break,
            },
            () = async { tokio::time::sleep_until(due.expect("set")).await }, if due.is_some() => {
                seq = append_log(&pool, owner, seq, &batch).await;
                batch.clear();
                flush_at = None;
            }
        }
    }
    append_log(&pool, owner, seq, &batch).await;
}

/// Append `batch` to `owner`'s log after `seq`: the new last seq. A sandbox's previous
/// placement may still have been writing when this one read where the log ended: on a clash
/// the end is read again and the batch written once more after it.
async fn append_log(
    pool: &Pool,
    owner: sbx_store::logs::Owner,
    seq: i32,
    batch: &[(OutputStream, String)],
) -> i32 {
    match sbx_store::logs::append(pool, owner, seq, batch).await {
        Ok(s) => return s,
        Err(e) => tracing::debug!(?owner, error = %e, "a log append failed; trying once more"),
    }
    let retried = match sbx_store::logs::last_seq(pool, owner).await {
        Ok(last) => sbx_store::logs::append(pool, owner, last, batch).await,
        Err(e) => Err(e),
    };
    retried.unwrap_or_else(|e| {
        tracing::warn!(?owner, error = %e, "could not keep a log");
        seq
    })
}
