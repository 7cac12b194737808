//! The notifications sbx sends over PostgreSQL's LISTEN/NOTIFY: which channel carries what, how
//! each payload is written ([`Note::payload`]; SQL that notifies from inside a statement builds
//! the same text from [`SandboxNote`]'s prefixes) and read back ([`Note::parse`]).
//!
//! A note is a wake-up, never the only record: every waiter also polls, so a lost note costs
//! latency, not a result.

use crate::ids::{CommandId, JobId, ProjectId, SandboxId};
use crate::sandbox::StateReason;

/// Channel of [`Note::JobsQueued`] (no payload).
pub const JOBS: &str = "sbx_jobs";
/// Channel of [`Note::JobsEnded`]: job ids, comma-separated, at most 100 to a note.
pub const DONE: &str = "sbx_done";
/// Channel of [`Note::CancelJob`]: a job id.
pub const CANCEL: &str = "sbx_cancel";
/// Channel of [`Note::Logs`]: the id of the job or sandbox whose log grew.
pub const LOGS: &str = "sbx_logs";
/// Channel of [`Note::WebhookDue`]: the id of the job whose webhook is due (a trigger sends it).
pub const WEBHOOKS: &str = "sbx_webhooks";
/// Channel of [`Note::Sandbox`]: `what:<id>[:<more>]`, see [`SandboxNote`].
pub const SANDBOXES: &str = "sbx_sandboxes";
/// Channel of [`Note::Events`]: the id of the project one of whose sandboxes changed state
/// (the `sandbox_events` trigger sends it).
pub const EVENTS: &str = "sbx_events";
/// Every channel: what a process listens on.
pub const CHANNELS: &[&str] = &[JOBS, DONE, CANCEL, LOGS, WEBHOOKS, SANDBOXES, EVENTS];

/// A notification, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Jobs were queued: idle runners claim.
    JobsQueued,
    /// These jobs ended: their waiters read the results.
    JobsEnded(Vec<JobId>),
    /// This job is to be stopped by the runner running it.
    CancelJob(JobId),
    /// The log of this job or sandbox grew.
    Logs(uuid::Uuid),
    /// This job's webhook delivery is due.
    WebhookDue(JobId),
    /// A sandbox's holder or waiter has something to act on.
    Sandbox(SandboxNote),
    /// A sandbox of this project changed state: `GET /v1/events` readers look.
    Events(ProjectId),
}

/// What a note on [`SANDBOXES`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxNote {
    /// `end:<sandbox>`: it ended; its holder lets it go.
    Ended(SandboxId),
    /// `pause:<sandbox>:<reason>`: its holder is asked to pause it.
    PauseRequested {
        /// The sandbox.
        sandbox: SandboxId,
        /// The reason the pause records.
        reason: StateReason,
    },
    /// `pending:<sandbox>`: a container sandbox waits for a runner to place it.
    Pending(SandboxId),
    /// `running:<sandbox>`: its container runs.
    Running(SandboxId),
    /// `exec:<sandbox>:<command>`: the runner holding it is to run this command.
    Command {
        /// The sandbox.
        sandbox: SandboxId,
        /// The command.
        command: CommandId,
    },
    /// `done:<command>`: the command's outcome is recorded.
    CommandDone(CommandId),
}

impl SandboxNote {
    /// Payload prefix of [`SandboxNote::Ended`].
    pub const ENDED: &'static str = "end";
    /// Payload prefix of [`SandboxNote::PauseRequested`].
    pub const PAUSE: &'static str = "pause";
    /// Payload prefix of [`SandboxNote::Pending`].
    pub const PENDING: &'static str = "pending";
    /// Payload prefix of [`SandboxNote::Running`].
    pub const RUNNING: &'static str = "running";
    /// Payload prefix of [`SandboxNote::Command`].
    pub const COMMAND: &'static str = "exec";
    /// Payload prefix of [`SandboxNote::CommandDone`].
    pub const COMMAND_DONE: &'static str = "done";

    fn payload(&self) -> String {
        match self {
            Self::Ended(s) => format!("{}:{s}", Self::ENDED),
            Self::PauseRequested { sandbox, reason } => {
                format!("{}:{sandbox}:{reason}", Self::PAUSE)
            }
            Self::Pending(s) => format!("{}:{s}", Self::PENDING),
            Self::Running(s) => format!("{}:{s}", Self::RUNNING),
            Self::Command { sandbox, command } => format!("{}:{sandbox}:{command}", Self::COMMAND),
            Self::CommandDone(c) => format!("{}:{c}", Self::COMMAND_DONE),
        }
    }

    fn parse(payload: &str) -> Result<Self, NoteError> {
        let bad = || NoteError::Payload {
            channel: SANDBOXES,
            payload: payload.to_owned(),
        };
        let mut parts = payload.splitn(3, ':');
        let what = parts.next().ok_or_else(bad)?;
        let id = parts.next().ok_or_else(bad)?;
        let more = parts.next();
        let sandbox = || id.parse::<SandboxId>().map_err(|_| bad());
        let note = match (what, more) {
            (Self::ENDED, None) => Self::Ended(sandbox()?),
            (Self::PENDING, None) => Self::Pending(sandbox()?),
            (Self::RUNNING, None) => Self::Running(sandbox()?),
            (Self::PAUSE, Some(reason)) => Self::PauseRequested {
                sandbox: sandbox()?,
                reason: reason.parse().map_err(|_| bad())?,
            },
            (Self::COMMAND, Some(command)) => Self::Command {
                sandbox: sandbox()?,
                command: command.parse().map_err(|_| bad())?,
            },
            (Self::COMMAND_DONE, None) => Self::CommandDone(id.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        Ok(note)
    }
}

/// A notification that is not one of sbx's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A channel sbx does not use.
    #[error("no note is sent on channel {0:?}")]
    Channel(String),
    /// A payload the channel's note does not have.
    #[error("{payload:?} is not a note of channel {channel}")]
    Payload {
        /// The channel.
        channel: &'static str,
        /// What came.
        payload: String,
    },
}

impl Note {
    /// The channel it is sent on.
    pub fn channel(&self) -> &'static str {
        match self {
            Self::JobsQueued => JOBS,
            Self::JobsEnded(_) => DONE,
            Self::CancelJob(_) => CANCEL,
            Self::Logs(_) => LOGS,
            Self::WebhookDue(_) => WEBHOOKS,
            Self::Sandbox(_) => SANDBOXES,
            Self::Events(_) => EVENTS,
        }
    }

    /// The payload, as [`Note::parse`] reads it back.
    pub fn payload(&self) -> String {
        match self {
            Self::JobsQueued => String::new(),
            Self::JobsEnded(ids) => ids
                .iter()
                .map(JobId::to_string)
                .collect::<Vec<_>>()
                .join(","),
            Self::CancelJob(id) | Self::WebhookDue(id) => id.to_string(),
            Self::Logs(owner) => owner.to_string(),
            Self::Sandbox(n) => n.payload(),
            Self::Events(p) => p.to_string(),
        }
    }

    /// The note `payload` on `channel` stands for.
    pub fn parse(channel: &str, payload: &str) -> Result<Self, NoteError> {
        let bad = |channel: &'static str| NoteError::Payload {
            channel,
            payload: payload.to_owned(),
        };
        match channel {
            // The payload is not read: any `notify sbx_jobs` wakes runners.
            JOBS => Ok(Self::JobsQueued),
            DONE => payload
                .split(',')
                .map(|id| id.parse().map_err(|_| bad(DONE)))
                .collect::<Result<_, _>>()
                .map(Self::JobsEnded),
            CANCEL => payload
                .parse()
                .map(Self::CancelJob)
                .map_err(|_| bad(CANCEL)),
            LOGS => payload.parse().map(Self::Logs).map_err(|_| bad(LOGS)),
            WEBHOOKS => payload
                .parse()
                .map(Self::WebhookDue)
                .map_err(|_| bad(WEBHOOKS)),
            SANDBOXES => SandboxNote::parse(payload).map(Self::Sandbox),
            EVENTS => payload.parse().map(Self::Events).map_err(|_| bad(EVENTS)),
            other => Err(NoteError::Channel(other.to_owned())),
        }
    }

    /// Whether the note may change what a reader of the log of job or sandbox `id` sees: the
    /// log grew, or its owner ended (or is being cancelled).
    pub fn concerns_log_of(&self, id: uuid::Uuid) -> bool {
        match self {
            Self::JobsEnded(ids) => ids.iter().any(|j| j.0 == id),
            Self::CancelJob(j) | Self::WebhookDue(j) => j.0 == id,
            Self::Logs(owner) => *owner == id,
            Self::Sandbox(SandboxNote::Ended(s)) => s.0 == id,
            Self::Sandbox(_) | Self::JobsQueued | Self::Events(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_note() -> Vec<Note> {
        let (s, j, c) = (SandboxId::new(), JobId::new(), CommandId::new());
        let mut notes = vec![
            Note::JobsQueued,
            Note::JobsEnded(vec![j]),
            Note::JobsEnded(vec![j, JobId::new(), JobId::new()]),
            Note::CancelJob(j),
            Note::Logs(s.0),
            Note::WebhookDue(j),
            Note::Sandbox(SandboxNote::Ended(s)),
            Note::Sandbox(SandboxNote::Pending(s)),
            Note::Sandbox(SandboxNote::Running(s)),
            Note::Sandbox(SandboxNote::Command {
                sandbox: s,
                command: c,
            }),
            Note::Sandbox(SandboxNote::CommandDone(c)),
            Note::Events(ProjectId::new()),
        ];
        for &reason in StateReason::ALL {
            notes.push(Note::Sandbox(SandboxNote::PauseRequested {
                sandbox: s,
                reason,
            }));
        }
        notes
    }

    #[test]
    fn every_note_round_trips_through_its_channel_and_payload() {
        for note in every_note() {
            let back = Note::parse(note.channel(), &note.payload());
            assert_eq!(back.as_ref(), Ok(&note), "{note:?}");
        }
    }

    #[test]
    fn channels_are_listed_once_each() {
        let mut channels: Vec<&str> = every_note().iter().map(Note::channel).collect();
        channels.sort_unstable();
        channels.dedup();
        let mut listed = CHANNELS.to_vec();
        listed.sort_unstable();
        assert_eq!(channels, listed);
    }

    #[test]
    fn what_sql_writes_parses() {
        // The statements that notify from SQL write `'<prefix>:' || id`.
        let s = SandboxId::new();
        for (prefix, note) in [
            (SandboxNote::ENDED, SandboxNote::Ended(s)),
            (SandboxNote::PENDING, SandboxNote::Pending(s)),
            (SandboxNote::RUNNING, SandboxNote::Running(s)),
        ] {
            assert_eq!(
                Note::parse(SANDBOXES, &format!("{prefix}:{}", s.0)),
                Ok(Note::Sandbox(note))
            );
        }
    }

    #[test]
    fn foreign_or_damaged_notes_are_refused() {
        let s = SandboxId::new();
        for (channel, payload) in [
            ("elsewhere", "x"),
            (DONE, ""),
            (DONE, "not-a-uuid"),
            (CANCEL, ""),
            (SANDBOXES, ""),
            (SANDBOXES, "end"),
            (SANDBOXES, "end:nope"),
            (SANDBOXES, &format!("later:{s}")),
            (SANDBOXES, &format!("pause:{s}")),
            (SANDBOXES, &format!("pause:{s}:no_such_reason")),
            (SANDBOXES, &format!("end:{s}:extra")),
            (SANDBOXES, &format!("exec:{s}:not-a-command")),
        ] {
            assert!(
                Note::parse(channel, payload).is_err(),
                "{channel} {payload}"
            );
        }
    }

    #[test]
    fn log_readers_wake_for_their_owners_log_and_end_only() {
        let (s, j) = (SandboxId::new(), JobId::new());
        assert!(Note::JobsEnded(vec![JobId::new(), j]).concerns_log_of(j.0));
        assert!(Note::Logs(j.0).concerns_log_of(j.0));
        assert!(Note::Sandbox(SandboxNote::Ended(s)).concerns_log_of(s.0));
        assert!(!Note::Sandbox(SandboxNote::Ended(s)).concerns_log_of(j.0));
        assert!(!Note::Sandbox(SandboxNote::Running(s)).concerns_log_of(s.0));
        assert!(!Note::JobsQueued.concerns_log_of(j.0));
    }
}
