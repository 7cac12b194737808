//! The sandbox vocabulary: what state a sandbox is in ([`SandboxState`]), what runs it
//! ([`SandboxKind`]) and why it got to its state ([`StateReason`]). The database keeps each as
//! its snake_case name; the API shows the same names.

use crate::exec::ExecStatus;

crate::vocabulary! {
    /// Where a sandbox is in its life: `pending → running ⇄ paused → terminated | failed`.
    SandboxState ("sandbox state") {
        /// Created or resumed, not placed yet (containers wait for a runner with room).
        Pending = "pending",
        /// Its workload is live: calls and commands run in it.
        Running = "running",
        /// Stopped with its files (and an interpreter's memory) kept; no CPU, memory or GPU.
        Paused = "paused",
        /// Ended as asked or as expected: deleted, its timeout passed, its command exited 0.
        Terminated = "terminated",
        /// Ended by a failure: see the reason and detail.
        Failed = "failed",
    }
}

impl SandboxState {
    /// The states a sandbox may still leave, in which it counts against its project's cap.
    pub const OPEN: &'static [Self] = &[Self::Pending, Self::Running, Self::Paused];

    /// Whether the sandbox has ended (terminated or failed): nothing more happens to it.
    pub const fn is_ended(self) -> bool {
        matches!(self, Self::Terminated | Self::Failed)
    }
}

crate::vocabulary! {
    /// What runs a sandbox.
    SandboxKind ("sandbox kind") {
        /// Image `code-interpreter`: a stateful Python interpreter in wasmtime, live in an API
        /// process.
        Interpreter = "interpreter",
        /// Any other image: a Docker container on a runner.
        Container = "container",
    }
}

crate::vocabulary! {
    /// Why a sandbox is in its state; every state change records one.
    StateReason ("state reason") {
        /// Just created (`pending`).
        Created = "created",
        /// Its workload started for the first time (`running`).
        Started = "started",
        /// Resumed by its owner (`pending` for a container until placed, then `running`).
        Resumed = "resumed",
        /// A paused interpreter resumed by an exec call (`running`).
        ResumedByExec = "resumed_by_exec",
        /// Moved between API processes: paused in one and resumed in another.
        Moved = "moved",
        /// Its owner asked: a pause, a delete, a job's cancel.
        User = "user",
        /// Its project reached its monthly budget (`paused`).
        Budget = "budget",
        /// Idle past its idle timeout (`paused`).
        Idle = "idle",
        /// Paused to make room for another session in the same process.
        Evicted = "evicted",
        /// Paused because the process holding it shut down gracefully.
        Shutdown = "shutdown",
        /// Its lifetime passed (`terminated`).
        Timeout = "timeout",
        /// The process holding it stopped without pausing it (`failed`).
        RunnerLost = "runner_lost",
        /// Its workload could not be started (`failed`).
        StartFailed = "start_failed",
        /// Its image could not be pulled (`failed`).
        ImagePullFailed = "image_pull_failed",
        /// A pause could not be completed (`failed`).
        PauseFailed = "pause_failed",
        /// A paused interpreter's snapshot is gone (`failed`).
        SnapshotMissing = "snapshot_missing",
        /// A snapshot or kept copy cannot be restored (`failed`).
        SnapshotCorrupt = "snapshot_corrupt",
        /// A container's kept files are on no host and in no complete copy (`failed`).
        SnapshotLost = "snapshot_lost",
        /// A container's command exited: 0 `terminated`, else `failed`.
        Exited = "exited",
        /// A container ran out of memory (`failed`).
        Oom = "oom",
        /// The runner could not follow its container (`failed`).
        RunnerError = "runner_error",
        /// Not a change of state: the sandbox tried to reach what its egress rules do not
        /// allow (event `sandbox.egress_denied`, its state unchanged).
        EgressDenied = "egress_denied",
    }
}

impl StateReason {
    /// How a container job ends when its sandbox ended for this reason (its owner's cancel, its
    /// timeout, or anything else, which is our fault).
    pub const fn ended_job_status(self) -> ExecStatus {
        match self {
            Self::Timeout => ExecStatus::Timeout,
            Self::User => ExecStatus::Cancelled,
            _ => ExecStatus::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_ends_as_its_sandbox_did() {
        assert_eq!(StateReason::Timeout.ended_job_status(), ExecStatus::Timeout);
        assert_eq!(StateReason::User.ended_job_status(), ExecStatus::Cancelled);
        assert_eq!(
            StateReason::RunnerLost.ended_job_status(),
            ExecStatus::Error
        );
    }

    #[test]
    fn states_kinds_and_reasons_round_trip() {
        crate::tests::round_trips(SandboxState::ALL);
        crate::tests::round_trips(SandboxKind::ALL);
        crate::tests::round_trips(StateReason::ALL);
    }

    #[test]
    fn only_terminated_and_failed_have_ended() {
        for &s in SandboxState::ALL {
            assert_eq!(s.is_ended(), !SandboxState::OPEN.contains(&s), "{s}");
        }
    }
}
