//! Webhooks from the outside: a job made with a `callback_url` is announced there when it ends
//! (however it ends), signed with its project's secret as Standard Webhooks asks, and sent again
//! with backoff until the receiver takes it or the attempts run out.

mod common;

use std::time::Duration;

use common::hooks::{received, receiver};
use common::{TestApp, ended, queue_job, spawn_app_with, wait_job};
use serde_json::{Value, json};

/// The job's announcement once delivered or given up (at most 2 s after the last request):
/// (attempts, delivered, given up).
async fn settled_delivery(app: &TestApp, job: &str) -> (i32, bool, bool) {
    let client = app.pool.get().await.unwrap();
    for _ in 0..100 {
        let row = client
            .query_one(
                "select attempts, delivered_at is not null, failed_at is not null
                 from webhook_deliveries where job_id = $1::text::uuid",
                &[&job],
            )
            .await
            .unwrap();
        let row = (row.get(0), row.get(1), row.get(2));
        if row.1 || row.2 {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the announcement of {job} never settled");
}

#[actix_web::test]
async fn an_ended_job_is_announced_signed_and_sent_again_until_taken() {
    let app = spawn_app_with(|s| s.webhook_retry_base_ms = 200).await;
    let (url, log) = receiver(1);
    let job = queue_job(
        &app,
        json!({"language": "python", "code": "print('hi')", "callback_url": url}),
    )
    .await;
    let got = received(&log, 2).await;
    // The same message, refused once, then taken.
    assert!(got[0].id.starts_with("msg_"), "{got:?}");
    assert_eq!(got[0].id, got[1].id, "a retry keeps its webhook-id");
    let secret = sbx_store::webhooks::secret(&app.pool, app.project_id)
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"));
    for r in &got {
        let ts: i64 = r.timestamp.parse().unwrap();
        assert!((ts - chrono::Utc::now().timestamp()).abs() < 60);
        assert_eq!(
            Some(r.signature.clone()),
            sbx_api::webhooks::sign(&secret, &r.id, ts, &r.body),
            "the signature checks out with the project's secret"
        );
        assert!(
            sbx_api::webhooks::sign("whsec_c29tZW9uZSBlbHNl", &r.id, ts, &r.body)
                != Some(r.signature.clone())
        );
    }
    let event: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(event["type"], "job.ended");
    assert_eq!(event["data"]["id"], job.as_str());
    assert_eq!(event["data"]["status"], "succeeded");
    assert_eq!(event["data"]["result"]["stdout"], "hi\n");
    assert_eq!(event["data"]["request"]["callback_url"], url.as_str());
    // Taken: recorded, and not sent again.
    assert_eq!(settled_delivery(&app, &job).await, (2, true, false));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[actix_web::test]
async fn a_cancelled_job_is_announced_too() {
    let app = spawn_app_with(|_| {}).await;
    let (url, log) = receiver(0);
    let job = queue_job(
        &app,
        json!({"language": "python", "code": "import time; time.sleep(30)", "timeout_ms": 60000, "callback_url": url}),
    )
    .await;
    let r = app
        .post(&format!("/v1/jobs/{job}/cancel"), &json!({}))
        .await;
    assert_eq!(r.status.as_u16(), 202, "{}", r.text);
    let got = received(&log, 1).await;
    let event: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        (
            event["data"]["id"].as_str(),
            event["data"]["status"].as_str()
        ),
        (Some(job.as_str()), Some("cancelled"))
    );
}

#[actix_web::test]
async fn a_receiver_that_never_takes_it_is_given_up_after_the_last_attempt() {
    let app = spawn_app_with(|s| {
        s.webhook_retry_base_ms = 100;
        s.webhook_max_attempts = 3;
    })
    .await;
    let (url, log) = receiver(usize::MAX);
    let job = queue_job(
        &app,
        json!({"language": "python", "code": "print(1)", "callback_url": url}),
    )
    .await;
    received(&log, 3).await;
    assert_eq!(settled_delivery(&app, &job).await, (3, false, true));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(log.lock().unwrap().len(), 3, "no attempt past the last");
}

#[actix_web::test]
async fn bad_callback_urls_are_refused() {
    let app = spawn_app_with(|_| {}).await;
    for url in [
        json!("ftp://example.com/hook"),
        json!("not a url"),
        json!("/relative/path"),
        json!(format!("https://example.com/{}", "x".repeat(3000))),
        json!(42),
    ] {
        let r = app
            .post(
                "/v1/jobs",
                &json!({"language": "python", "code": "print(1)", "callback_url": url}),
            )
            .await;
        assert_eq!(r.status.as_u16(), 422, "{url}: {}", r.text);
        assert!(
            r.body["code"] == "invalid_callback_url" || r.body["code"] == "invalid_request",
            "{}",
            r.text
        );
    }
    // An exec answers with its result: a callback there is a mistake, said so.
    let r = app
        .post(
            "/v1/exec",
            &json!({"language": "python", "code": "print(1)", "callback_url": "https://example.com/hook"}),
        )
        .await;
    r.assert_problem(422, "invalid_request");
    assert_eq!(r.body["field"], "callback_url");
    // A job without a callback leaves nothing in the outbox.
    let job = queue_job(&app, json!({"language": "python", "code": "print(1)"})).await;
    wait_job(&app, &job, ended).await;
    let client = app.pool.get().await.unwrap();
    let n: i64 = common::count(&client, "select count(*) from webhook_deliveries").await;
    assert_eq!(n, 0);
}
