//! Capped in-memory stdout/stderr. The first `cap` bytes are kept; the write that passes the cap
//! stops the guest (a runaway print loop should not burn its whole time limit) and marks the
//! stream truncated.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use sbx_core::{LogChunk, LogSink, OutputStream as Stream};

/// The error a guest is stopped with when it passes its output cap.
#[derive(Debug, thiserror::Error)]
#[error("output limit exceeded")]
pub struct OutputLimitExceeded;

/// One capped stream; clones share the buffer.
#[derive(Clone)]
pub struct CappedPipe {
    buf: Arc<Mutex<Vec<u8>>>,
    cap: Arc<AtomicUsize>,
    truncated: Arc<AtomicBool>,
    name: Stream,
    tap: Option<LogSink>,
}

impl CappedPipe {
    /// A pipe named `name` that keeps at most `cap` bytes and copies what it keeps to `tap`.
    pub fn new(cap: usize, name: Stream, tap: Option<LogSink>) -> Self {
        Self {
            buf: Arc::new(Mutex::new(Vec::new())),
            cap: Arc::new(AtomicUsize::new(cap)),
            truncated: Arc::new(AtomicBool::new(false)),
            name,
            tap,
        }
    }

    /// Whether a write passed the cap.
    pub fn truncated(&self) -> bool {
        self.truncated.load(Ordering::Relaxed)
    }

    /// Empty the pipe and give it a new cap: a session's pipes serve call after call.
    pub fn reset(&self, cap: usize) {
        self.buf.lock().expect("pipe lock").clear();
        self.cap.store(cap, Ordering::Relaxed);
        self.truncated.store(false, Ordering::Relaxed);
    }

    /// What was written, up to the cap.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.lock().expect("pipe lock"))
    }

    /// Append `bytes`, keeping the head up to the cap. `false` once the cap is passed.
    fn append(&self, bytes: &[u8]) -> bool {
        let mut buf = self.buf.lock().expect("pipe lock");
        let room = self.cap.load(Ordering::Relaxed).saturating_sub(buf.len());
        let kept = &bytes[..bytes.len().min(room)];
        buf.extend_from_slice(kept);
        if let Some(tap) = &self.tap
            && !kept.is_empty()
        {
            // A closed receiver only means nobody streams this exec's logs any more.
            let _ = tap.send(LogChunk {
                stream: self.name,
                data: Bytes::copy_from_slice(kept),
            });
        }
        if bytes.len() <= room {
            true
        } else {
            self.truncated.store(true, Ordering::Relaxed);
            false
        }
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if self.append(&bytes) {
            Ok(())
        } else {
            Err(StreamError::Trap(OutputLimitExceeded.into()))
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always room: the write that passes the cap is the one that stops the guest.
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.append(buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(std::io::Error::other(OutputLimitExceeded)))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_head_and_marks_the_cut() {
        let mut p = CappedPipe::new(5, Stream::Stdout, None);
        assert!(p.write(Bytes::from_static(b"abc")).is_ok());
        assert!(!p.truncated());
        assert!(p.write(Bytes::from_static(b"defg")).is_err());
        assert!(p.truncated());
        assert_eq!(p.take(), b"abcde");
    }
}
