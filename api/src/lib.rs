//! The sbx HTTP API (actix-web). Handlers validate, run execs on the `sbx_core::Backend` the
//! binary wires in (the runner's, which this crate does not depend on), ask the sandbox
//! lifecycle (`sbx-sandboxes`) for sandboxes, and record jobs through `sbx-store`.
//!
//! # Layout
//! - [`dashboard`]: the web dashboard's built files at `/`.
//! - [`code`]: the table of error codes: name, HTTP status and title of each.
//! - [`error`]: [`ApiError`] and RFC 9457 problem bodies; extractor error handlers.
//! - [`auth`]: the `/v1` middleware (key lookup, rate limit) and the [`auth::Caller`] extractor.
//! - [`budget`]: monthly budgets: the API, the watcher, the 402 on new work.
//! - [`body`]: bodies read by hand (for idempotency hashes) with the extractor's checks.
//! - [`idempotency`]: what a creating POST that repeats an `Idempotency-Key` answers.
//! - [`rate_limit`]: governor token buckets per key and the `RateLimit` headers.
//! - [`accounts`]: people signing in to the dashboard: passwords, sessions, CSRF, lockout.
//! - [`kyc`]: identity checks: people's submissions, operators' and providers' decisions.
//! - [`admission`]: per-project caps on concurrent execs and on queued work.
//! - [`routes`]: one module per resource.
//! - [`files`]: a sandbox's files: paths, and the operations on its host folders.
//! - [`runner_endpoint`]: the runners' internal endpoint, and passing requests to it.
//! - [`previews`]: preview URLs: a sandbox's port on an origin of its own, for browsers.
//! - [`mcp`]: the MCP server at `/mcp`: tools for agents over the same checks as `/v1`.
//! - [`sse`]: Server-Sent Events for log streams: encoding, resuming, following a log.
//! - [`openapi`]: the OpenAPI document and Swagger UI.
//! - [`responses`]: OpenAPI response declarations that operations share.
//! - [`telemetry`]: Prometheus metrics.
//! - [`websocket`]: WebSocket frames passed between a client's socket and one this server opened.
//! - [`webhooks`]: the sender of signed job-ended announcements to `callback_url`s.

pub mod accounts;
pub mod admission;
pub mod auth;
pub mod body;
pub mod budget;
pub mod client_addr;
pub mod code;
pub mod dashboard;
pub mod error;
pub mod files;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod idempotency;
pub mod kyc;
pub mod mcp;
pub mod openapi;
pub mod placements;
pub mod previews;
pub mod rate_limit;
pub mod responses;
pub mod routes;
pub mod runner_endpoint;
pub mod sse;
pub mod telemetry;
pub mod webhooks;
pub mod websocket;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};
use sbx_limits::RatePolicy;
use sbx_store::Pool;

pub use error::ApiError;

/// Settings of the API itself.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Per-key request rate.
    pub rate: RatePolicy,
    /// HTTP worker threads.
    pub workers: usize,
    /// Caps on queued work.
    pub queue_caps: admission::QueueCaps,
    /// The dashboard's built files, served at `/` (none: `/` is a 404).
    pub dashboard_dir: Option<std::path::PathBuf>,
    /// Which sandboxes need a KYC-verified project owner.
    pub kyc: sbx_limits::sandbox::KycRule,
    /// The Standard Webhooks secret (`whsec_…`) a KYC provider signs its decisions with; none:
    /// no provider.
    pub kyc_webhook_secret: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For`/`-Proto` are believed.
    pub trusted_proxies: client_addr::TrustedProxies,
    /// Where preview URLs live.
    pub preview_site: previews::PreviewSite,
}

/// Everything a handler may need; cloned per worker (all fields are shared handles).
pub struct AppState {
    /// The database.
    pub pool: Pool,
    /// Runs execs.
    pub backend: Arc<dyn sbx_core::Backend>,
    /// Per-key rate limits.
    pub limiter: rate_limit::KeyLimiter,
    /// Per-project exec concurrency.
    pub admission: admission::ExecSlots,
    /// Prometheus rendering.
    pub metrics: telemetry::Metrics,
    /// Notifications from the database (jobs ended, logs written).
    pub notes: sbx_store::notify::Notes,
    /// Caps on queued work.
    pub queue_caps: admission::QueueCaps,
    /// The sandbox lifecycle.
    pub sandboxes: Arc<sbx_sandboxes::Sandboxes>,
    /// Prices, for the usage report.
    pub prices: Arc<sbx_limits::billing::Prices>,
    /// Seals secrets kept in the database.
    pub sealer: sbx_store::seal::Sealer,
    /// Sign-in attempts per client address.
    pub logins: accounts::LoginLimiter,
    /// Which sandboxes need a KYC-verified project owner.
    pub kyc: sbx_limits::sandbox::KycRule,
    /// The secret a KYC provider signs its webhooks with.
    pub kyc_webhook_secret: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For`/`-Proto` are believed.
    pub proxies: client_addr::TrustedProxies,
    /// Where preview URLs live.
    pub preview_site: previews::PreviewSite,
    /// Which runner serves each running container sandbox, for a few seconds.
    pub placements: Arc<placements::Placements>,
}

/// What `serve` wires into the handlers besides the database.
pub struct Wiring {
    /// Runs execs.
    pub backend: Arc<dyn sbx_core::Backend>,
    /// The sandbox lifecycle.
    pub sandboxes: Arc<sbx_sandboxes::Sandboxes>,
    /// Prices, for the usage report.
    pub prices: sbx_limits::billing::Prices,
    /// Seals secrets kept in the database.
    pub sealer: sbx_store::seal::Sealer,
}

/// Start serving on `listener`. The returned server runs once awaited or spawned; its handle
/// stops it.
pub fn serve(
    listener: TcpListener,
    pool: Pool,
    notes: sbx_store::notify::Notes,
    wiring: Wiring,
    config: &ApiConfig,
) -> std::io::Result<actix_web::dev::Server> {
    let placements = placements::Placements::new(&notes);
    let state = web::Data::new(AppState {
        pool,
        backend: wiring.backend,
        limiter: rate_limit::KeyLimiter::new(config.rate),
        admission: admission::ExecSlots::default(),
        metrics: telemetry::Metrics::install(),
        notes,
        queue_caps: config.queue_caps,
        sandboxes: wiring.sandboxes,
        prices: Arc::new(wiring.prices),
        sealer: wiring.sealer,
        logins: accounts::LoginLimiter::default(),
        kyc: config.kyc,
        kyc_webhook_secret: config.kyc_webhook_secret.clone(),
        proxies: config.trusted_proxies.clone(),
        preview_site: config.preview_site.clone(),
        placements,
    });
    let sweeper = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            sweeper.limiter.retain_recent();
            sweeper.logins.retain_recent();
            sweeper.metrics.upkeep();
            if let Err(e) = sbx_store::sessions::purge_expired(&sweeper.pool).await {
                tracing::warn!(error = %e, "purging expired sessions");
            }
            // Twice the tolerance: a replay is refused by its timestamp before its receipt goes.
            let keep_s = 2.0 * kyc::WEBHOOK_TOLERANCE_S as f64;
            if let Err(e) = sbx_store::kyc::purge_receipts(&sweeper.pool, keep_s).await {
                tracing::warn!(error = %e, "purging webhook receipts");
            }
            let full_s = routes::sandboxes::metrics::FULL_RESOLUTION_S;
            if let Err(e) = sbx_store::usage::downsample(&sweeper.pool, full_s).await {
                tracing::warn!(error = %e, "merging old usage samples");
            }
        }
    });
    actix_web::rt::spawn(budget::watch(state.clone()));
    let gauges = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            if let Ok((queued, running)) = sbx_store::queue::depth(&gauges.pool).await {
                metrics::gauge!("sbx_queue_depth").set(queued as f64);
                metrics::gauge!("sbx_jobs_running").set(running as f64);
            }
        }
    });
    let mcp = mcp::service(state.clone());
    let dashboard_dir = config.dashboard_dir.clone();
    let preview_site = config.preview_site.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(sbx_limits::exec::MAX_BODY_BYTES)
                    .content_type_required(true)
                    .error_handler(error::json_error),
            )
            .app_data(web::PayloadConfig::new(sbx_limits::exec::MAX_BODY_BYTES))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .wrap(middleware::from_fn(telemetry::record))
            .wrap(tracing_actix_web::TracingLogger::default())
            // First: a preview URL's host takes every path.
            .configure(previews::configure(preview_site.clone()))
            .configure(routes::configure)
            .configure(mcp::configure(&mcp))
            .configure(dashboard::configure(dashboard_dir.clone()))
            .default_service(web::to(error::not_found))
    })
    .workers(config.workers.max(1))
    // Answers go out as written: a streamed answer's head and first part are two writes,
    // and Nagle's algorithm would hold the second for the peer's delayed ACK (40 ms).
    .tcp_nodelay(true)
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}
