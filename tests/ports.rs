//! A container sandbox's ports from the outside: `…/v1/sandboxes/{id}/ports/{port}/{path}`
//! reaching a small HTTP server started in the sandbox (which has no network), bodies streamed
//! both ways, the caller's key kept from the sandbox, refusals named, and preview URLs (a
//! port on a host of its own, signed and expiring); here and through a
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

/// A WebSocket server for the tests, on 127.0.0.1:8001 in the sandbox (the standard library
/// only: the image has no WebSocket package): it takes the first subprotocol offered, greets
/// with the path and cookie it was opened with, echoes text and binary frames, and answers
/// a close; a request without an upgrade gets a plain 404.
const WS_SERVER: &str = r#"
import base64, hashlib, socket, struct, threading
def send(c, op, data):
    n = len(data)
    head = bytes([0x80 | op])
    if n < 126: head += bytes([n])
    elif n < 65536: head += bytes([126]) + struct.pack(">H", n)
    else: head += bytes([127]) + struct.pack(">Q", n)
    c.sendall(head + data)
def handle(c):
    f = c.makefile("rb")
    lines = []
    while True:
        line = f.readline().decode("latin-1").strip()
        if not line: break
        lines.append(line)
    path = lines[0].split()[1]
    h = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    if h.get("upgrade", "").lower() != "websocket":
        c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"); c.close(); return
    accept = base64.b64encode(hashlib.sha1((h["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n" % accept
    offered = h.get("sec-websocket-protocol")
    if offered: answer += "Sec-WebSocket-Protocol: %s\r\n" % offered.split(",")[0].strip()
    c.sendall((answer + "\r\n").encode())
    send(c, 1, ("hello path=%s cookie=%s auth=%s" % (path, h.get("cookie"), h.get("authorization"))).encode())
    while True:
        b0, b1 = f.read(2)
        op, n = b0 & 15, b1 & 127
        if n == 126: n = struct.unpack(">H", f.read(2))[0]
        elif n == 127: n = struct.unpack(">Q", f.read(8))[0]
        mask = f.read(4) if b1 & 128 else bytes(4)
        data = f.read(n)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        if op == 8:
            send(c, 8, data[:2]); break
        if op == 9: send(c, 10, data)
        elif op in (1, 2): send(c, op, data)
    c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8001)); s.listen(16)
while True:
    threading.Thread(target=handle, args=(s.accept()[0],), daemon=True).start()
"#;

/// A WebSocket to port 8001 of sandbox `id` at `url` (through the API, with the key, or a
/// preview's host, with `cookie` and an `Authorization` of its own): the subprotocol chosen
/// by the server comes back, the greeting names the path and the credentials that reached the
/// server (never the API key), text and a 256 KiB binary frame are echoed, a close is answered.
async fn websocket(app: &TestApp, url: &str, host: Option<&str>, cookie: Option<&str>) {
    use awc::ws::{Frame, Message};
    use futures_util::SinkExt as _;
    let mut ws = app
        .client
        .ws(url)
        .protocols(["chat.v2", "chat.v1"])
        .max_frame_size(1 << 20);
    match host {
        Some(host) => {
            ws = ws
                .set_header("host", host)
                .set_header("authorization", "Basic dTpw")
        }
        None => ws = ws.bearer_auth(&app.key),
    }
    if let Some(cookie) = cookie {
        ws = ws.set_header("cookie", cookie);
    }
    let (res, mut ws) = ws.connect().await.unwrap();
    assert_eq!(
        res.headers().get("sec-websocket-protocol").unwrap(),
        "chat.v2"
    );
    let greeting = ws.next().await.unwrap().unwrap();
    assert_eq!(
        greeting,
        Frame::Text(
            format!(
                "hello path=/chat?room=1 cookie={} auth={}",
                cookie.unwrap_or("None"),
                if host.is_some() { "Basic dTpw" } else { "None" }
            )
            .into()
        )
    );
    ws.send(Message::Text("hi there".into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Frame::Text("hi there".into())
    );
    let big: Vec<u8> = (0..256u32 << 10).map(|i| (i % 253) as u8).collect();
    ws.send(Message::Binary(big.clone().into())).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .unwrap();
    assert!(
        echoed.unwrap().unwrap() == Frame::Binary(big.into()),
        "the binary frame came back changed"
    );
    ws.send(Message::Close(Some(awc::ws::CloseCode::Normal.into())))
        .await
        .unwrap();
    match ws.next().await {
        Some(Ok(Frame::Close(_))) => {}
        other => panic!("no close: {other:?}"),
    }
}

/// WebSockets to a server in sandbox `id`: through the API and through a preview URL; a path
/// the server does not upgrade is refused with 502.
async fn websockets(app: &TestApp, id: &str) {
    let put = app
        .request(
            Method::PUT,
            &format!("/v1/sandboxes/{id}/files/workspace/ws.py"),
        )
        .send_body(WS_SERVER)
        .await
        .expect("uploading the WebSocket server");
    assert!(put.status().is_success(), "{}", put.status());
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/processes"),
            &json!({"command": ["python3", "/workspace/ws.py"]}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let port = format!("/v1/sandboxes/{id}/ports/8001");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.get(&format!("{port}/up")).await.status.as_u16() != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WebSocket server never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    websocket(app, &format!("{}{port}/chat?room=1", app.base), None, None).await;
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/previews"),
            &json!({"port": 8001}),
        )
        .await;
    let host = a.body["url"].as_str().unwrap();
    let host = host
        .strip_prefix("http://")
        .unwrap()
        .strip_suffix('/')
        .unwrap();
    let url = format!("{}/chat?room=1", app.base);
    websocket(app, &url, Some(host), Some("theme=dark")).await;
    // Not a WebSocket there: the upgrade is refused (a client does not read a body).
    let refused = app
        .client
        .ws(format!("{}/v1/sandboxes/{id}/ports/8000/", app.base))
        .bearer_auth(&app.key)
        .connect()
        .await;
    match refused {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => assert_eq!(s.as_u16(), 502),
        other => panic!(
            "the upgrade was not refused: {:?}",
            other.map(|(r, _)| r.status())
        ),
    }
}

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
        // A caller cannot pass for a preview to have its credentials passed.
        .insert_header(("x-sbx-preview", "1"))
        .insert_header(("x-sbx-preview-authorization", "Basic bGVhaw=="))
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

/// A preview URL for port 8000 of sandbox `id`: its host (`<label>.preview.localhost:PORT`).
async fn preview(app: &TestApp, id: &str, expires_in: u32) -> String {
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/previews"),
            &json!({"port": 8000, "expires_in": expires_in}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(a.body["port"], 8000, "{}", a.text);
    let expires: chrono::DateTime<chrono::Utc> =
        a.body["expires_at"].as_str().unwrap().parse().unwrap();
    let left = (expires - chrono::Utc::now()).num_seconds();
    assert!(
        (i64::from(expires_in) - 2..=i64::from(expires_in)).contains(&left),
        "{left} s left: {}",
        a.text
    );
    let url = a.body["url"].as_str().unwrap();
    let host = url
        .strip_prefix("http://")
        .unwrap()
        .strip_suffix('/')
        .unwrap();
    let (label, domain) = host.split_once('.').unwrap();
    assert_eq!(label.len(), 60, "{url}");
    let port = app.base.rsplit(':').next().unwrap();
    assert_eq!(domain, format!("preview.localhost:{port}"), "{url}");
    host.to_owned()
}

/// `method` of `path` on the preview host `host`, with no API key.
fn on_preview(app: &TestApp, host: &str, method: Method, path: &str) -> awc::ClientRequest {
    app.client
        .request(method, format!("{}{path}", app.base))
        .insert_header(("host", host))
}

/// Preview URLs of sandbox `id` (serving [`SERVER`]): every path of the host goes to the
/// port, without a key, with the caller's cookie and authorization given to the server; a
/// forged label is not found, an expired one gone; bad requests name their field.
async fn previews(app: &TestApp, id: &str) {
    let host = preview(app, id, 600).await;
    let a = on_preview(app, &host, Method::GET, "/v1/a?x=1")
        .insert_header(("cookie", "theme=dark"))
        .insert_header(("authorization", "Basic dTpw"))
        .send()
        .await
        .unwrap();
    let a = common::answer(a).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    assert_eq!(
        a.text,
        "path=/v1/a?x=1 auth=Basic dTpw cookie=theme=dark prefix=None"
    );
    let a = on_preview(app, &host, Method::POST, "/echo")
        .send_body("hello")
        .await
        .unwrap();
    let a = common::answer(a).await;
    assert_eq!((a.status.as_u16(), a.text.as_str()), (201, "hello"));
    // One hex digit changed: not a URL this server signed.
    let mut forged = host.clone().into_bytes();
    forged[40] = if forged[40] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let a = common::answer(
        on_preview(app, &forged, Method::GET, "/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    a.assert_problem(404, "not_found");
    // Past its expiry: 410.
    let short = preview(app, id, 1).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let a = common::answer(
        on_preview(app, &short, Method::GET, "/")
            .send()
            .await
            .unwrap(),
    )
    .await;
    a.assert_problem(410, "preview_expired");
    // Out of range, named.
    let url = format!("/v1/sandboxes/{id}/previews");
    for (body, field) in [
        (json!({"port": 0}), "port"),
        (json!({"port": 8000, "expires_in": 0}), "expires_in"),
        (json!({"port": 8000, "expires_in": 86401}), "expires_in"),
    ] {
        let a = app.post(&url, &body).await;
        a.assert_problem(422, "invalid_request");
        assert_eq!(a.body["field"], field, "{}", a.text);
    }
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
    previews(&app, &id).await;
    websockets(&app, &id).await;
    let host = preview(&app, &id, 600).await;

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
    let a = on_preview(&app, &host, Method::GET, "/")
        .send()
        .await
        .unwrap();
    common::answer(a)
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
    let a = on_preview(&app, &host, Method::GET, "/")
        .send()
        .await
        .unwrap();
    common::answer(a).await.assert_problem(409, "sandbox_ended");
    app.post(
        &format!("/v1/sandboxes/{id}/previews"),
        &json!({"port": 8000}),
    )
    .await
    .assert_problem(409, "sandbox_ended");
    let interpreter = common::interpreters::session(&app, json!({})).await;
    app.get(&format!("/v1/sandboxes/{interpreter}/ports/8000/"))
        .await
        .assert_problem(409, "not_a_container");
    app.post(
        &format!("/v1/sandboxes/{interpreter}/previews"),
        &json!({"port": 8000}),
    )
    .await
    .assert_problem(409, "not_a_container");
    app.get_with_key(&format!("/v1/sandboxes/{id}/ports/8000/"), None)
        .await
        .assert_problem(401, "missing_api_key");
}

/// The ports of sandbox `id` as `GET …/ports` lists them: `(port, declared, listening)`.
async fn ports(app: &TestApp, id: &str) -> Vec<(u64, bool, bool)> {
    let a = app.get(&format!("/v1/sandboxes/{id}/ports")).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    a.body["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let flag = |name: &str| p[name].as_bool().unwrap();
            (
                p["port"].as_u64().unwrap(),
                flag("declared"),
                flag("listening"),
            )
        })
        .collect()
}

/// `ports` at create and `POST …/ports` declare ports; `GET …/ports` lists them and whatever
/// else listens, as servers come and go; refusals name their field and insert nothing.
#[actix_web::test]
async fn declared_ports_and_listening_ones() {
    let app = spawn_app().await;
    let bad = [
        (json!({"image": "python", "ports": [0]}), "ports[0]"),
        (json!({"image": "python", "ports": [70000]}), "ports[0]"),
        (
            json!({"image": "python", "ports": [8000, 9000, 8000]}),
            "ports[2]",
        ),
        (
            json!({"image": "python", "ports": (1..=17).collect::<Vec<u16>>()}),
            "ports",
        ),
        (json!({"image": "python", "ports": "8000"}), "ports"),
        (
            json!({"image": "code-interpreter", "ports": [8000]}),
            "ports",
        ),
    ];
    for (body, field) in bad {
        let a = app.post("/v1/sandboxes", &body).await;
        a.assert_problem(422, "invalid_request");
        assert_eq!(a.body["field"], field, "{body}: {}", a.text);
    }
    let a = app.get("/v1/sandboxes").await;
    assert_eq!(a.body["data"].as_array().unwrap().len(), 0, "{}", a.text);

    let a = app
        .post(
            "/v1/sandboxes",
            &json!({"image": "python", "cpu": 0.5, "memory": "256Mi", "disk": "32Mi", "ports": [9000, 8000]}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(a.body["ports"], json!([8000, 9000]), "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_owned();
    wait_sandbox(&app, &id, "running", 60).await;
    assert_eq!(
        ports(&app, &id).await,
        [(8000, true, false), (9000, true, false)]
    );

    // A server on a declared port, then one on another port, seen listening.
    serve(&app, &id).await;
    assert_eq!(
        ports(&app, &id).await,
        [(8000, true, true), (9000, true, false)]
    );
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/processes"),
            &json!({"command": ["python3", "-m", "http.server", "8123", "--bind", "0.0.0.0"]}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ports(&app, &id).await.len() < 3 {
        assert!(std::time::Instant::now() < deadline, "8123 never listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        ports(&app, &id).await,
        [(8000, true, true), (8123, false, true), (9000, true, false)]
    );

    // Declared later: once, whatever the repeats; bad ones named.
    for _ in 0..2 {
        let a = app
            .post(&format!("/v1/sandboxes/{id}/ports"), &json!({"port": 8123}))
            .await;
        assert_eq!(a.status.as_u16(), 200, "{}", a.text);
        assert_eq!(a.body["ports"], json!([8000, 8123, 9000]), "{}", a.text);
    }
    for body in [json!({"port": 0}), json!({"port": 65536}), json!({})] {
        let a = app.post(&format!("/v1/sandboxes/{id}/ports"), &body).await;
        a.assert_problem(422, "invalid_request");
        assert_eq!(a.body["field"], "port", "{body}: {}", a.text);
    }
    for port in 1..=13 {
        let a = app
            .post(&format!("/v1/sandboxes/{id}/ports"), &json!({"port": port}))
            .await;
        assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    }
    let a = app
        .post(&format!("/v1/sandboxes/{id}/ports"), &json!({"port": 14}))
        .await;
    a.assert_problem(422, "invalid_request");
    assert_eq!(a.body["field"], "port", "{}", a.text);
    let a = app.get(&format!("/v1/sandboxes/{id}")).await;
    assert_eq!(a.body["ports"].as_array().unwrap().len(), 16, "{}", a.text);

    // Paused: declared ports stay, nothing listens; after the resume the servers are gone.
    app.sandbox_action(&id, "pause").await;
    wait_sandbox(&app, &id, "paused", 60).await;
    let paused = ports(&app, &id).await;
    assert_eq!(paused.len(), 16, "{paused:?}");
    assert!(paused.iter().all(|&(_, d, l)| d && !l), "{paused:?}");
    app.sandbox_action(&id, "resume").await;
    wait_sandbox(&app, &id, "running", 60).await;
    let resumed = ports(&app, &id).await;
    assert_eq!(resumed.len(), 16, "{resumed:?}");
    assert!(resumed.iter().all(|&(_, _, l)| !l), "{resumed:?}");

    // A fork declares the same ports.
    let a = app
        .post(&format!("/v1/sandboxes/{id}/fork"), &json!({"count": 1}))
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let copy = a.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        a.body["data"][0]["ports"].as_array().unwrap().len(),
        16,
        "{}",
        a.text
    );
    common::delete_sandbox(&app, &copy).await;

    common::delete_sandbox(&app, &id).await;
    app.post(&format!("/v1/sandboxes/{id}/ports"), &json!({"port": 8000}))
        .await
        .assert_problem(409, "sandbox_ended");
    let interpreter = common::interpreters::session(&app, json!({})).await;
    app.get(&format!("/v1/sandboxes/{interpreter}/ports"))
        .await
        .assert_problem(409, "not_a_container");
    app.post(
        &format!("/v1/sandboxes/{interpreter}/ports"),
        &json!({"port": 8000}),
    )
    .await
    .assert_problem(409, "not_a_container");
    app.get("/v1/sandboxes/0190b2c4-0000-7000-8000-000000000000/ports")
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn an_api_without_docker_reaches_ports_on_another_runner() {
    let (app, db) = spawn_api_only().await;
    let mut runner = start_runner(&db, 5);
    let id = common::small_container(&app).await;
    serve(&app, &id).await;
    assert_eq!(ports(&app, &id).await, [(8000, false, true)]);
    requests(&app, &id).await;
    previews(&app, &id).await;
    websockets(&app, &id).await;
    common::delete_sandbox(&app, &id).await;
    runner.kill().unwrap();
    runner.wait().unwrap();
}
