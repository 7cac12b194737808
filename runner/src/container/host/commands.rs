//! Commands the API asks for through the database (`sandbox_commands`), run in this runner's
//! containers and recorded.

use std::sync::Arc;
use std::time::Duration;

use sbx_core::exec::{CommandOutcome, ExecStatus};
use sbx_core::ids::{CommandId, SandboxId};

use super::ContainerHost;

/// A command nobody took this long after it was written had its note lost: look for it.
pub(super) const OVERLOOKED_SECS: f64 = 0.5;

impl ContainerHost {
    /// Run command `cmd` in sandbox `id` if it runs here, and record what came of it.
    pub(super) async fn run_command(&self, id: SandboxId, cmd: CommandId) {
        let container = {
            let books = self.books.lock().expect("books lock");
            match books.held.get(&id) {
                Some(h) if !h.leaving => h.container.clone(),
                _ => None,
            }
        };
        let Some(container) = container else {
            return;
        };
        let command = match sbx_store::commands::take(&self.pool, cmd).await {
            Ok(Some(c)) if c.sandbox_id == id => c,
            Ok(Some(c)) => {
                tracing::warn!(sandbox = %id, command = %cmd, of = %c.sandbox_id, "a command named the wrong sandbox");
                return;
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(sandbox = %id, error = %e, "could not take a command");
                return;
            }
        };
        let recorded = match self
            .backend
            .exec(
                &container,
                &command.argv,
                Duration::from_millis(command.timeout_ms.max(1) as u64),
                command.output_cap.max(0) as usize,
            )
            .await
        {
            Ok(out) => sbx_store::commands::Recorded::Ran(outcome(out)),
            Err(e) => sbx_store::commands::Recorded::Error(e.to_string()),
        };
        if let Err(e) = sbx_store::commands::finish(&self.pool, cmd, &recorded).await {
            tracing::warn!(sandbox = %id, error = %e, "could not record a command's outcome");
        }
    }

    /// Run the commands for sandboxes here whose notes were lost.
    pub(super) async fn overlooked_commands(self: Arc<Self>) {
        let running: Vec<uuid::Uuid> = {
            let books = self.books.lock().expect("books lock");
            books
                .held
                .iter()
                .filter(|(_, h)| h.container.is_some() && !h.leaving)
                .map(|(id, _)| id.0)
                .collect()
        };
        let Ok(cmds) = sbx_store::commands::overlooked(&self.pool, &running, OVERLOOKED_SECS).await
        else {
            return;
        };
        for (id, cmd) in cmds {
            let this = self.clone();
            tokio::spawn(async move { this.run_command(id, cmd).await });
        }
    }
}

/// What came of a command, as the API answers it.
fn outcome(out: crate::container::ExecOutput) -> CommandOutcome {
    let status = if out.timed_out {
        ExecStatus::Timeout
    } else if out.truncated {
        ExecStatus::OutputLimit
    } else if out.exit_code == Some(0) {
        ExecStatus::Succeeded
    } else {
        ExecStatus::Failed
    };
    CommandOutcome {
        status,
        exit_code: out.exit_code,
        stdout: sbx_core::exec::output_text(&out.stdout),
        stderr: sbx_core::exec::output_text(&out.stderr),
        truncated: out.truncated,
        duration_ms: (out.elapsed.as_secs_f64() * 1e6).round() / 1e3,
    }
}
