//! The sandbox lifecycle of sbx, once a sandbox's row exists (the API checks the request and
//! inserts it): create, start, wait for placement, exec, pause, resume, timeout and
//! terminate, for both kinds of sandbox, each through its [`SandboxHost`], over `sbx-store`
//! and a `SessionHost` (`sbx-core`). The API's routes call [`Sandboxes`]; refusals and
//! failures are [`SandboxError`]s.
//!
//! Code-interpreter sessions: the database's view of each session and the live interpreters
//! this process holds, kept in step.
//!
//! A running session is live in exactly one process, its holder (`sandboxes.holder`). A call
//! that reaches the holder runs with no database round trip: the holder knows its sessions'
//! projects and deadlines. A call that reaches another process moves the session there: the
//! holder is asked (NOTIFY) to pause it, and this process resumes it from the snapshot. A paused
//! session resumes in whichever process next needs it.
//!
//! Once a second each process: terminates sandboxes whose timeout passed (in the database, so
//! this holds across restarts; holders hear of it by NOTIFY), pauses its sessions idle past
//! their idle time, reports its live sessions (so a crashed holder's sessions are failed, not
//! left "running"), and writes their call counts. At most `max_live` sessions are live per
//! process; opening one more pauses the least recently used. A graceful shutdown pauses every
//! live session, so a restart loses nothing.
//!
//! # Layout
//! - [`lifecycle`]: the service, [`Sandboxes`]: what the API asks of a sandbox.
//! - [`host`]: [`SandboxHost`], what the service asks of where a kind of sandbox lives, and
//!   the calls ([`Call`]) a sandbox takes.
//! - [`interpreters`]: [`Interpreters`], code-interpreter sessions held by this process.
//! - [`sessions`]: those sessions moving between processes, and making room.
//! - [`fork`]: copies of a running code-interpreter sandbox, from its live memory.
//! - [`upkeep`]: their once-a-second sweep, notes, shutdown.
//! - [`containers`]: [`Containers`], container sandboxes on the runners, through the database.
//! - [`error`]: [`SandboxError`], each variant with its HTTP status.

pub mod containers;
pub mod error;
pub mod fork;
pub mod host;
pub mod interpreters;
pub mod lifecycle;
pub mod sessions;
pub mod upkeep;

pub use containers::Containers;
pub use error::SandboxError;
pub use host::{Call, CallOutcome, CommandCall, SandboxHost};
pub use interpreters::Interpreters;
pub use lifecycle::{Sandboxes, SandboxesConfig};

/// Result alias of this crate.
pub type Result<T, E = SandboxError> = std::result::Result<T, E>;
