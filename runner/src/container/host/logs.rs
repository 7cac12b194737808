//! Containers' output shipped into `sandbox_logs`, numbered across a sandbox's placements.

use std::time::Duration;

use sbx_core::OutputStream;
use sbx_store::Pool;

use futures_util::StreamExt as _;

use crate::container::{ContainerBackend, TimedChunk};

/// Most bytes of output kept in a container's log per placement.
pub(super) const MAX_LOG_BYTES: usize = 32 << 20;

/// Copy container `container`'s output into `owner`'s log, in batches, until it ends or
/// [`MAX_LOG_BYTES`] are kept (a last line then says so).
///
/// Docker 20.10 can end a followed log before it sends the last piece when that piece has no
/// final newline: once the container ended, the log is read once more without following, and
/// each stream's pieces stamped after the last piece of that stream taken are taken too. Times
/// are compared per stream: a stream's pieces are stamped in order, but a piece without a final
/// newline is stamped when it was read and logged only when the stream ends, so it can be
/// stamped before pieces of the other stream that came first (comparing with the last piece of
/// either stream lost such a piece in CI, and sent another twice).
pub(super) async fn follow_logs(
    pool: Pool,
    backend: ContainerBackend,
    container: String,
    owner: sbx_store::logs::Owner,
) {
    let seq = match owner {
        sbx_store::logs::Owner::Job(_) | sbx_store::logs::Owner::Template(_) => 0,
        sbx_store::logs::Owner::Sandbox(_) => match sbx_store::logs::last_seq(&pool, owner).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(?owner, error = %e, "could not find where a sandbox's log ends");
                return;
            }
        },
    };
    let mut log = Shipping {
        pool,
        owner,
        seq,
        batch: Vec::new(),
        kept: 0,
        text: sbx_core::LogText::default(),
        last: [None, None],
    };
    let mut stream = backend.logs(&container, true, None);
    // Written 200 ms after the first chunk of a batch; an idle container costs no wake-ups.
    let mut flush_at = None;
    let full = loop {
        let due = flush_at;
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(Ok(c)) => {
                    if !log.take(c) {
                        break true;
                    }
                    flush_at.get_or_insert_with(|| {
                        tokio::time::Instant::now() + Duration::from_millis(200)
                    });
                }
                Some(Err(_)) | None => break false,
            },
            () = async { tokio::time::sleep_until(due.expect("set")).await }, if due.is_some() => {
                log.flush().await;
                flush_at = None;
            }
        }
    };
    if !full {
        // From the earlier stream's last piece; all of it while a stream has had none.
        let since = match log.last {
            [Some(a), Some(b)] => Some(a.min(b).timestamp() as i32),
            _ => None,
        };
        let mut rest = backend.logs(&container, false, since);
        let mut capped = false;
        while let Some(Ok(c)) = rest.next().await {
            if !missed(&log.last, &c) {
                continue;
            }
            if !log.take(c) {
                capped = true;
                break;
            }
        }
        if !capped {
            let held = log.text.finish();
            log.batch.extend(held);
        }
    }
    log.flush().await;
}

/// Whether `c`, from the read after the follow ended, is a piece the follow did not give:
/// stamped after `last`, its stream's last piece taken (each stream is stamped in order).
fn missed(last: &[Option<chrono::DateTime<chrono::Utc>>; 2], c: &TimedChunk) -> bool {
    last[c.chunk.stream as usize].is_none_or(|last| c.at > last)
}

/// A container's output on its way into its owner's log.
struct Shipping {
    pool: Pool,
    owner: sbx_store::logs::Owner,
    /// The log's last seq.
    seq: i32,
    /// Chunks not written yet.
    batch: Vec<(OutputStream, String)>,
    /// Bytes taken so far.
    kept: usize,
    /// Each stream's text (a character Docker cut in two stays whole).
    text: sbx_core::LogText,
    /// Per stream (stdout, stderr): when Docker took the last chunk taken.
    last: [Option<chrono::DateTime<chrono::Utc>>; 2],
}

impl Shipping {
    /// Add `c` to the batch; `false` once [`MAX_LOG_BYTES`] are passed (a last line then
    /// says so, and nothing more is to be taken).
    fn take(&mut self, c: TimedChunk) -> bool {
        self.last[c.chunk.stream as usize] = Some(c.at);
        self.kept += c.chunk.data.len();
        if self.kept > MAX_LOG_BYTES {
            self.batch.push((
                OutputStream::Stderr,
                format!(
                    "\n[sbx: the log is over {} MiB; what follows is not kept]\n",
                    MAX_LOG_BYTES >> 20
                ),
            ));
            return false;
        }
        let text = self.text.push(&c.chunk);
        if !text.is_empty() {
            self.batch.push((c.chunk.stream, text));
        }
        true
    }

    /// Write the batch.
    async fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.seq = append_log(&self.pool, self.owner, self.seq, &self.batch).await;
            self.batch.clear();
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_core::LogChunk;

    fn chunk(stream: OutputStream, secs: i64) -> TimedChunk {
        TimedChunk {
            at: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            chunk: LogChunk {
                stream,
                data: bytes::Bytes::from_static(b"x"),
            },
        }
    }

    #[test]
    fn the_second_read_takes_what_each_stream_had_not_given() {
        use OutputStream::{Stderr, Stdout};
        let at = |secs| Some(chrono::DateTime::from_timestamp(secs, 0).unwrap());
        // stdout's last piece was stamped 10, stderr's 20.
        let last = [at(10), at(20)];
        assert!(!missed(&last, &chunk(Stdout, 10)));
        assert!(!missed(&last, &chunk(Stderr, 20)));
        // A stdout piece without a final newline, stamped before stderr's last: missed.
        assert!(missed(&last, &chunk(Stdout, 15)));
        assert!(missed(&last, &chunk(Stderr, 21)));
        // A stream that gave nothing: all of it.
        assert!(missed(&[at(10), None], &chunk(Stderr, 1)));
    }
}
