//! What the API asks of the container runtime on its own host: run a command in a sandbox's
//! container, read its logs. Placement, starting, pausing and removing are the runners'
//! (`runner::sandboxes`); the API reaches them through the database and NOTIFY.

use std::time::Duration;

use futures_util::stream::BoxStream;
use serde::Serialize;
use utoipa::ToSchema;

use crate::BoxFuture;

/// A command's result inside a container sandbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommandOutcome {
    /// `succeeded` (exit 0), `failed`, `timeout` or `output_limit`.
    pub status: &'static str,
    /// The exit code, when the command exited.
    pub exit_code: Option<i64>,
    /// Standard output, cut at the cap.
    pub stdout: String,
    /// Standard error, cut at the cap.
    pub stderr: String,
    /// Whether output was cut.
    pub truncated: bool,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
}

/// The container runtime, wired in by the binary.
pub trait ContainerOps: Send + Sync {
    /// Run `cmd` in container `id` for at most `timeout`, keeping `cap` bytes per stream.
    fn exec(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
        cap: usize,
    ) -> BoxFuture<'_, Result<CommandOutcome, String>>;
    /// Container `id`'s output so far and, with `follow`, as it comes: (`stdout`|`stderr`, bytes).
    fn logs(
        &self,
        id: &str,
        follow: bool,
    ) -> BoxStream<'static, Result<(&'static str, bytes::Bytes), String>>;
}
