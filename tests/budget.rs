//! Monthly budgets from the outside: an owner sets one; at 80 % the budget webhook gets
//! `budget.warning`, at 100 % `budget.exceeded`, new work is refused with 402 and running
//! sandboxes are paused (reason `budget`); removing the limit lets work start again.

mod common;

use std::time::Duration;

use actix_web::http::Method;
use common::hooks::{received, receiver};
use common::people::{Session, call, person, signed_in};
use common::{TestApp, spawn_app};
use serde_json::{Value, json};

async fn owner(app: &TestApp) -> Session {
    let user = person(app, "owner@example.com").await;
    sbx_store::members::add(&app.pool, user, app.project_id, "owner")
        .await
        .unwrap();
    signed_in(app, "owner@example.com").await
}

async fn set(app: &TestApp, s: &Session, body: Value) -> common::Answer {
    call(app, s, Method::PUT, "/v1/budget", true, &[], Some(body)).await
}

/// Spent so far this month, USD, as the budget counts it.
async fn spent(app: &TestApp) -> f64 {
    app.get("/v1/budget").await.body["spent_usd"]
        .as_f64()
        .unwrap()
}

#[actix_web::test]
async fn a_spent_budget_refuses_new_work_and_pauses_running_sandboxes() {
    let app = spawn_app().await;
    let s = owner(&app).await;
    let (url, log) = receiver(0);
    let made = app
        .post("/v1/sandboxes", &json!({"image": "code-interpreter"}))
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.python("print(1)").await["status"], "succeeded");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = spent(&app).await;
    assert!(
        before > 0.0,
        "the running sandbox and the exec cost something"
    );

    // Not with a key, not with a bad body.
    app.request(Method::PUT, "/v1/budget")
        .send_json(&json!({"monthly_limit_usd": 1}))
        .await
        .unwrap();
    assert_eq!(
        app.get("/v1/budget").await.body["monthly_limit_usd"],
        Value::Null
    );
    for bad in [
        json!({"monthly_limit_usd": -1}),
        json!({"monthly_limit_usd": 5, "webhook_url": "ftp://x"}),
    ] {
        let r = set(&app, &s, bad).await;
        assert_eq!(r.status, 422, "{}", r.text);
    }

    // A limit below what was spent: exceeded at once.
    let r = set(
        &app,
        &s,
        json!({"monthly_limit_usd": before / 2.0, "webhook_url": url}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["state"], "exceeded", "{}", r.text);
    assert!(r.body["fraction"].as_f64().unwrap() >= 1.0);
    let event: Value = serde_json::from_slice(&received(&log, 1).await[0].body).unwrap();
    assert_eq!(event["type"], "budget.exceeded", "{event}");
    assert_eq!(event["data"]["project_id"], app.project_id.to_string());

    let sandbox = app.get(&format!("/v1/sandboxes/{id}")).await;
    assert_eq!(sandbox.body["state"], "paused", "{}", sandbox.text);
    assert_eq!(sandbox.body["state_reason"], "budget");
    for (path, body) in [
        (
            "/v1/exec",
            json!({"language": "python", "code": "print(1)"}),
        ),
        (
            "/v1/jobs",
            json!({"language": "python", "code": "print(1)"}),
        ),
        (
            "/v1/batches",
            json!({"items": [{"id": "a", "code": "print(1)"}]}),
        ),
        ("/v1/sandboxes", json!({"image": "code-interpreter"})),
        (&format!("/v1/sandboxes/{id}/resume"), json!({})),
        (&format!("/v1/sandboxes/{id}/exec"), json!({"code": "1"})),
    ] {
        app.post(path, &body)
            .await
            .assert_problem(402, "budget_exceeded");
    }
    // Reading goes on; nothing was deleted.
    assert_eq!(app.get("/v1/sandboxes").await.status, 200);

    // No limit: work starts again, and the sandbox resumes where it was.
    let r = set(
        &app,
        &s,
        json!({"monthly_limit_usd": null, "webhook_url": null}),
    )
    .await;
    assert_eq!(r.body["state"], "ok", "{}", r.text);
    assert_eq!(app.python("print(2)").await["stdout"], "2\n");
    let r = app
        .post(&format!("/v1/sandboxes/{id}/resume"), &json!({}))
        .await;
    assert_eq!(r.body["state"], "running", "{}", r.text);
}

#[actix_web::test]
async fn at_eighty_percent_the_webhook_is_warned_once() {
    let app = spawn_app().await;
    let s = owner(&app).await;
    let (url, log) = receiver(0);
    assert_eq!(app.python("print(1)").await["status"], "succeeded");
    let spent = spent(&app).await;
    assert!(spent > 0.0);
    // Nothing runs now: what was spent stays what it is.
    let r = set(
        &app,
        &s,
        json!({"monthly_limit_usd": spent / 0.9, "webhook_url": url}),
    )
    .await;
    assert_eq!(r.body["state"], "warning", "{}", r.text);
    let event: Value = serde_json::from_slice(&received(&log, 1).await[0].body).unwrap();
    assert_eq!(event["type"], "budget.warning", "{event}");
    // The next checks send nothing more (nothing runs, so the spend stays at 90 %).
    tokio::time::sleep(sbx_api::budget::CHECK_EVERY + Duration::from_secs(1)).await;
    assert_eq!(log.lock().unwrap().len(), 1);
}
