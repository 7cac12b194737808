//! Interactive work first: while someone waits on an exec or a call (the foreground), queued
//! guests (the background) step aside at their next epoch tick, and none starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Interactive execs in flight; background guests wait while there are any.
#[derive(Default)]
pub(super) struct Foreground {
    pub(super) running: AtomicUsize,
    pub(super) idle: tokio::sync::Notify,
    /// Background guests running now: the only ones an interactive exec needs to interrupt.
    pub(super) background: AtomicUsize,
}

impl Foreground {
    pub(super) fn enter(self: &Arc<Self>) -> ForegroundGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        ForegroundGuard(self.clone())
    }

    pub(super) fn enter_background(self: &Arc<Self>) -> BackgroundGuard {
        self.background.fetch_add(1, Ordering::SeqCst);
        BackgroundGuard(self.clone())
    }

    pub(super) fn busy(&self) -> bool {
        self.running.load(Ordering::SeqCst) > 0
    }

    pub(super) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if !self.busy() {
                return;
            }
            notified.await;
        }
    }
}

/// Interactive work in progress: while one lives, background guests step aside (see
/// [`WasmBackend::interactive`]).
pub struct ForegroundGuard(Arc<Foreground>);

/// Counts a running background guest while it lives.
pub(super) struct BackgroundGuard(Arc<Foreground>);

impl Drop for BackgroundGuard {
    fn drop(&mut self) {
        self.0.background.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for ForegroundGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
