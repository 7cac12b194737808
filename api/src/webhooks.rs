//! The webhook sender: announces ended jobs at their `callback_url`, signed as Standard Webhooks
//! asks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `id.timestamp.body` with the project's secret), and retried with growing waits until the
//! receiver answers 2xx or the attempts run out.
//!
//! Every `sbx serve` runs one. The outbox is in PostgreSQL ([`sbx_store::webhooks`]): senders
//! lease rows, so several API nodes share the work and a sender that dies mid-send costs a
//! repeat (same `webhook-id`, which receivers use to drop duplicates), never a loss.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sbx_store::Pool;
use sbx_store::notify::Notes;
use sbx_store::webhooks::Due;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::routes::jobs::JobView;

/// How the sender behaves; the defaults suit production.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Wait after the first failed attempt; each later wait is 4 times the one before.
    pub retry_base: Duration,
    /// Longest wait between two attempts.
    pub retry_max: Duration,
    /// Attempts before an announcement is given up.
    pub max_attempts: i32,
    /// How long one attempt may take, connection included.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            // 5 s, 20 s, 80 s, 5 min, 21 min, then hourly: about 4 h 50 min in all.
            max_attempts: 10,
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookConfig {
    /// The wait after failed attempt number `attempts` (1 for the first).
    pub fn backoff(&self, attempts: i32) -> Duration {
        let factor = 4u32.saturating_pow(attempts.clamp(1, 16) as u32 - 1);
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

/// Announcements sent at once by one sender.
const BATCH: i64 = 32;
/// Longest sleep between looks at the outbox when no notification comes.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// The Standard Webhooks signature of `body` sent as message `id` at `timestamp` (Unix
/// seconds) with `secret` (`whsec_` and the key in base64): `v1,` and the base64 HMAC-SHA256.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Send due announcements until `shutdown` fires. Runs on the actix runtime (its HTTP client
/// is not `Send`).
pub async fn run(pool: Pool, notes: Notes, config: WebhookConfig, shutdown: CancellationToken) {
    let client = awc::Client::builder()
        .timeout(config.timeout)
        .disable_redirects()
        .finish();
    let mut woken = notes.subscribe();
    while !shutdown.is_cancelled() {
        match sbx_store::webhooks::lease_due(&pool, BATCH, config.timeout * 2).await {
            Ok(due) if !due.is_empty() => {
                let sends = due.into_iter().map(|d| send(&pool, &client, &config, d));
                futures_util::future::join_all(sends).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhooks: could not read the outbox"),
        }
        // Sleep until the next one falls due, a job with a callback ends, or a while passes.
        let wait = match sbx_store::webhooks::next_due(&pool).await {
            Ok(Some(at)) => (at - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(IDLE_POLL),
            _ => IDLE_POLL,
        };
        let woken = sbx_store::notify::wait(&mut woken, wait, |n| {
            matches!(n, sbx_core::notes::Note::WebhookDue(_))
        });
        tokio::select! {
            _ = woken => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One attempt at `due`, its outcome recorded.
async fn send(pool: &Pool, client: &awc::Client, config: &WebhookConfig, due: Due) {
    let outcome = attempt(pool, client, &due).await;
    let recorded = match &outcome {
        Ok(()) => {
            metrics::counter!("sbx_webhooks_total", "outcome" => "delivered").increment(1);
            sbx_store::webhooks::delivered(pool, due.delivery_id).await
        }
        Err(error) => {
            let retry = (due.attempts < config.max_attempts).then(|| config.backoff(due.attempts));
            metrics::counter!("sbx_webhooks_total", "outcome" => if retry.is_some() { "retry" } else { "failed" })
                .increment(1);
            tracing::info!(job_id = ?due.job_id, url = %due.url, attempts = due.attempts, error, "webhook attempt failed");
            sbx_store::webhooks::attempt_failed(pool, due.delivery_id, error, retry).await
        }
    };
    if let Err(e) = recorded {
        // The lease runs out and the announcement is sent again: a repeat, not a loss.
        tracing::warn!(error = %e, job_id = ?due.job_id, "webhooks: could not record an attempt");
    }
}

/// The announcement `due`: its ready body (`budget.warning`, …), or for a job's end
/// `{"type": "job.ended", "timestamp", "data": <the job>}`, the job as `GET /v1/jobs/{id}`
/// shows it.
async fn attempt(pool: &Pool, client: &awc::Client, due: &Due) -> Result<(), String> {
    let now = chrono::Utc::now();
    let body = match (&due.payload, due.job_id) {
        (Some(payload), _) => serde_json::to_vec(payload).expect("a JSON value serializes"),
        (None, Some(job_id)) => {
            let job = sbx_store::jobs::get(pool, due.project_id, job_id)
                .await
                .map_err(|e| format!("reading the job: {e}"))?
                .ok_or("the job no longer exists")?;
            serde_json::to_vec(&serde_json::json!({
                "type": "job.ended",
                "timestamp": now,
                "data": JobView::from(job),
            }))
            .expect("a job serializes")
        }
        (None, None) => return Err("an announcement with neither a job nor a body".into()),
    };
    let id = format!("msg_{}", due.delivery_id.simple());
    let signature = sign(&due.secret, &id, now.timestamp(), &body)
        .ok_or("the project's webhook secret is not valid base64")?;
    let mut res = client
        .post(&due.url)
        .insert_header(("content-type", "application/json"))
        .insert_header(("user-agent", concat!("sbx/", env!("CARGO_PKG_VERSION"))))
        .insert_header(("webhook-id", id))
        .insert_header(("webhook-timestamp", now.timestamp().to_string()))
        .insert_header(("webhook-signature", signature))
        .send_body(body)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    // Read (a little of) the answer so the connection can be reused.
    let _ = res.body().limit(64 << 10).await;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", res.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_standard_webhooks_does() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn waits_grow_fourfold_up_to_the_cap() {
        let c = WebhookConfig::default();
        let waits: Vec<u64> = (1..=7).map(|a| c.backoff(a).as_secs()).collect();
        assert_eq!(waits, [5, 20, 80, 320, 1280, 3600, 3600]);
    }
}
