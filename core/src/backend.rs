//! The [`Backend`] trait: one way of running a workload under its limits, and how a run is
//! steered ([`Control`]) and heard from while it runs ([`LogChunk`]). A limit the workload hits
//! is an [`ExecOutcome`] status; an `Err` ([`BackendError`]) means the code never ran.

use std::future::Future;
use std::pin::Pin;

use sbx_limits::ExecLimits;
pub use tokio_util::sync::CancellationToken;

use crate::exec::{ExecOutcome, ExecSpec};

crate::vocabulary! {
    /// Which output stream of a program a piece of output came from.
    OutputStream ("output stream") {
        /// Standard output.
        Stdout = "stdout",
        /// Standard error.
        Stderr = "stderr",
    }
}

/// A piece of output a running program wrote, as it wrote it.
#[derive(Debug, Clone)]
pub struct LogChunk {
    /// The stream it was written to.
    pub stream: OutputStream,
    /// The bytes.
    pub data: bytes::Bytes,
}

/// Turns a stream's chunks into text the way [`crate::exec::output_text`] turns its whole
/// output: a UTF-8 sequence that a chunk boundary splits is held back and joined with the next
/// chunk instead of becoming two U+FFFD, so valid UTF-8 comes out exactly as written however
/// it was cut. One per stream; stdout and stderr each get their own.
#[derive(Debug, Default)]
pub struct ChunkText {
    /// The start of a sequence the last chunk ended in the middle of (at most 3 bytes).
    held: Vec<u8>,
}

impl ChunkText {
    /// The text of `bytes` after what earlier chunks held back, holding back a sequence that
    /// `bytes` ends in the middle of.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        let joined;
        let bytes = if self.held.is_empty() {
            bytes
        } else {
            self.held.extend_from_slice(bytes);
            joined = std::mem::take(&mut self.held);
            &joined[..]
        };
        let cut = bytes.len() - unfinished_tail(bytes);
        self.held.extend_from_slice(&bytes[cut..]);
        crate::exec::output_text(&bytes[..cut])
    }

    /// What is still held back, once the stream ended: never finished, so U+FFFD.
    pub fn finish(self) -> String {
        crate::exec::output_text(&self.held)
    }
}

/// A [`ChunkText`] for each stream of one program's output.
#[derive(Debug, Default)]
pub struct LogText {
    stdout: ChunkText,
    stderr: ChunkText,
}

impl LogText {
    /// The text of `chunk`, joined with what its stream held back (see [`ChunkText::push`]).
    pub fn push(&mut self, chunk: &LogChunk) -> String {
        match chunk.stream {
            OutputStream::Stdout => self.stdout.push(&chunk.data),
            OutputStream::Stderr => self.stderr.push(&chunk.data),
        }
    }

    /// Once the program ended: what each stream still held back (a sequence it never
    /// finished, as U+FFFD, as in its result's `stdout`/`stderr`), for the streams that held
    /// any.
    pub fn finish(&mut self) -> Vec<(OutputStream, String)> {
        [
            (OutputStream::Stdout, &mut self.stdout),
            (OutputStream::Stderr, &mut self.stderr),
        ]
        .into_iter()
        .map(|(stream, text)| (stream, std::mem::take(text).finish()))
        .filter(|(_, text)| !text.is_empty())
        .collect()
    }
}

/// How many bytes at the end of `b` start a UTF-8 sequence that `b` does not finish (0 to 3).
fn unfinished_tail(b: &[u8]) -> usize {
    for back in 1..=b.len().min(3) {
        let byte = b[b.len() - back];
        if byte & 0xC0 != 0x80 {
            let needs = match byte {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => 1,
            };
            return if needs > back { back } else { 0 };
        }
    }
    0
}

/// Where a backend sends output while the program runs (for live logs); the full output is
/// in the outcome regardless.
pub type LogSink = tokio::sync::mpsc::UnboundedSender<LogChunk>;

/// How a run is steered from outside.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Stops the run when cancelled.
    pub cancel: CancellationToken,
    /// Receives output as it is written, when given.
    pub logs: Option<LogSink>,
    /// Queued work (async jobs, batch items): it yields the CPU to interactive execs, which
    /// someone is waiting on. Time spent yielded does not count against its wall-time limit.
    pub background: bool,
}

/// A boxed future, as object-safe traits return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a backend could not run a workload. Limits hit by the workload are not errors: they are
/// [`ExecOutcome`] statuses.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The caller's module is not a valid WebAssembly module (API: 422 `invalid_module`).
    #[error("the module is not valid WebAssembly: {0}")]
    InvalidModule(String),
    /// The runtime is missing or broken: artifacts absent, compilation failed (API: 500).
    #[error("runtime unavailable: {0}")]
    Runtime(String),
    /// The host could not prepare the exec: workspace I/O, instantiation (API: 500).
    #[error("the exec could not be started: {0}")]
    Host(String),
    /// The backend is shutting down (API: 503).
    #[error("the runner is shutting down")]
    ShuttingDown,
}

/// What a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// WebAssembly under wasmtime.
    Wasm,
}

/// A way of running workloads, behind `Arc<dyn Backend>` where the choice is made at run time.
pub trait Backend: Send + Sync {
    /// What this backend is.
    fn kind(&self) -> BackendKind;
    /// Languages this backend runs, as the API names them.
    fn languages(&self) -> &'static [&'static str];
    /// Run `spec` under `limits` until it ends, its limits stop it, or `control.cancel` fires.
    fn run(
        &self,
        spec: ExecSpec,
        limits: ExecLimits,
        control: Control,
    ) -> BoxFuture<'_, Result<ExecOutcome, BackendError>>;

    /// Interactive work starts (someone waits on the answer): background work on this backend
    /// yields to it until the returned guard drops. Nothing by default.
    fn interactive(&self) -> Box<dyn Send> {
        Box::new(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_streams_round_trip() {
        crate::tests::round_trips(super::OutputStream::ALL);
    }

    #[test]
    fn text_cut_anywhere_comes_out_as_written() {
        let text = "a\u{e9}\u{20ac}\u{1f600}\r\n\x1b[1mb";
        let bytes = text.as_bytes();
        for size in 1..=bytes.len() {
            let mut decoder = super::ChunkText::default();
            let mut out: String = bytes.chunks(size).map(|c| decoder.push(c)).collect();
            out.push_str(&decoder.finish());
            assert_eq!(out, text, "cut every {size} bytes");
        }
    }

    #[test]
    fn invalid_or_unfinished_bytes_become_replacement_characters() {
        let mut decoder = super::ChunkText::default();
        assert_eq!(decoder.push(b"a\xffb\xe2\x82"), "a\u{fffd}b");
        assert_eq!(decoder.push(b"x"), "\u{fffd}x");
        assert_eq!(decoder.push(b"\xf0\x9f"), "");
        assert_eq!(decoder.finish(), "\u{fffd}");
    }
}
