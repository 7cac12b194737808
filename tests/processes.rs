//! Background processes in container sandboxes from the outside: started at once, followed
//! as Server-Sent Events (resumed with `Last-Event-ID`), written to, signalled, timed out,
//! stopped by a pause, refused with a named problem; here and from a separate `sbx runner`
//! process through its internal endpoint. On the local Docker daemon with the offline test
//! image (`sbx/python:local`).

mod common;

use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::web::Bytes;
use common::{TestApp, spawn_api_only, spawn_app, start_runner, wait_sandbox};
use serde_json::{Value, json};

/// Start `spec` in sandbox `id`: its pid, once it answered 201.
async fn start(app: &TestApp, id: &str, spec: Value) -> u64 {
    let a = app
        .post(&format!("/v1/sandboxes/{id}/processes"), &spec)
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(a.body["state"], "running", "{}", a.text);
    a.body["pid"].as_u64().unwrap()
}

/// One Server-Sent Event: id, event, data (parsed).
#[derive(Debug)]
struct Event {
    id: String,
    event: String,
    data: Value,
}

/// Process `pid`'s log stream, read to its end (after `last` if given): its status and events.
async fn events(app: &TestApp, id: &str, pid: u64, last: Option<&str>) -> (u16, Vec<Event>) {
    events_of(
        app,
        &format!("/v1/sandboxes/{id}/processes/{pid}/logs"),
        last,
    )
    .await
}

/// The log stream at `path`, read to its end (after `last` if given): its status and events.
async fn events_of(app: &TestApp, path: &str, last: Option<&str>) -> (u16, Vec<Event>) {
    let mut req = app.request(Method::GET, path);
    if let Some(last) = last {
        req = req.insert_header(("last-event-id", last));
    }
    let a = common::answer(req.send().await.expect("sending")).await;
    let status = a.status.as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    assert_eq!(a.header("content-type"), Some("text/event-stream"));
    let events = a
        .text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let field = |name: &str| {
                e.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_else(|| panic!("no {name} in {e:?}"))
                    .to_owned()
            };
            Event {
                id: field("id"),
                event: field("event"),
                data: serde_json::from_str(&field("data")).unwrap(),
            }
        })
        .collect();
    (status, events)
}

/// The text of `stream` in `events`, joined.
fn text(events: &[Event], stream: &str) -> String {
    events
        .iter()
        .filter(|e| e.event == stream)
        .map(|e| e.data.as_str().unwrap())
        .collect()
}

/// Process `pid` once it exited (within 20 s).
async fn exited(app: &TestApp, id: &str, pid: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = app
            .get(&format!("/v1/sandboxes/{id}/processes/{pid}"))
            .await;
        assert_eq!(a.status.as_u16(), 200, "{}", a.text);
        if a.body["state"] == "exited" {
            return a.body;
        }
        assert!(Instant::now() < deadline, "still running: {}", a.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stdin(app: &TestApp, id: &str, pid: u64, query: &str, data: &str) -> common::Answer {
    let req = app.request(
        Method::POST,
        &format!("/v1/sandboxes/{id}/processes/{pid}/stdin{query}"),
    );
    common::answer(req.send_body(Bytes::from(data.to_owned())).await.unwrap()).await
}

async fn signal(app: &TestApp, id: &str, pid: u64, signal: &str) -> common::Answer {
    app.post(
        &format!("/v1/sandboxes/{id}/processes/{pid}/signal"),
        &json!({ "signal": signal }),
    )
    .await
}

/// Whether a process whose command line has `needle` runs in sandbox `id`.
async fn running(app: &TestApp, id: &str, needle: &str) -> bool {
    // The pattern is split so that this command's own line does not match it.
    let (a, b) = needle.split_at(needle.len() / 2);
    let script =
        format!("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c '{a}''{b}' || true");
    common::sh(app, id, &script).await.trim() != "0"
}

/// Wait (at most 10 s) until no process whose command line has `needle` runs in sandbox
/// `id`: one killed may take a moment more to go than the process whose end was recorded.
async fn gone(app: &TestApp, id: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(app, id, needle).await {
        assert!(Instant::now() < deadline, "{needle} still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Output, exit codes, env and cwd, tags, resuming a stream, input, signals, time limits.
async fn lifecycle(app: &TestApp, id: &str) {
    let pid = start(
        app,
        id,
        json!({"command": ["sh", "-c", "echo \"$GREETING from $(pwd)\"; echo oops >&2; printf 'é'; exit 3"],
               "env": {"GREETING": "hello"}, "cwd": "/outputs", "tag": "first"}),
    )
    .await;
    let (status, all) = events(app, id, pid, None).await;
    assert_eq!(status, 200);
    assert_eq!(text(&all, "stdout"), "hello from /outputs\né");
    assert_eq!(text(&all, "stderr"), "oops\n");
    let end = all.last().unwrap();
    assert_eq!((end.id.as_str(), end.event.as_str()), ("end", "end"));
    assert_eq!(end.data["exit_code"], 3, "{:?}", end.data);
    assert_eq!(end.data["tag"], "first");
    assert!(end.data["ended_at"].is_string());
    // Resumed after the first event: the rest; after the end: 204.
    let (_, rest) = events(app, id, pid, Some(&all[0].id)).await;
    assert_eq!(rest.len(), all.len() - 1, "{rest:?}");
    assert_eq!(events(app, id, pid, Some("end")).await.0, 204);

    // Input, written in two requests, then closed.
    let cat = start(app, id, json!({"command": ["cat"], "stdin": true})).await;
    let a = stdin(app, id, cat, "", "line 1\n").await;
    assert_eq!(a.status.as_u16(), 204, "{}", a.text);
    let a = stdin(app, id, cat, "?close=true", "line 2\n").await;
    assert_eq!(a.status.as_u16(), 204, "{}", a.text);
    let (_, out) = events(app, id, cat, None).await;
    assert_eq!(text(&out, "stdout"), "line 1\nline 2\n");
    let done = exited(app, id, cat).await;
    assert_eq!(
        (&done["exit_code"], &done["stdin"]),
        (&json!(0), &json!(false)),
        "{done}"
    );
    stdin(app, id, cat, "", "late")
        .await
        .assert_problem(409, "process_exited");
    signal(app, id, cat, "TERM")
        .await
        .assert_problem(409, "process_exited");

    // A signal reaches the process and what it started.
    let tree = start(
        app,
        id,
        json!({"command": ["sh", "-c", "sleep 301 & echo ready; sleep 302; wait"]}),
    )
    .await;
    // What is kept now, without waiting for the end.
    let now = format!("/v1/sandboxes/{id}/processes/{tree}/logs?follow=false");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, so_far) = events_of(app, &now, None).await;
        assert_eq!(status, 200);
        assert!(so_far.iter().all(|e| e.event != "end"), "{so_far:?}");
        if text(&so_far, "stdout") == "ready\n" {
            break;
        }
        assert!(Instant::now() < deadline, "{so_far:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stdin(app, id, tree, "", "x")
        .await
        .assert_problem(409, "stdin_closed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(running(app, id, "sleep 301").await);
    let a = signal(app, id, tree, "TERM").await;
    assert_eq!(a.status.as_u16(), 204, "{}", a.text);
    let p = exited(app, id, tree).await;
    assert_eq!(p["exit_code"], 128 + 15, "{p}");
    assert_eq!(p["timed_out"], false);
    // The child got the signal too (it may take a moment more than its parent to go).
    gone(app, id, "sleep 301").await;

    // A signal sent as soon as the process is started reaches it.
    for _ in 0..5 {
        let quick = start(app, id, json!({"command": ["sleep", "300"]})).await;
        let a = signal(app, id, quick, "TERM").await;
        assert_eq!(a.status.as_u16(), 204, "{}", a.text);
        assert_eq!(exited(app, id, quick).await["exit_code"], 128 + 15);
    }

    // A time limit kills it.
    let slow = start(
        app,
        id,
        json!({"command": ["sleep", "30"], "timeout_ms": 300}),
    )
    .await;
    let p = exited(app, id, slow).await;
    assert_eq!(
        (&p["timed_out"], &p["exit_code"]),
        (&json!(true), &json!(137)),
        "{p}"
    );

    // One that left the process group and holds the output open is killed by its mark.
    let escaped = start(
        app,
        id,
        json!({"command": ["sh", "-c", "setsid sleep 303"], "timeout_ms": 300}),
    )
    .await;
    let p = exited(app, id, escaped).await;
    assert_eq!(p["timed_out"], true, "{p}");
    gone(app, id, "sleep 303").await;

    // The list holds them all, oldest first, with their tags.
    let a = app.get(&format!("/v1/sandboxes/{id}/processes")).await;
    let pids: Vec<u64> = a.body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 10, "{}", a.text);
    assert!(
        pids.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {}",
        a.text
    );
    assert_eq!(
        (pids[0], pids[1], pids[2], pids[8], pids[9]),
        (pid, cat, tree, slow, escaped),
        "{}",
        a.text
    );
    assert_eq!(a.body["processes"][0]["tag"], "first");
}

/// Each bad request named.
async fn refusals(app: &TestApp, id: &str) {
    let path = format!("/v1/sandboxes/{id}/processes");
    for (body, field) in [
        (json!({"command": []}), "command"),
        (json!({"command": ["ls"], "tag": "a b"}), "tag"),
        (json!({"command": ["ls"], "cwd": "relative"}), "cwd"),
        (json!({"command": ["ls"], "timeout_ms": 0}), "timeout_ms"),
        (json!({"command": ["ls"], "env": {"A=B": "c"}}), "env"),
    ] {
        let a = app.post(&path, &body).await;
        a.assert_problem(422, "invalid_request");
        assert_eq!(a.body["field"], field, "{}", a.text);
    }
    let a = app
        .post(&path, &json!({"command": ["ls"], "shell": true}))
        .await;
    assert_eq!(a.status.as_u16(), 422, "{}", a.text);
    app.get(&format!("{path}/999"))
        .await
        .assert_problem(404, "not_found");
    let a = signal(app, id, 999, "STOP").await;
    assert_eq!(a.status.as_u16(), 422, "an unknown signal: {}", a.text);
    app.get(&format!("{path}/x"))
        .await
        .assert_problem(404, "not_found");
    let huge = "x".repeat((1 << 20) + 1);
    let pid = start(app, id, json!({"command": ["cat"], "stdin": true})).await;
    stdin(app, id, pid, "", &huge)
        .await
        .assert_problem(413, "payload_too_large");
    signal(app, id, pid, "KILL").await;
}

#[actix_web::test]
async fn a_containers_background_processes() {
    let app = spawn_app().await;
    let id = common::small_container(&app).await;
    lifecycle(&app, &id).await;
    refusals(&app, &id).await;

    // A pause stops them; after the resume they are gone.
    let server = start(&app, &id, json!({"command": ["sleep", "300"]})).await;
    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    app.get(&format!("/v1/sandboxes/{id}/processes"))
        .await
        .assert_problem(409, "sandbox_paused");
    app.post(
        &format!("/v1/sandboxes/{id}/processes"),
        &json!({"command": ["ls"]}),
    )
    .await
    .assert_problem(409, "sandbox_paused");
    app.sandbox_action(&id, "resume").await;
    wait_sandbox(&app, &id, "running", 60).await;
    let a = app.get(&format!("/v1/sandboxes/{id}/processes")).await;
    assert_eq!(a.body["processes"], json!([]), "{}", a.text);
    let a = app
        .get(&format!("/v1/sandboxes/{id}/processes/{server}"))
        .await;
    a.assert_problem(404, "not_found");
    assert!(a.body["detail"].as_str().unwrap().contains("pauses"));

    // Ended: refused with its state. A code-interpreter has no processes.
    common::delete_sandbox(&app, &id).await;
    app.get(&format!("/v1/sandboxes/{id}/processes"))
        .await
        .assert_problem(409, "sandbox_ended");
    let interpreter = common::interpreters::session(&app, json!({})).await;
    app.post(
        &format!("/v1/sandboxes/{interpreter}/processes"),
        &json!({"command": ["ls"]}),
    )
    .await
    .assert_problem(409, "not_a_container");
    let a = app
        .post(
            "/v1/sandboxes/00000000-0000-7000-8000-000000000000/processes",
            &json!({"command": ["ls"]}),
        )
        .await;
    a.assert_problem(404, "not_found");
}

#[actix_web::test]
async fn an_api_without_docker_runs_processes_on_another_runner() {
    let (app, db) = spawn_api_only().await;
    let mut runner = start_runner(&db, 5);
    let id = common::small_container(&app).await;
    // A stream followed while the process writes, through the API and the runner.
    let pid = start(
        &app,
        &id,
        json!({"command": ["sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.1; done"]}),
    )
    .await;
    let (status, out) = events(&app, &id, pid, None).await;
    assert_eq!(status, 200);
    assert_eq!(text(&out, "stdout"), "tick 1\ntick 2\ntick 3\n");
    assert_eq!(out.last().unwrap().data["exit_code"], 0);
    let cat = start(&app, &id, json!({"command": ["cat"], "stdin": true})).await;
    let a = stdin(&app, &id, cat, "?close=true", "through the runner").await;
    assert_eq!(a.status.as_u16(), 204, "{}", a.text);
    let (_, out) = events(&app, &id, cat, None).await;
    assert_eq!(text(&out, "stdout"), "through the runner");
    a_stale_pid_is_not_found(&app, &id).await;
    common::delete_sandbox(&app, &id).await;
    runner.kill().unwrap();
    runner.wait().unwrap();
}

/// A pid that was never given, through the runner: 404 from the runner, passed back.
async fn a_stale_pid_is_not_found(app: &TestApp, id: &str) {
    app.get(&format!("/v1/sandboxes/{id}/processes/42"))
        .await
        .assert_problem(404, "not_found");
}
