//! The durable queue from the outside: async jobs, cancel, idempotency, live logs, batch evals,
//! fairness between projects, admission caps, and runners that die mid-batch.

mod common;

use std::time::{Duration, Instant};

use actix_web::http::Method;
use common::{
    TestApp, ended, poll, queue_job, spawn_api_only, spawn_app, spawn_app_with, sse_events,
    sse_output, start_runner, wait_job,
};
use serde_json::{Value, json};

/// Poll a batch until it is neither running nor stopping (at most 120 s).
async fn wait_batch(app: &TestApp, id: &str) -> Value {
    poll(app, &format!("/v1/batches/{id}"), &app.key, 120, |b| {
        !matches!(b["status"].as_str(), Some("running" | "cancelling"))
    })
    .await
}

/// A batch of `n` items, each running `code`; its id.
async fn batch_of(app: &TestApp, n: usize, code: &str) -> String {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"id": i.to_string(), "code": code}))
        .collect();
    let created = app.post("/v1/batches", &json!({"items": items})).await;
    assert_eq!(created.status.as_u16(), 202, "{}", created.text);
    created.body["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn async_jobs_run_and_are_listed() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/jobs",
            &json!({"language": "python", "code": "print(6 * 7)"}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 202, "{}", created.text);
    assert!(["queued", "running", "succeeded"].contains(&created.body["status"].as_str().unwrap()));
    let id = created.body["id"].as_str().unwrap();
    let done = wait_job(&app, id, ended).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["stdout"], "42\n");
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());
    let list = app.get("/v1/jobs").await;
    assert_eq!(list.body["data"][0]["id"], id);

    let bad = app.post("/v1/jobs", &json!({"language": "python"})).await;
    bad.assert_problem(422, "invalid_request");
    app.post_raw("/v1/jobs", "application/json", "{")
        .await
        .assert_problem(400, "malformed_json");
    app.post_raw("/v1/jobs", "text/plain", "x")
        .await
        .assert_problem(415, "unsupported_media_type");
}

#[actix_web::test]
async fn cancel_stops_a_running_job_at_once_and_a_queued_one_before_it_runs() {
    let app = spawn_app_with(|s| s.runner_slots = Some(1)).await;
    let sleeper = json!({"language": "python", "code": "import time\nprint('started', flush=True)\ntime.sleep(30)", "timeout_ms": 60000});
    let running = app.post("/v1/jobs", &sleeper).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let queued = app.post("/v1/jobs", &sleeper).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_job(&app, &running, |j| j["status"] == "running").await;

    let asked = Instant::now();
    let c = app
        .post(&format!("/v1/jobs/{running}/cancel"), &json!({}))
        .await;
    assert_eq!(c.status.as_u16(), 202, "{}", c.text);
    let done = wait_job(&app, &running, ended).await;
    let took = asked.elapsed();
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(
        took < Duration::from_secs(2),
        "a running job is stopped promptly: {took:?}"
    );

    // The second job may have started once the slot freed; either way it ends cancelled.
    let c = app
        .post(&format!("/v1/jobs/{queued}/cancel"), &json!({}))
        .await;
    assert_eq!(c.status.as_u16(), 202, "{}", c.text);
    assert_eq!(wait_job(&app, &queued, ended).await["status"], "cancelled");
    // Cancelling an ended job changes nothing.
    let again = app
        .post(&format!("/v1/jobs/{running}/cancel"), &json!({}))
        .await;
    assert_eq!(
        (again.status.as_u16(), again.body["status"].as_str()),
        (202, Some("cancelled"))
    );
    app.post(
        &format!("/v1/jobs/{}/cancel", uuid::Uuid::now_v7()),
        &json!({}),
    )
    .await
    .assert_problem(404, "not_found");
}

/// POST `body` to `path` with Idempotency-Key `key`: the status and the JSON answer.
async fn post_with_key(app: &TestApp, path: &str, body: &'static str, key: &str) -> (u16, Value) {
    let mut res = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.key)
        .insert_header(("idempotency-key", key))
        .content_type("application/json")
        .send_body(body)
        .await
        .unwrap();
    let bytes = res.body().await.unwrap();
    (
        res.status().as_u16(),
        serde_json::from_slice::<Value>(&bytes).unwrap(),
    )
}

#[actix_web::test]
async fn idempotency_keys_make_one_job() {
    let app = spawn_app().await;
    let send = |body, key| post_with_key(&app, "/v1/jobs", body, key);
    let body = r#"{"language": "python", "code": "print('once')"}"#;
    let (s1, first) = send(body, "k-1").await;
    let (s2, second) = send(body, "k-1").await;
    assert_eq!((s1, s2), (202, 200));
    assert_eq!(first["id"], second["id"], "same key and body: the same job");
    let (s3, other) = send(r#"{"language": "python", "code": "print('twice')"}"#, "k-1").await;
    assert_eq!(
        (s3, other["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let (s4, fresh) = send(body, "k-2").await;
    assert_eq!(s4, 202);
    assert_ne!(fresh["id"], first["id"]);
    let jobs = app.get("/v1/jobs").await;
    assert_eq!(jobs.body["data"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn idempotency_keys_make_one_batch() {
    let app = spawn_app().await;
    let send = |body, key| post_with_key(&app, "/v1/batches", body, key);
    let body = r#"{"items": [{"id": "a", "code": "print(1)"}, {"id": "b", "code": "print(2)"}]}"#;
    let (s1, first) = send(body, "b-1").await;
    let (s2, second) = send(body, "b-1").await;
    assert_eq!((s1, s2), (202, 200), "{second}");
    assert_eq!(
        first["id"], second["id"],
        "same key and body: the same batch"
    );
    assert_eq!(second["total"], 2);
    let (s3, other) = send(r#"{"items": [{"id": "a", "code": "print(3)"}]}"#, "b-1").await;
    assert_eq!(
        (s3, other["code"].as_str(), other["field"].as_str()),
        (422, Some("idempotency_key_reused"), Some("Idempotency-Key"))
    );
    let (s4, fresh) = send(body, "b-2").await;
    assert_eq!(s4, 202);
    assert_ne!(fresh["id"], first["id"]);
    // Two batches of two items were queued, not three.
    let done = wait_batch(&app, first["id"].as_str().unwrap()).await;
    assert_eq!(done["total"], 2);
    let jobs = app.get("/v1/jobs?limit=100").await;
    assert_eq!(jobs.body["data"].as_array().unwrap().len(), 4);
}

/// Queue Python `code` as a job: its id.
async fn submit(app: &TestApp, code: &str) -> String {
    let r = app
        .post("/v1/jobs", &json!({"language": "python", "code": code}))
        .await;
    r.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("POST /v1/jobs: {}", r.text))
        .to_owned()
}

#[actix_web::test]
async fn logs_stream_as_server_sent_events() {
    let app = spawn_app().await;
    let code = "import time, sys\nfor i in range(3):\n    print(f'line {i}', flush=True)\n    time.sleep(0.3)\nprint('oops', file=sys.stderr)";
    let id = submit(&app, code).await;
    // Connect while it runs: chunks arrive as they are written, then the status.
    let started = Instant::now();
    let mut res = app
        .request(Method::GET, &format!("/v1/jobs/{id}/logs"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let body = res.body().limit(1 << 20).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the stream lasted as long as the job"
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    let evs = sse_events(&text);
    assert_eq!(
        sse_output(&evs, "stdout"),
        "line 0\nline 1\nline 2\n",
        "{text}"
    );
    assert_eq!(sse_output(&evs, "stderr"), "oops\n", "{text}");
    let last = evs.last().unwrap();
    assert_eq!(last.event, "status");
    assert_eq!(last.data["status"], "succeeded");
    assert!(evs.len() >= 4, "{text}");

    // Last-Event-ID resumes after that event.
    let first_id = evs[0].id.clone();
    let mut res = app
        .request(Method::GET, &format!("/v1/jobs/{id}/logs"))
        .insert_header(("last-event-id", first_id.as_str()))
        .send()
        .await
        .unwrap();
    let resumed = sse_events(std::str::from_utf8(&res.body().await.unwrap()).unwrap());
    assert_eq!(resumed[..], evs[1..]);
    app.get(&format!("/v1/jobs/{}/logs", uuid::Uuid::now_v7()))
        .await
        .assert_problem(404, "not_found");
}

/// Joined, the stdout chunks of a job's log are its stdout byte for byte, and so is the
/// result: CR, CRLF, ANSI escapes, a 1 MiB line cut mid-character, forged fields, no final
/// newline.
#[actix_web::test]
async fn a_jobs_log_stream_gives_back_exactly_what_it_wrote() {
    let app = spawn_app().await;
    let id = queue_job(
        &app,
        json!({"language": "python", "code": common::TRICKY_OUTPUT_PY,
               "output_limit_bytes": 4 << 20}),
    )
    .await;
    let mut res = app
        .request(Method::GET, &format!("/v1/jobs/{id}/logs"))
        .send()
        .await
        .unwrap();
    let body = res.body().limit(16 << 20).await.unwrap();
    let events = common::sse_events(std::str::from_utf8(&body).unwrap());
    let written = common::tricky_output();
    let streamed = common::sse_output(&events, "stdout");
    assert!(
        streamed == written,
        "the stream differs from what was written"
    );
    let last = events.last().unwrap();
    assert_eq!(last.data["status"], "succeeded");
    assert!(last.data["result"]["stdout"] == written.as_str());
    assert_eq!(last.data["result"]["stderr"], common::TRICKY_STDERR);
    assert_eq!(common::sse_output(&events, "stderr"), common::TRICKY_STDERR);
    assert!(
        events.iter().filter(|e| e.event == "stdout").count() >= 3,
        "written live, in several chunks"
    );

    // And a batch item's result, as JSON lines.
    let created = app
        .post(
            "/v1/batches",
            &json!({"items": [{"id": "t", "code": common::TRICKY_OUTPUT_PY,
                               "output_limit_bytes": 4 << 20}]}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 202, "{}", created.text);
    let batch = created.body["id"].as_str().unwrap();
    wait_batch(&app, batch).await;
    let mut res = app
        .request(Method::GET, &format!("/v1/batches/{batch}/results"))
        .insert_header(("accept", "application/x-ndjson"))
        .send()
        .await
        .unwrap();
    let body = res.body().limit(16 << 20).await.unwrap();
    let line: Value = serde_json::from_slice(body.strip_suffix(b"\n").unwrap()).unwrap();
    assert!(line["result"]["stdout"] == written.as_str());
}

/// A job over before its first live write (100 ms) keeps its output in its result only; the
/// stream gives it as chunks all the same, and `Last-Event-ID` skips them as it would others.
/// (Stdout is flushed before stderr is written, so that a job slowed past 100 ms by a busy
/// machine streams the same events live.)
#[actix_web::test]
async fn a_short_jobs_logs_are_replayed_from_its_result() {
    let app = spawn_app().await;
    let code =
        "import sys\nprint('out 1')\nprint('out 2', flush=True)\nprint('err', file=sys.stderr)";
    let id = submit(&app, code).await;
    let job = wait_job(&app, &id, ended).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let stream = |after: Option<&'static str>| {
        let mut req = app
            .client
            .get(format!("{}/v1/jobs/{id}/logs", app.base))
            .bearer_auth(&app.key);
        if let Some(a) = after {
            req = req.insert_header(("last-event-id", a));
        }
        async move {
            let mut res = req.send().await.unwrap();
            assert_eq!(res.status().as_u16(), 200);
            String::from_utf8(res.body().await.unwrap().to_vec()).unwrap()
        }
    };
    let text = stream(None).await;
    let evs = sse_events(&text);
    let kinds: Vec<(&str, &str)> = evs
        .iter()
        .map(|e| (e.id.as_str(), e.event.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("1", "stdout"), ("2", "stderr"), ("end", "status")],
        "{text}"
    );
    assert_eq!(evs[0].text(), "out 1\nout 2\n", "{text}");
    assert_eq!(evs[1].text(), "err\n", "{text}");
    let resumed = stream(Some("1")).await;
    let kinds: Vec<String> = sse_events(&resumed).into_iter().map(|e| e.event).collect();
    assert_eq!(kinds, ["stderr", "status"], "{resumed}");
}

/// PostgreSQL keeps no NUL in text or jsonb: a job whose output holds one is still recorded
/// (NUL shown as U+FFFD, a file holding one given as base64), and it does not take the results
/// recorded with it down either. The 16 others are submitted at once, twice the test app's 8
/// database connections: a create that held one while asking for another deadlocked the pool.
#[actix_web::test]
async fn output_with_nul_is_recorded() {
    let app = spawn_app().await;
    let nul = submit(
        &app,
        "print('a\\0b')\nopen('zeros.bin', 'wb').write(bytes(8))\nopen('t.txt', 'w').write('x\\0y')",
    )
    .await;
    let others: Vec<String> = futures_util::future::join_all((0..8).map(|i| {
        let app = &app;
        async move { submit(app, &format!("print({i})")).await }
    }))
    .await;
    let job = wait_job(&app, &nul, ended).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["stdout"], "a\u{FFFD}b\n", "{job}");
    let files = job["result"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{job}");
    for f in files {
        assert!(
            f["content"].is_null() && f["content_b64"].is_string(),
            "{f}"
        );
    }
    assert_eq!(files[1]["path"], "zeros.bin");
    assert_eq!(files[1]["content_b64"], "AAAAAAAAAAA=");
    for (i, id) in others.iter().enumerate() {
        let job = wait_job(&app, id, ended).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["result"]["stdout"], format!("{i}\n"), "{job}");
    }
}

#[actix_web::test]
async fn a_batch_eval_gives_verdicts_counts_and_results() {
    let app = spawn_app().await;
    let mut items = Vec::new();
    for i in 0..12 {
        items.push(json!({"id": format!("pass/{i}"), "code": format!("print({i} * 2)"), "expected_stdout": format!("{}\n\n", i * 2)}));
    }
    items.push(json!({"id": "wrong", "code": "print(1)", "expected_stdout": "2"}));
    items.push(json!({"id": "no-expectation", "code": "x = 1"}));
    items.push(json!({"id": "fails", "code": "raise SystemExit(3)"}));
    items.push(json!({"id": "slow", "code": "while True: pass", "timeout_ms": 200}));
    items.push(json!({"id": "stdin", "code": "print(input()[::-1])", "stdin": "abc", "expected_stdout": "cba"}));
    let created = app.post("/v1/batches", &json!({"items": items})).await;
    assert_eq!(created.status.as_u16(), 202, "{}", created.text);
    assert_eq!(created.body["total"], 17);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let done = wait_batch(&app, &id).await;
    assert_eq!(done["status"], "finished", "{done}");
    assert_eq!(
        done["counts"],
        json!({"passed": 14, "wrong_output": 1, "failed": 1, "timeout": 1}),
        "{done}"
    );
    assert_eq!(
        (
            done["ended"].as_i64(),
            done["passed"].as_i64(),
            done["failed"].as_i64()
        ),
        (Some(17), Some(14), Some(3))
    );
    assert!((done["pass_rate"].as_f64().unwrap() - 14.0 / 17.0).abs() < 1e-9);
    assert_eq!(done["progress"], 1.0);

    // Pages, in submission order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/batches/{id}/results?limit=5&cursor={c}"),
            None => format!("/v1/batches/{id}/results?limit=5"),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status.as_u16(), 200, "{}", page.text);
        for item in page.body["data"].as_array().unwrap() {
            seen.push((
                item["id"].as_str().unwrap().to_owned(),
                item["verdict"].as_str().unwrap().to_owned(),
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 17);
    assert_eq!(seen[0], ("pass/0".to_owned(), "passed".to_owned()));
    assert_eq!(seen[12], ("wrong".to_owned(), "wrong_output".to_owned()));
    assert_eq!(seen[15], ("slow".to_owned(), "timeout".to_owned()));

    // JSON lines: every item, one per line.
    let mut res = app
        .request(Method::GET, &format!("/v1/batches/{id}/results"))
        .insert_header(("accept", "application/x-ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/x-ndjson"
    );
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 17);
    assert_eq!(lines[16]["id"], "stdin");
    assert_eq!(lines[16]["result"]["stdout"], "cba\n");
}

#[actix_web::test]
async fn bad_batches_are_refused_whole() {
    let app = spawn_app().await;
    app.post("/v1/batches", &json!({"items": []}))
        .await
        .assert_problem(422, "invalid_request");
    let dup = app
        .post(
            "/v1/batches",
            &json!({"items": [{"id": "a", "code": "1"}, {"id": "a", "code": "2"}]}),
        )
        .await;
    dup.assert_problem(422, "invalid_request");
    assert_eq!(dup.body["field"], "items[1].id");
    // PostgreSQL text cannot hold NUL: a 422 naming the field, not a 500 (found by the
    // contract run's fuzzing phase).
    for (item, field) in [
        (json!({"id": "a\0b", "code": "1"}), "items[0].id"),
        (
            json!({"id": "a", "code": "1", "expected_stdout": "x\0"}),
            "items[0].expected_stdout",
        ),
    ] {
        let r = app.post("/v1/batches", &json!({"items": [item]})).await;
        r.assert_problem(422, "invalid_request");
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    let bad_limit = app.post("/v1/batches", &json!({"items": [{"id": "a", "code": "1"}, {"id": "b", "code": "1", "timeout_ms": 0}]})).await;
    bad_limit.assert_problem(422, "invalid_limit");
    assert_eq!(bad_limit.body["field"], "items[1].timeout_ms");
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"id": i.to_string(), "code": "1"}))
        .collect();
    app.post("/v1/batches", &json!({"items": too_many}))
        .await
        .assert_problem(413, "payload_too_large");
    app.get(&format!("/v1/batches/{}", uuid::Uuid::now_v7()))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get("/v1/jobs").await.body["data"],
        json!([]),
        "nothing of a refused batch was queued"
    );
}

#[actix_web::test]
async fn a_batch_can_be_cancelled() {
    let app = spawn_app().await;
    let id = batch_of(&app, 40, "import time; time.sleep(0.5)").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = app
        .post(&format!("/v1/batches/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(c.status.as_u16(), 202, "{}", c.text);
    let done = wait_batch(&app, &id).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    let counts = &done["counts"];
    assert!(counts["cancelled"].as_i64().unwrap() >= 30, "{done}");
    assert_eq!(done["ended"], 40);
}

#[actix_web::test]
async fn queue_caps_refuse_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.max_queued_per_project = 5;
        s.no_embedded_runner = true;
    })
    .await;
    let items: Vec<Value> = (0..4)
        .map(|i| json!({"id": i.to_string(), "code": "1"}))
        .collect();
    assert_eq!(
        app.post("/v1/batches", &json!({"items": items}))
            .await
            .status
            .as_u16(),
        202
    );
    queue_job(&app, json!({"language": "python", "code": "1"})).await;
    let over = app
        .post("/v1/jobs", &json!({"language": "python", "code": "1"}))
        .await;
    over.assert_problem(429, "project_queue_full");
    assert_eq!(over.header("retry-after"), Some("5"));
    assert!(over.body["detail"].as_str().unwrap().contains("cap is 5"));

    let app = spawn_app_with(|s| {
        s.max_queued_total = 1;
        s.no_embedded_runner = true;
    })
    .await;
    queue_job(&app, json!({"language": "python", "code": "1"})).await;
    app.post("/v1/jobs", &json!({"language": "python", "code": "1"}))
        .await
        .assert_problem(503, "queue_full");
    let m = app.get_with_key("/metrics", None).await;
    assert!(m.text.contains("sbx_queue_depth"), "{}", m.text);
}

#[actix_web::test]
async fn one_projects_batch_does_not_starve_another_project() {
    let app = spawn_app().await;
    let batch = batch_of(&app, 60, "import time; time.sleep(0.1)").await;
    let key = app.other_project_key().await;
    // An interactive exec of the other project answers while the batch runs.
    let python = |code: &str| json!({"language": "python", "code": code});
    let r = app
        .post_with_key("/v1/exec", &python("print('now')"), Some(&key))
        .await;
    assert_eq!(r.body["stdout"], "now\n", "{}", r.text);
    // And its queued job takes its turn before the batch's remaining items.
    let job = app
        .post_with_key("/v1/jobs", &python("print('mine')"), Some(&key))
        .await;
    let id = job.body["id"].as_str().unwrap();
    poll(&app, &format!("/v1/jobs/{id}"), &key, 30, |j| {
        j["status"] == "succeeded"
    })
    .await;
    let b = app.get(&format!("/v1/batches/{batch}")).await;
    assert!(
        b.body["ended"].as_i64().unwrap() < 50,
        "the other project waited for most of the batch: {}",
        b.text
    );
    wait_batch(&app, &batch).await;
}

#[actix_web::test]
async fn a_runner_killed_mid_batch_loses_nothing_and_doubles_nothing() {
    let (app, db) = spawn_api_only().await;
    let items: Vec<Value> = (0..24).map(|i| json!({"id": i.to_string(), "code": format!("import time; time.sleep(0.25); print({i})"), "expected_stdout": i.to_string()})).collect();
    let batch = app.post("/v1/batches", &json!({"items": items})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut first = start_runner(&db, 2);
    // Let it get into the batch, then kill it without a chance to hand anything back.
    poll(&app, &format!("/v1/batches/{batch}"), &app.key, 60, |b| {
        b["ended"].as_i64().unwrap() >= 4
    })
    .await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let mut second = start_runner(&db, 2);
    let done = wait_batch(&app, &batch).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(done["counts"], json!({"passed": 24}), "{done}");

    let client = app.pool.get().await.unwrap();
    let rows = client
        .query(
            "select item_id, attempts, status from jobs where batch_id = $1",
            &[&uuid::Uuid::parse_str(&batch).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 24, "one job per item");
    let retried = rows.iter().filter(|r| r.get::<_, i32>(1) > 1).count();
    assert!(
        retried >= 1,
        "the killed runner's jobs were recovered and run again"
    );
    let left: i64 = common::count(&client, "select count(*) from queue").await;
    assert_eq!(left, 0);
}

/// Store queries run on a caller's transaction: rolled back, none of them happened;
/// committed, all did.
#[actix_web::test]
async fn store_queries_join_a_callers_transaction() {
    let pool = sbx_store::pool(&common::fresh_database().await, 2).unwrap();
    let mut client = pool.get().await.unwrap();

    let tx = client.transaction().await.unwrap();
    let p = sbx_store::projects::create(&tx, "grouped", None)
        .await
        .unwrap();
    sbx_store::keys::create(&tx, p.project_id, "k")
        .await
        .unwrap();
    drop(tx); // rolled back
    assert!(
        sbx_store::projects::find_by_name(&pool, "grouped")
            .await
            .unwrap()
            .is_none()
    );

    let tx = client.transaction().await.unwrap();
    let p = sbx_store::projects::create(&tx, "grouped", None)
        .await
        .unwrap();
    let (_, key) = sbx_store::keys::create(&tx, p.project_id, "k")
        .await
        .unwrap();
    // Not seen outside the transaction before it commits.
    assert!(
        sbx_store::keys::authenticate(&pool, &key)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
    assert!(
        sbx_store::keys::authenticate(&pool, &key)
            .await
            .unwrap()
            .is_some()
    );
}
