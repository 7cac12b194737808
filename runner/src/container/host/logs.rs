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
/// final newline: once the container ended, what it logged after the last piece this had is
/// read once more without following. It can also send that piece in both reads, stamped with
/// different times (a CI run logged `cut \u{FFFD}` twice): in the second read, a stream's first
/// new piece that is the same bytes as the last piece taken of that stream is that piece again.
pub(super) async fn follow_logs(
    pool: Pool,
    backend: ContainerBackend,
    container: String,
    owner: sbx_store::logs::Owner,
) {
    let seq = match owner {
        sbx_store::logs::Owner::Job(_) => 0,
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
        last: None,
        tail: [None, None],
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
        let since = log.last.map(|t| t.timestamp() as i32);
        let mut rest = backend.logs(&container, false, since);
        let mut capped = false;
        // Per stream: whether a piece after what the follow gave has come yet.
        let mut past = [false; 2];
        while let Some(Ok(c)) = rest.next().await {
            if !missed(log.last, &log.tail, &mut past, &c) {
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
/// Docker took it after `last` (the last piece taken), and it is not the same bytes again as
/// its stream's last piece taken (`tail`) as that stream's first piece after `last` (`past`
/// records which streams had one).
fn missed(
    last: Option<chrono::DateTime<chrono::Utc>>,
    tail: &[Option<bytes::Bytes>; 2],
    past: &mut [bool; 2],
    c: &TimedChunk,
) -> bool {
    if last.is_some_and(|last| c.at <= last) {
        return false;
    }
    let i = c.chunk.stream as usize;
    let first = !std::mem::replace(&mut past[i], true);
    !(first && tail[i].as_ref() == Some(&c.chunk.data))
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
    /// When Docker took the last chunk taken.
    last: Option<chrono::DateTime<chrono::Utc>>,
    /// Per stream (stdout, stderr): the bytes of the last chunk taken.
    tail: [Option<bytes::Bytes>; 2],
}

impl Shipping {
    /// Add `c` to the batch; `false` once [`MAX_LOG_BYTES`] are passed (a last line then
    /// says so, and nothing more is to be taken).
    fn take(&mut self, c: TimedChunk) -> bool {
        self.last = Some(c.at);
        self.tail[c.chunk.stream as usize] = Some(c.chunk.data.clone());
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

    fn chunk(stream: OutputStream, secs: i64, data: &'static str) -> TimedChunk {
        TimedChunk {
            at: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            chunk: LogChunk {
                stream,
                data: bytes::Bytes::from_static(data.as_bytes()),
            },
        }
    }

    #[test]
    fn the_second_read_takes_only_what_the_follow_missed() {
        use OutputStream::{Stderr, Stdout};
        let last = Some(chrono::DateTime::from_timestamp(10, 0).unwrap());
        let tail = [
            Some(bytes::Bytes::from_static(b"out")),
            Some(bytes::Bytes::from_static("cut \u{e2}".as_bytes())),
        ];
        let mut past = [false; 2];
        // Taken already (at or before the last piece).
        assert!(!missed(last, &tail, &mut past, &chunk(Stdout, 9, "out")));
        assert!(!missed(
            last,
            &tail,
            &mut past,
            &chunk(Stderr, 10, "cut \u{e2}")
        ));
        // The last stderr piece again, stamped later: not new.
        assert!(!missed(
            last,
            &tail,
            &mut past,
            &chunk(Stderr, 11, "cut \u{e2}")
        ));
        // What follows it on either stream is.
        assert!(missed(
            last,
            &tail,
            &mut past,
            &chunk(Stderr, 12, "cut \u{e2}")
        ));
        assert!(missed(last, &tail, &mut past, &chunk(Stdout, 12, "more")));
        assert!(missed(last, &tail, &mut past, &chunk(Stdout, 13, "out")));
    }
}
