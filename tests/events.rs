//! Sandbox events out, from the outside: the stream `GET /v1/events` (from now, resumed, filtered)
//! and webhook endpoints (`/v1/webhooks`) getting the same events, signed, as their filters say.

mod common;

use std::time::Duration;

use actix_web::http::Method;
use actix_web::web::Bytes;
use common::hooks::{received, receiver};
use common::{Event, TestApp, answer, delete_sandbox, spawn_app, sse_events};
use futures_util::{Stream, StreamExt as _};
use serde_json::{Value, json};

/// Open `GET /v1/events{query}`, with `Last-Event-ID` when given.
async fn open(
    app: &TestApp,
    query: &str,
    last: Option<&str>,
) -> impl Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin + use<> {
    let mut req = app.request(Method::GET, &format!("/v1/events{query}"));
    if let Some(id) = last {
        req = req.insert_header(("last-event-id", id));
    }
    let res = req.send().await.expect("opening the stream");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    res
}

/// The next `n` events of `stream` (keep-alive comments skipped), within 30 s.
async fn take(
    stream: &mut (impl Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin),
    n: usize,
) -> Vec<Event> {
    let mut text = String::new();
    let read = async {
        loop {
            let complete: String = text
                .split_inclusive("\n\n")
                .filter(|e| e.ends_with("\n\n") && !e.starts_with(':'))
                .collect();
            let events = sse_events(&complete);
            if events.len() >= n {
                return events;
            }
            let chunk = stream.next().await.expect("the stream ended").unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .unwrap_or_else(|_| panic!("not {n} events in 30 s: {text:?}"))
}

fn types(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

#[actix_web::test]
async fn state_changes_stream_and_reach_the_endpoints_that_ask_for_them() {
    let app = spawn_app().await;
    let (all_url, all_log) = receiver(0);
    let (paused_url, paused_log) = receiver(0);
    let r = app.post("/v1/webhooks", &json!({"url": all_url})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["events"], json!(["sandbox.*"]), "{}", r.text);
    let r = app
        .post(
            "/v1/webhooks",
            &json!({"url": paused_url, "events": ["sandbox.paused"], "description": " pauses "}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["description"], "pauses", "{}", r.text);
    let paused_endpoint = r.body["id"].as_str().unwrap().to_owned();

    let mut stream = open(&app, "", None).await;
    let made = app
        .post("/v1/sandboxes", &json!({"image": "code-interpreter"}))
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.sandbox_action(&id, "pause").await.status, 200);
    assert_eq!(app.sandbox_action(&id, "resume").await.status, 200);
    delete_sandbox(&app, &id).await;

    let want = [
        "sandbox.pending",
        "sandbox.running",
        "sandbox.paused",
        "sandbox.resumed",
        "sandbox.terminated",
    ];
    let events = take(&mut stream, 5).await;
    assert_eq!(types(&events), want, "{events:?}");
    let mut last = 0;
    for e in &events {
        let event_id: i64 = e.id.parse().unwrap();
        assert!(event_id > last, "{events:?}");
        last = event_id;
        assert_eq!(e.data["type"], e.event.as_str());
        assert_eq!(e.data["data"]["event_id"], event_id);
        assert_eq!(e.data["data"]["sandbox_id"], id.as_str());
    }
    assert_eq!(events[2].data["data"]["state"], "paused");
    assert_eq!(events[2].data["data"]["reason"], "user");
    assert_eq!(events[3].data["data"]["reason"], "resumed");

    // The endpoint for every type got the five, signed with the project's secret, with the
    // bodies the stream carried; the one for pauses got only the pause.
    let secret = sbx_store::webhooks::secret(&app.pool, app.project_id)
        .await
        .unwrap();
    let got = received(&all_log, 5).await;
    let mut bodies: Vec<Value> = got
        .iter()
        .map(|r| {
            let ts: i64 = r.timestamp.parse().unwrap();
            let sig = sbx_api::webhooks::sign(&secret, &r.id, ts, &r.body).unwrap();
            assert!(r.signature.split(' ').any(|s| s == sig), "{r:?}");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    bodies.sort_by_key(|b| b["data"]["event_id"].as_i64());
    for (body, e) in bodies.iter().zip(&events) {
        assert_eq!(body["type"], e.data["type"], "{body}");
        assert_eq!(body["data"], e.data["data"], "{body}");
        let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
        assert_eq!(at(&body["timestamp"]), at(&e.data["timestamp"]), "{body}");
    }
    let paused = received(&paused_log, 1).await;
    let body: Value = serde_json::from_slice(&paused[0].body).unwrap();
    assert_eq!(body["type"], "sandbox.paused", "{body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(paused_log.lock().unwrap().len(), 1);

    // Resumed after the first event: the other four. Filtered by type, from the start.
    let mut again = open(&app, "", Some(&events[0].id)).await;
    assert_eq!(types(&take(&mut again, 4).await), want[1..]);
    let mut ends = open(
        &app,
        "?after=0&types=sandbox.terminated,sandbox.failed",
        None,
    )
    .await;
    let ended = take(&mut ends, 1).await;
    assert_eq!(types(&ended), ["sandbox.terminated"]);
    let mut one = open(&app, &format!("?after=0&sandbox_id={id}"), None).await;
    assert_eq!(take(&mut one, 5).await.len(), 5);

    // Another project sees neither the endpoints nor the events.
    let other = app.other_project_key().await;
    let theirs = app.get_with_key("/v1/webhooks", Some(&other)).await;
    assert_eq!(theirs.body["data"], json!([]), "{}", theirs.text);
    let r = answer(
        app.request(Method::DELETE, &format!("/v1/webhooks/{paused_endpoint}"))
            .insert_header(("authorization", format!("Bearer {other}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(404, "not_found");

    let r = answer(
        app.request(Method::DELETE, &format!("/v1/webhooks/{paused_endpoint}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let list = app.get("/v1/webhooks").await;
    assert_eq!(
        list.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
}

#[actix_web::test]
async fn bad_endpoints_and_filters_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let bad = |body: Value, field: &'static str, code: &'static str| {
        let app = &app;
        async move {
            let r = app.post("/v1/webhooks", &body).await;
            r.assert_problem(422, code);
            assert_eq!(r.body["field"], field, "{}", r.text);
        }
    };
    bad(
        json!({"url": "ftp://example.com/x"}),
        "url",
        "invalid_callback_url",
    )
    .await;
    bad(json!({"url": "not a url"}), "url", "invalid_callback_url").await;
    let url = "http://127.0.0.1:9/hook";
    bad(
        json!({"url": url, "events": ["sandbox.paused", "sandbox.exploded"]}),
        "events[1]",
        "invalid_request",
    )
    .await;
    bad(
        json!({"url": url, "events": []}),
        "events",
        "invalid_request",
    )
    .await;
    bad(
        json!({"url": url, "description": "x".repeat(201)}),
        "description",
        "invalid_request",
    )
    .await;
    let r = app.get("/v1/events?types=sandbox.nope").await;
    r.assert_problem(400, "bad_request");
    assert!(r.text.contains("types: "), "{}", r.text);
    app.get("/v1/events?after=-1")
        .await
        .assert_problem(400, "bad_request");
    let r = answer(
        app.request(Method::DELETE, "/v1/webhooks/nonsense")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(404, "not_found");

    // At most 16 per project; the 17th is a conflict, and nothing was lost.
    for i in 0..sbx_store::webhook_endpoints::MAX_PER_PROJECT {
        let r = app
            .post("/v1/webhooks", &json!({"url": format!("{url}/{i}")}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    app.post("/v1/webhooks", &json!({"url": url}))
        .await
        .assert_problem(409, "conflict");
    let list = app.get("/v1/webhooks").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 16);
}
