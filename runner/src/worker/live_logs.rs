//! A running job's output written to its log (`job_logs`) as it comes, in batches, for
//! `GET /v1/jobs/{id}/logs` to follow.

use std::time::Duration;

use sbx_core::ids::JobId;
use sbx_core::{LogChunk, OutputStream};
use sbx_store::Pool;

/// Write a job's output to `job_logs` in batches, every `every`, until the program ends.
///
/// A job that ends within its first `every` writes none: its result holds the same output, and
/// `GET /v1/jobs/{id}/logs` replays it from there. Most jobs are that short, and each live
/// write is a statement and a notification.
pub(super) async fn pump_logs(
    pool: Pool,
    job: JobId,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<LogChunk>,
    every: Duration,
) {
    let mut batch = Batch::default();
    if !batch.gather(&mut rx, every).await {
        return;
    }
    let mut seq = 0;
    let mut open = true;
    while open {
        if batch.chunks.is_empty() {
            match rx.recv().await {
                Some(first) => {
                    batch.push(&first);
                    open = batch.gather(&mut rx, every).await;
                }
                None => open = false,
            }
        }
        if !open {
            batch.end();
        }
        if batch.chunks.is_empty() {
            // Nothing to write yet (a window that ended inside a character), or ever.
            if open {
                continue;
            }
            break;
        }
        match sbx_store::logs::append(&pool, job, seq, &batch.chunks).await {
            Ok(s) => seq = s,
            Err(e) => tracing::warn!(error = %e, "writing live logs failed"),
        }
        batch.chunks.clear();
    }
}

/// A job's output gathered between two writes to its log.
#[derive(Default)]
struct Batch {
    /// The chunks to write: (stream, text), consecutive chunks of a stream merged.
    chunks: Vec<(OutputStream, String)>,
    /// Each stream's text so far (a character the program wrote in two pieces stays whole).
    text: sbx_core::LogText,
}

impl Batch {
    /// Add what the program writes for `every`; `false` if it ended meanwhile.
    async fn gather(
        &mut self,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<LogChunk>,
        every: Duration,
    ) -> bool {
        let deadline = tokio::time::sleep(every);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return true,
                c = rx.recv() => match c {
                    Some(c) => self.push(&c),
                    None => return false,
                }
            }
        }
    }

    /// Append `c`, merging it into the last chunk of the same stream.
    fn push(&mut self, c: &LogChunk) {
        let text = self.text.push(c);
        self.append(c.stream, text);
    }

    /// Once the program ended: append what its streams held back.
    fn end(&mut self) {
        for (stream, text) in self.text.finish() {
            self.append(stream, text);
        }
    }

    fn append(&mut self, to: OutputStream, text: String) {
        if text.is_empty() {
            return;
        }
        match self.chunks.last_mut() {
            Some((stream, data)) if *stream == to && data.len() < 64 * 1024 => data.push_str(&text),
            _ => self.chunks.push((to, text)),
        }
    }
}
