//! Pure rules of sbx: what a workload may ask for, what it gets when it asks for nothing, and
//! how a request's limits are checked against its project's. No I/O lives here.
//!
//! # Layout
//! - [`billing`]: prices per resource-second and the cost arithmetic of the meter, in whole
//!   nano-dollars.
//! - [`catalog`]: the curated sandbox images (`sandboxes-images/catalog.json`).
//! - [`error`]: [`LimitError`], the one error of this crate.
//! - [`exec`]: the limits of one exec (wall time, memory, output) and their resolution against
//!   a project's maxima; request-size caps (code, module, files).
//! - [`gpu`]: GPU inventories (detected or declared), shares of cards and where a request for
//!   one goes (best-fit packing).
//! - [`project`]: a project's limits: maxima per exec, concurrency, rate.
//! - [`sandbox`]: what a sandbox may ask for (memory quantities, CPU, GPU shares, lifetime).
//! - [`templates`]: template names, the Docker references of their builds, and what a
//!   template's Dockerfile may start from.

pub mod billing;
pub mod catalog;
pub mod egress;
pub mod error;
pub mod exec;
pub mod gpu;
pub mod project;
pub mod sandbox;
pub mod templates;

/// Result alias of this crate.
pub type Result<T, E = LimitError> = std::result::Result<T, E>;

pub use error::LimitError;
pub use exec::{CallLimits, ExecLimits, RequestedLimits};
pub use project::{ProjectLimits, RatePolicy};
