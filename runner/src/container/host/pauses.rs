//! A placement's pause: its container stopped, its folders kept on this host
//! ([`super::kept`]), the pause recorded with its number, and their copy into the database
//! begun ([`super::copies`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sbx_core::ids::SandboxId;
use sbx_core::sandbox::{SandboxState, StateReason};
use sbx_store::sandboxes::{self, Transition};

use super::ContainerHost;
use super::kept;
use crate::Result;
use crate::container::RunnerError;

impl ContainerHost {
    /// Pause sandbox `id`, if it runs here: its folders into the snapshot, its container and
    /// share freed.
    pub(super) async fn pause(self: &Arc<Self>, id: SandboxId, reason: StateReason) -> Result<()> {
        // A sandbox still starting here is paused once its container runs.
        let deadline = Instant::now() + Duration::from_secs(30);
        let container = loop {
            {
                let mut books = self.books.lock().expect("books lock");
                let Some(h) = books.held.get_mut(&id) else {
                    return Ok(());
                };
                if h.leaving {
                    return Ok(());
                }
                if let Some(c) = h.container.clone() {
                    h.leaving = true;
                    break c;
                }
            }
            if Instant::now() > deadline {
                return Err(RunnerError::PauseFailed(
                    "the sandbox did not finish starting".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let started = Instant::now();
        let paused = match self.keep(id, &container).await {
            Ok(bytes) => self
                .record_pause(id, reason, bytes)
                .await
                .map(|nth| (nth, bytes)),
            Err(e) => Err(e),
        };
        let (nth, bytes) = match paused {
            Ok(k) => k,
            Err(e) => {
                // Its container is stopped and its files could not be kept: say so, rather
                // than leave a sandbox that claims to run.
                let detail = format!("the pause failed: {e}");
                let failed = sandboxes::transition(
                    &self.pool,
                    id,
                    Transition::new(
                        &[SandboxState::Running],
                        SandboxState::Failed,
                        StateReason::PauseFailed,
                    )
                    .detail(&detail),
                )
                .await;
                self.remove(id).await;
                // Its folders go once the database says it failed; else (a pause recorded by
                // a try whose answer was lost, a database that is away) the sweep decides.
                if matches!(failed, Ok(Some(_))) {
                    let dir = self.config.dir.clone();
                    let _ = tokio::task::spawn_blocking(move || kept::drop_kept(&dir, id)).await;
                }
                return Err(RunnerError::PauseFailed(detail));
            }
        };
        if nth.is_none() {
            // Ended or moved meanwhile: nothing to keep.
            let dir = self.config.dir.clone();
            let _ = tokio::task::spawn_blocking(move || kept::drop_kept(&dir, id)).await;
        }
        tracing::info!(
            sandbox = %id,
            nth,
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "container sandbox paused"
        );
        self.remove(id).await;
        if let Some(nth) = nth {
            self.start_copy(id, nth);
        }
        Ok(())
    }

    /// Record the pause of sandbox `id` (`bytes` of files kept here): its number, or `None`
    /// if it ended or moved meanwhile. Its kept folders are marked with the number first, so
    /// that a runner that dies right after the database records it (the pause answered) finds
    /// them on this host when it starts again; a number the database then refuses is never
    /// looked for. The folders are kept: a database that blinks must not cost them, so each
    /// step is tried again (5 times in all), and a record whose answer was lost is found.
    async fn record_pause(
        &self,
        id: SandboxId,
        reason: StateReason,
        bytes: u64,
    ) -> Result<Option<i32>> {
        let next = retried(id, "reading its pause number", || {
            sbx_store::snapshot_chunks::next_pause(&self.pool, id, self.runner)
        })
        .await?;
        let Some(nth) = next else {
            return Ok(None);
        };
        let dir = self.config.dir.clone();
        tokio::task::spawn_blocking(move || kept::mark(&dir, id, nth))
            .await
            .map_err(|e| RunnerError::io("marking its kept folders")(e.into()))?
            .map_err(RunnerError::io("its kept folders could not be marked"))?;
        retried(id, "recording the pause", || async {
            let pool = &self.pool;
            let host = self.host.as_str();
            let recorded = sbx_store::snapshot_chunks::pause_container(
                pool,
                id,
                self.runner,
                reason,
                host,
                bytes as i64,
                nth,
            )
            .await?;
            Ok(match recorded {
                Some(nth) => Some(nth),
                None => sbx_store::snapshot_chunks::pause_recorded(pool, id, nth, host)
                    .await?
                    .then_some(nth),
            })
        })
        .await
    }

    /// Container `container` of sandbox `id` stopped, then its folders kept on this host
    /// ([`kept::keep`]): the bytes of files they hold. They are moved only once nothing in the
    /// container can change them.
    pub(super) async fn keep(&self, id: SandboxId, container: &str) -> Result<u64> {
        let stop = bollard::query_parameters::StopContainerOptionsBuilder::new()
            .t(crate::container::STOP_GRACE_SECS)
            .build();
        match self
            .backend
            .docker()
            .stop_container(container, Some(stop))
            .await
        {
            Ok(()) => {}
            // Not running any more (304): as good.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => {}
            Err(e) => {
                return Err(RunnerError::PauseFailed(format!(
                    "the container could not be stopped: {e}"
                )));
            }
        }
        let root = self
            .root(id)
            .ok_or_else(|| RunnerError::PauseFailed("it is not held here".into()))?;
        let dir = self.config.dir.clone();
        tokio::task::spawn_blocking(move || kept::keep(&dir, &root, id))
            .await
            .map_err(|e| RunnerError::io("keeping its folders")(e.into()))?
            .map_err(RunnerError::io("its folders could not be kept"))
    }
}

/// `step` until it succeeds, 5 times at most, waiting 0.5 s, 1 s, … between tries: its value,
/// or the last error.
async fn retried<T, F, Fut>(id: SandboxId, what: &str, mut step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = sbx_store::Result<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match step().await {
            Ok(t) => return Ok(t),
            Err(e) if tries >= 5 => return Err(e.into()),
            Err(e) => {
                tracing::warn!(sandbox = %id, error = %e, "{what} failed; trying again");
                tokio::time::sleep(Duration::from_millis(500 * tries)).await;
            }
        }
    }
}
