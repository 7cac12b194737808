//! A container sandbox's ports from the outside: `…/v1/sandboxes/{id}/ports/{port}/{path}`
//! reaching a small HTTP server started in the sandbox (which has no network), bodies streamed
//! both ways, the caller's key kept from the sandbox, refusals named; here and through a
//! separate `sbx runner` process's internal endpoint. On the local Docker daemon with the
//! offline test image (`sbx/python:local`).

mod common;

use std::time::Duration;

use actix_web::http::Method;
use common::{TestApp, spawn_api_only, spawn_app, start_runner, wait_sandbox};
use futures_util::StreamExt as _;
use serde_json::json;

/// A server for the tests, on 127.0.0.1:8000 in the sandbox: `/stream` writes `first`, then
/// waits for a request to `/release` before writing `last`; POST echoes its body (201); other
/// paths describe the request (404 under `/missing`).
const SERVER: &str = r#"
import http.server, threading
release = threading.Event()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            def chunk(b):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
                self.wfile.flush()
            chunk(b"first\n")
            release.wait(60)
            chunk(b"last\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/release":
            release.set()
            self.reply(200, b"released")
        else:
            seen = "path=%s auth=%s cookie=%s prefix=%s" % (
                self.path, self.headers.get("Authorization"), self.headers.get("Cookie"),
                self.headers.get("X-Forwarded-Prefix"))
            self.reply(404 if self.path.startswith("/missing") else 200, seen.encode())
    def do_POST(self):
        n = int(self.headers["Content-Length"])
        self.reply(201, self.rfile.read(n))
http.server.ThreadingHTTPServer(("127.0.0.1", 8000), H).serve_forever()
"#;

/// Start [`SERVER`] in sandbox `id` and wait until it answers through the API.
async fn serve(app: &TestApp, id: &str) {
    let put = app
        .request(
            Method::PUT,
            &format!("/v1/sandboxes/{id}/files/workspace/server.py"),
        )
        .send_body(SERVER)
        .await
        .expect("uploading the server");
    assert!(put.status().is_success(), "{}", put.status());
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/processes"),
            &json!({"command": ["python3", "/workspace/server.py"], "tag": "web"}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let a = app.get(&format!("/v1/sandboxes/{id}/ports/8000/up")).await;
        if a.status.as_u16() == 200 {
            break;
        }
        assert_eq!(a.status.as_u16(), 502, "{}", a.text);
        assert!(std::time::Instant::now() < deadline, "never up: {}", a.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Requests through the API to the server of sandbox `id`.
async fn requests(app: &TestApp, id: &str) {
    let port = format!("/v1/sandboxes/{id}/ports/8000");
    // Path and query passed on; the caller's key and cookie are not.
    let a = app
        .request(Method::GET, &format!("{port}/a/b?x=1&y=%20"))
        .insert_header(("cookie", "sbx_session=secret"))
        .send()
        .await
        .unwrap();
    let a = common::answer(a).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    assert_eq!(
        a.text,
        format!("path=/a/b?x=1&y=%20 auth=None cookie=None prefix={port}")
    );
    // The server's own statuses come back as they are, not as problems.
    let a = app.get(&format!("{port}/missing")).await;
    assert_eq!(a.status.as_u16(), 404, "{}", a.text);
    assert!(a.text.starts_with("path=/missing"), "{}", a.text);
    // A body of 4 MiB up and back.
    let body: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let a = app
        .request(Method::POST, &format!("{port}/echo"))
        .send_body(body.clone())
        .await
        .unwrap();
    let status = a.status();
    let mut a = a;
    let echoed = a.body().limit(8 << 20).await.unwrap();
    assert_eq!(status.as_u16(), 201, "{}", String::from_utf8_lossy(&echoed));
    assert!(echoed == body, "{} bytes back", echoed.len());
    // An answer streams: its first part arrives while the server still waits to write the
    // rest (which only a second request lets it).
    let mut stream = app
        .request(Method::GET, &format!("{port}/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let first = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("the first part before the end")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    let a = app.get(&format!("{port}/release")).await;
    assert_eq!(a.text, "released");
    let rest = stream.body().await.unwrap();
    assert_eq!(&rest[..], b"last\n");
}

#[actix_web::test]
async fn a_containers_ports() {
    let app = spawn_app().await;
    let id = common::small_container(&app).await;

    // Nothing listens yet: 502 port_closed; bad ports are named.
    let a = app.get(&format!("/v1/sandboxes/{id}/ports/8000/")).await;
    a.assert_problem(502, "port_closed");
    assert!(
        a.body["detail"].as_str().unwrap().contains("8000"),
        "{}",
        a.text
    );
    for bad in ["0", "65536", "http"] {
        let a = app.get(&format!("/v1/sandboxes/{id}/ports/{bad}/")).await;
        a.assert_problem(422, "invalid_request");
        assert_eq!(a.body["field"], "port", "{}", a.text);
    }

    serve(&app, &id).await;
    requests(&app, &id).await;

    // Never with a dashboard session: the server's pages would run as this site's.
    common::people::person(&app, "ada@example.com").await;
    let s = common::people::signed_in(&app, "ada@example.com").await;
    let path = format!("/v1/sandboxes/{id}/ports/8000/");
    common::people::call(&app, &s, Method::GET, &path, false, &[], None)
        .await
        .assert_problem(403, "session_not_allowed");

    // Paused, ended, not a container: refused with the sandbox's state.
    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    app.get(&format!("/v1/sandboxes/{id}/ports/8000/"))
        .await
        .assert_problem(409, "sandbox_paused");
    app.sandbox_action(&id, "resume").await;
    wait_sandbox(&app, &id, "running", 60).await;
    // The pause stopped the server: nothing listens after the resume.
    app.get(&format!("/v1/sandboxes/{id}/ports/8000/"))
        .await
        .assert_problem(502, "port_closed");
    common::delete_sandbox(&app, &id).await;
    app.get(&format!("/v1/sandboxes/{id}/ports/8000/"))
        .await
        .assert_problem(409, "sandbox_ended");
    let interpreter = common::interpreters::session(&app, json!({})).await;
    app.get(&format!("/v1/sandboxes/{interpreter}/ports/8000/"))
        .await
        .assert_problem(409, "not_a_container");
    app.get_with_key(&format!("/v1/sandboxes/{id}/ports/8000/"), None)
        .await
        .assert_problem(401, "missing_api_key");
}

#[actix_web::test]
async fn an_api_without_docker_reaches_ports_on_another_runner() {
    let (app, db) = spawn_api_only().await;
    let mut runner = start_runner(&db, 5);
    let id = common::small_container(&app).await;
    serve(&app, &id).await;
    requests(&app, &id).await;
    common::delete_sandbox(&app, &id).await;
    runner.kill().unwrap();
    runner.wait().unwrap();
}
