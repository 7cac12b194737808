//! Prometheus metrics: a process-wide recorder (installed once, shared by every server the
//! process starts) and a middleware that counts and times requests by route.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bucket bounds (seconds) for request and exec durations: the exec path lives in milliseconds.
const BUCKETS_S: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// The process's metrics handle.
#[derive(Clone)]
pub struct Metrics(PrometheusHandle);

impl Metrics {
    /// The recorder, installed on first use.
    pub fn install() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        Self(
            HANDLE
                .get_or_init(|| {
                    let recorder = PrometheusBuilder::new()
                        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS_S)
                        .expect("valid buckets")
                        .build_recorder();
                    let handle = recorder.handle();
                    // Another recorder may already be installed (an embedding application):
                    // then this handle renders our metrics only if that one is ours.
                    let _ = metrics::set_global_recorder(recorder);
                    handle
                })
                .clone(),
        )
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        self.0.render()
    }

    /// Periodic maintenance of histograms; call every minute or so.
    pub fn upkeep(&self) {
        self.0.run_upkeep();
    }
}

/// Count and time each request by route pattern, method and status.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("sbx_http_requests_total", &labels).increment(1);
    metrics::histogram!("sbx_http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    res
}
