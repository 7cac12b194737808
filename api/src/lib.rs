//! The sbx HTTP API (actix-web). Handlers validate, call the [`Executor`] the binary wires in
//! (the runner's backend, which this crate does not depend on), and record jobs through
//! `sbx-store`.
//!
//! # Layout
//! - [`error`]: [`ApiError`] and RFC 9457 problem bodies; extractor error handlers.
//! - [`auth`]: the `/v1` middleware (key lookup, rate limit) and the [`auth::Caller`] extractor.
//! - [`body`]: bodies read by hand (for idempotency hashes) with the extractor's checks.
//! - [`rate_limit`]: governor token buckets per key and the `RateLimit` headers.
//! - [`admission`]: per-project caps on concurrent execs and on queued work.
//! - [`routes`]: one module per resource.
//! - [`interpreters`]: code-interpreter sandboxes: live sessions and their database state.
//! - [`openapi`]: the OpenAPI document and Swagger UI.
//! - [`telemetry`]: Prometheus metrics.
//! - [`webhooks`]: the sender of signed job-ended announcements to `callback_url`s.

pub mod admission;
pub mod auth;
pub mod body;
pub mod error;
pub mod interpreters;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod telemetry;
pub mod webhooks;

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};
use sbx_core::exec::{ExecOutcome, ExecSpec};
use sbx_limits::{ExecLimits, RatePolicy};
use sbx_store::Pool;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

/// A boxed future, as object-safe traits return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an exec could not be run (the code never ran).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The caller's module is not valid (422 `invalid_module`).
    #[error("{0}")]
    InvalidModule(String),
    /// The runner is shutting down or saturated (503).
    #[error("{0}")]
    Unavailable(String),
    /// Our fault (500).
    #[error("{0}")]
    Internal(String),
}

impl From<ExecError> for ApiError {
    fn from(e: ExecError) -> Self {
        match e {
            ExecError::InvalidModule(m) => ApiError::invalid("invalid_module", "module_b64", m),
            ExecError::Unavailable(m) => ApiError::Unavailable(m),
            ExecError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// What runs execs for the API: the embedded runner's backend, wired in by the binary.
pub trait Executor: Send + Sync {
    /// Run `spec` under `limits` now, stopping early if `cancel` fires.
    fn exec(
        &self,
        spec: ExecSpec,
        limits: ExecLimits,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<ExecOutcome, ExecError>>;

    /// Interactive work starts: background work on this host yields to it until the returned
    /// guard drops. Nothing by default.
    fn interactive(&self) -> Box<dyn Send> {
        Box::new(())
    }
}

/// Settings of the API itself.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Per-key request rate.
    pub rate: RatePolicy,
    /// HTTP worker threads.
    pub workers: usize,
    /// Caps on queued work.
    pub queue_caps: admission::QueueCaps,
}

/// Everything a handler may need; cloned per worker (all fields are shared handles).
pub struct AppState {
    /// The database.
    pub pool: Pool,
    /// Runs execs.
    pub executor: Arc<dyn Executor>,
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
    /// Code-interpreter sandboxes.
    pub interpreters: Arc<interpreters::Interpreters>,
    /// Prices, for the usage report.
    pub prices: Arc<sbx_limits::billing::Prices>,
    /// Seals secrets kept in the database.
    pub sealer: sbx_store::seal::Sealer,
}

/// What `serve` wires into the handlers besides the database.
pub struct Wiring {
    /// Runs execs.
    pub executor: Arc<dyn Executor>,
    /// Code-interpreter sandboxes.
    pub interpreters: Arc<interpreters::Interpreters>,
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
    let state = web::Data::new(AppState {
        pool,
        executor: wiring.executor,
        limiter: rate_limit::KeyLimiter::new(config.rate),
        admission: admission::ExecSlots::default(),
        metrics: telemetry::Metrics::install(),
        notes,
        queue_caps: config.queue_caps,
        interpreters: wiring.interpreters,
        prices: Arc::new(wiring.prices),
        sealer: wiring.sealer,
    });
    let sweeper = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            sweeper.limiter.retain_recent();
            sweeper.metrics.upkeep();
        }
    });
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
            .configure(routes::configure)
            .default_service(web::to(error::not_found))
    })
    .workers(config.workers.max(1))
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}
