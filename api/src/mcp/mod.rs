//! The MCP server at `/mcp`: sbx's sandboxes as Model Context Protocol tools for agents, over
//! the Streamable HTTP transport (the official Rust SDK `rmcp`, bridged to actix-web by
//! `rmcp-actix-web`).
//!
//! Every request is authenticated and rate-limited exactly as a `/v1` request is (the same
//! [`crate::auth::guard`]: `Authorization: Bearer <key>`, a 401 problem without one); the
//! [`Caller`] it finds travels with the JSON-RPC message to the tool, which calls the same
//! functions the HTTP handlers do (checks, limits, records). A failure the caller can act on
//! (bad arguments, a missing sandbox, a limit) is a tool result with `isError: true` carrying the
//! problem's detail, never a JSON-RPC error.
//!
//! # Layout
//! - this module: the transport, its session manager and the authentication hand-over.
//! - [`args`]: the tools' arguments and their input schemas.
//! - [`tools`]: the tools and what they return.
//! - [`files`]: the file tools' work, where the sandbox's files are.
//! - [`processes`]: the process tools (background processes of a container sandbox).
//! - [`templates`]: the template tools (a project's own images, built from a Dockerfile).

pub mod args;
pub mod files;
pub mod processes;
pub mod templates;
pub mod tools;

use std::sync::Arc;

use actix_web::{HttpMessage, web};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp_actix_web::transport::StreamableHttpService;

use crate::AppState;
use crate::auth::Caller;

pub use tools::Tools;

/// The `/mcp` endpoint, built once per server so that every worker shares one session
/// manager (a session begun on one worker continues on another).
pub type Service = StreamableHttpService<Tools, LocalSessionManager>;

/// The MCP endpoint serving `state`'s sandboxes.
pub fn service(state: web::Data<AppState>) -> Service {
    StreamableHttpService::builder()
        .service_factory(Arc::new(move || Ok(Tools::new(state.clone()))))
        .session_manager(Arc::new(LocalSessionManager::default()))
        .stateful_mode(true)
        // rmcp accepts only loopback `Host` headers by default, against DNS rebinding: a page
        // in a browser reaching a local server. Every request here is authenticated by the
        // `/v1` guard: an API key, which such a page does not have, or the dashboard's
        // SameSite=Lax cookie with the session's CSRF token on every POST and DELETE; and
        // servers are reached under any name.
        .allowed_hosts(Vec::new())
        .on_request_fn(|http, mcp| {
            if let Some(caller) = http.extensions().get::<Caller>() {
                mcp.insert(caller.clone());
            }
        })
        .build()
}

/// Mount `service` at `/mcp` behind the `/v1` authentication and rate limit.
pub fn configure(service: &Service) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        cfg.service(
            service
                .clone()
                .scope_with_path("/mcp")
                .wrap(actix_web::middleware::from_fn(crate::auth::guard)),
        );
    }
}
