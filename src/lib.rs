//! The `sbx` application: settings, and the wiring of the API, the store and the embedded
//! runner into one process. The binary (`main.rs`) only parses arguments and calls in here;
//! tests start the same [`Application`] on port 0.
//!
//! # Layout
//! - [`settings`]: every setting, with its unit, default and `SBX_*` variable.
//! - [`app`]: [`Application::build`]: the store, the runner's backends, the sandbox lifecycle
//!   and the API wired into one process.
//! - [`cli`]: the command line besides `serve`: the client of a server (`login`, `exec`,
//!   `sandbox`, `job`, `batch`, `usage`, `images`, `gpus`, `completions`) and the `sbx admin`
//!   commands.
//! - [`mcp_stdio`]: `sbx mcp`, the MCP stdio transport forwarded to a server's `/mcp`.

pub mod app;
pub mod cli;
mod endpoint;
pub mod mcp_stdio;
pub mod settings;

pub use app::Application;
pub use settings::Settings;
