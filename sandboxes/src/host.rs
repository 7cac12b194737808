//! [`SandboxHost`]: what the lifecycle asks of where a kind of sandbox lives, and the calls
//! ([`Call`]) a running sandbox takes. Its two implementations are the code-interpreter
//! sessions of this process ([`crate::Interpreters`]) and the container sandboxes on the
//! runners ([`crate::Containers`]).

use sbx_core::BoxFuture;
use sbx_core::exec::{CellOutcome, CellSpec, CommandOutcome};
use sbx_core::ids::{ProjectId, SandboxId};
use sbx_store::sandboxes::Sandbox;
use tokio_util::sync::CancellationToken;

use crate::Result;

/// A call into a running sandbox: code for a code-interpreter, a command for a container.
#[derive(Debug, Clone)]
pub enum Call {
    /// Python source run in the interpreter's session.
    Code(CellSpec),
    /// A command run in the container.
    Command(CommandCall),
}

/// A command to run in a container sandbox, in `/workspace`, as the sandbox user.
#[derive(Debug, Clone)]
pub struct CommandCall {
    /// argv: 1 to 256 arguments, none with NUL (checked by the caller).
    pub command: Vec<String>,
    /// Wall-time limit in milliseconds.
    pub timeout_ms: u64,
    /// Cap per output stream in bytes.
    pub output_limit_bytes: u64,
}

/// What came of a [`Call`], of the same kind.
#[derive(Debug, Clone)]
pub enum CallOutcome {
    /// A cell's outcome.
    Code(CellOutcome),
    /// A command's outcome.
    Command(CommandOutcome),
}

impl CallOutcome {
    /// How it ended: `succeeded`, `failed`, `timeout`, …
    pub fn status(&self) -> sbx_core::exec::ExecStatus {
        match self {
            Self::Code(o) => o.status,
            Self::Command(o) => o.status,
        }
    }
}

/// Where the sandboxes of one kind live. The service ([`crate::Sandboxes`]) reads the row,
/// checks ownership and state, and records the changes every kind shares; a host does what
/// only it can. Every method's errors are [`crate::SandboxError`]s, as the API answers them.
pub trait SandboxHost: Send + Sync {
    /// Start sandbox `s`, just inserted `pending`; `env` are the values of its environment
    /// variables that its row does not keep (a container's are sealed in its row). The
    /// sandbox afterwards: running, failed (with why), or, for a container no runner has
    /// room for yet, still pending with `waiting_for` set.
    fn start(&self, s: Sandbox, env: Vec<(String, String)>) -> BoxFuture<'_, Result<Sandbox>>;

    /// Run `call` in sandbox `id` of `project` and wait for its outcome; `cancel` stops it.
    /// A call of the other kind's shape is refused (`NotAnInterpreter`, `NotAContainer`).
    fn exec(
        &self,
        project: ProjectId,
        id: SandboxId,
        call: Call,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<CallOutcome>>;

    /// Pause running sandbox `s` at its owner's request; returns once it no longer runs.
    fn pause<'a>(
        &'a self,
        s: &'a Sandbox,
        reason: sbx_core::sandbox::StateReason,
    ) -> BoxFuture<'a, Result<()>>;

    /// Resume paused sandbox `s` at its owner's request: the sandbox afterwards.
    fn resume<'a>(&'a self, s: &'a Sandbox) -> BoxFuture<'a, Result<Sandbox>>;

    /// Sandbox `id` has ended in the database: let go of what holds it here.
    fn ended(&self, id: SandboxId);

    /// Sandbox `s`'s deadline (`expires_at`) moved.
    fn extended(&self, s: &Sandbox);
}
