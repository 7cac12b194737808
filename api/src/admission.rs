//! Admission of execs: a project may run at most its `max_concurrent_execs` at once in this
//! process; past that the API answers 429 `concurrency_limit` rather than queueing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sbx_core::ids::ProjectId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

/// Running-exec counters, one semaphore per project.
#[derive(Default)]
pub struct ExecSlots {
    projects: Mutex<HashMap<ProjectId, (u32, Arc<Semaphore>)>>,
}

impl ExecSlots {
    /// A slot for one exec of `project`, whose cap is `max`; held until dropped.
    pub fn try_acquire(
        &self,
        project: ProjectId,
        max: u32,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        let semaphore = {
            let mut projects = self.projects.lock().expect("admission lock");
            let entry = projects
                .entry(project)
                .or_insert_with(|| (max, Arc::new(Semaphore::new(max as usize))));
            if entry.0 != max {
                // The cap changed: new execs count against a new semaphore; running ones finish
                // on the old one.
                *entry = (max, Arc::new(Semaphore::new(max as usize)));
            }
            entry.1.clone()
        };
        semaphore
            .try_acquire_owned()
            .map_err(|_| ApiError::ConcurrencyLimit(max))
    }
}

/// Room for `n` more queued jobs of the caller's project: past the project's cap 429
/// `project_queue_full`, past the global cap 503 `queue_full`.
pub async fn queue_room(
    state: &crate::AppState,
    caller: &crate::auth::Caller,
    n: i64,
) -> Result<(), ApiError> {
    let (project, total) =
        sbx_store::jobs::pending_counts(&state.pool, caller.0.project_id).await?;
    let caps = &state.queue_caps;
    if project + n > caps.per_project {
        return Err(ApiError::QueueFull {
            project: true,
            detail: format!(
                "this project has {project} jobs waiting or running; its cap is {}",
                caps.per_project
            ),
        });
    }
    if total + n > caps.total {
        return Err(ApiError::QueueFull {
            project: false,
            detail: format!("the queue holds {total} jobs; its cap is {}", caps.total),
        });
    }
    Ok(())
}

/// Caps on queued work.
#[derive(Debug, Clone, Copy)]
pub struct QueueCaps {
    /// Jobs one project may have waiting or running.
    pub per_project: i64,
    /// Jobs everyone may have waiting or running.
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_per_project() {
        let slots = ExecSlots::default();
        let (a, b) = (ProjectId::new(), ProjectId::new());
        let first = slots.try_acquire(a, 1).unwrap();
        assert!(matches!(
            slots.try_acquire(a, 1),
            Err(ApiError::ConcurrencyLimit(1))
        ));
        let _other = slots.try_acquire(b, 1).unwrap();
        drop(first);
        assert!(slots.try_acquire(a, 1).is_ok());
    }
}
