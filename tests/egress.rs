//! Egress rules from the outside: a container sandbox created with `network: {"allow": […]}`
//! reaches the names and addresses its rules allow, through its runner's gate (DNS, the HTTP
//! proxy's `CONNECT` and plain requests, HTTP on port 80 by `Host`, TLS on 443 by server
//! name), and nothing else; each refusal is a `sandbox.egress_denied` event naming what was
//! tried. The servers are the test's own, on loopback addresses of this host, their names from
//! a hosts file (`SBX_EGRESS_HOSTS`), 127/8 opened as the operator would a private range
//! (`SBX_EGRESS_PRIVATE_RANGES`). Never an outside address. Needs root (the gate binds ports
//! 53, 80 and 443 on each sandbox's gateway) and the offline test image (`sbx/python:local`).

mod common;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestApp, spawn_app_with, wait_sandbox};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the servers of one loopback address received.
type Seen = Arc<Mutex<Vec<String>>>;

/// Serves `addr:port`: HTTP answered with `hello from ADDR:PORT, REQUEST-LINE`; on 443, any
/// bytes, kept (a TLS ClientHello, whose server name is legible), answered with nothing.
async fn serve(addr: Ipv4Addr, port: u16, seen: Seen) -> u16 {
    let listener = tokio::net::TcpListener::bind((addr, port)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let got = String::from_utf8_lossy(&buf[..n]).into_owned();
                seen.lock().unwrap().push(got.clone());
                if port == 443 {
                    return;
                }
                let line = got.lines().next().unwrap_or_default().to_owned();
                let body = format!("hello from {addr}:{port}, {line}");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// Three loopback addresses of this test's own (127.A.B.1-3).
fn addresses() -> [Ipv4Addr; 3] {
    let [a, b]: [u8; 2] = rand::random();
    [1, 2, 3].map(|n| Ipv4Addr::new(127, a.max(1), b, n))
}

/// Everything the sandbox tries, as JSON: each attempt's answer or error.
const PROBE: &str = r#"
import http.client, json, os, socket, ssl, sys, urllib.request
PORT, OTHER, THIRD = int(sys.argv[1]), sys.argv[2], sys.argv[3]
proxy = os.environ["HTTP_PROXY"].split("//")[1]
host, pport = proxy.split(":")
out = {"https_proxy": os.environ.get("https_proxy"), "proxy_port": pport}
def attempt(name, f):
    try:
        out[name] = f()
    except Exception as e:
        out[name] = "error: %s: %s" % (type(e).__name__, e)
def tunnel(h, p):
    c = http.client.HTTPConnection(host, int(pport), timeout=10)
    c.set_tunnel(h, p)
    c.request("GET", "/tunnelled")
    return c.getresponse().read().decode()
def raw(h, p, data):
    s = socket.create_connection((h, p), timeout=10)
    s.sendall(data)
    return s.recv(4096).decode()
def tls(name):
    s = socket.create_connection(("allowed.test", 443), timeout=10)
    try:
        ssl.create_default_context().wrap_socket(s, server_hostname=name)
    except Exception as e:
        return "handshake ended: %s" % type(e).__name__
attempt("dns_allowed", lambda: socket.gethostbyname("allowed.test"))
attempt("dns_denied", lambda: socket.gethostbyname("denied.test"))
attempt("proxy_get", lambda: urllib.request.urlopen("http://allowed.test:%d/plain" % PORT, timeout=10).read().decode())
attempt("proxy_denied", lambda: urllib.request.urlopen("http://denied.test:%d/" % PORT, timeout=10).read().decode())
attempt("connect", lambda: tunnel("allowed.test", PORT))
attempt("connect_denied", lambda: tunnel("denied.test", PORT))
attempt("connect_range", lambda: tunnel(OTHER, PORT))
attempt("connect_outside_range", lambda: tunnel(THIRD, PORT))
attempt("http_80", lambda: raw("allowed.test", 80, b"GET /direct HTTP/1.1\r\nHost: allowed.test\r\n\r\n"))
attempt("http_80_denied", lambda: raw("allowed.test", 80, b"GET / HTTP/1.1\r\nHost: denied.test\r\n\r\n"))
attempt("tls_443", lambda: tls("allowed.test"))
attempt("tls_443_denied", lambda: tls("denied.test"))
attempt("no_route", lambda: socket.create_connection(("192.0.2.1", 80), timeout=3) and "connected")
print(json.dumps(out))
"#;

async fn probe(app: &TestApp, id: &str, port: u16, other: Ipv4Addr, third: Ipv4Addr) -> Value {
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({
                "command": ["python3", "-c", PROBE, port.to_string(), other.to_string(), third.to_string()],
                "timeout_ms": 60000,
            }),
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    serde_json::from_str(a.body["stdout"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", a.text))
}

fn network_exists(name: &str) -> bool {
    std::process::Command::new("docker")
        .args(["network", "inspect", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The SSE text of `path` (an endless stream) until it holds each of `details`.
async fn feed(app: &TestApp, path: &str, details: &[String]) -> String {
    use futures_util::StreamExt as _;
    let mut stream = app
        .request(actix_web::http::Method::GET, path)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut text = String::new();
    let read = async {
        while !details
            .iter()
            .all(|d| text.contains(&format!("\"detail\":\"{d}\"")))
        {
            let chunk = stream.next().await.expect("the stream ended").unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap_or_else(|_| panic!("not all of {details:?} came: {text}"));
    text
}

/// Waits up to 15 s for Docker network `name` to be removed.
async fn gone(name: &str) {
    for _ in 0..150 {
        if !network_exists(name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("network {name} is still there");
}

#[actix_web::test]
async fn a_sandbox_reaches_only_what_its_rules_allow() {
    let [mine, other, third] = addresses();
    let (seen, seen_other) = (Seen::default(), Seen::default());
    let port = serve(mine, 0, seen.clone()).await;
    serve(mine, 80, seen.clone()).await;
    serve(mine, 443, seen.clone()).await;
    serve(other, port, seen_other.clone()).await;
    serve(third, port, seen_other.clone()).await;
    let hosts = tempfile_with(&format!("{mine} allowed.test denied.test\n"));
    let app = spawn_app_with(|s| {
        s.egress_hosts = Some(hosts.clone());
        s.egress_private_ranges = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;

    let a = app
        .post(
            "/v1/sandboxes",
            &json!({"image": "python", "cpu": 0.5, "memory": "256Mi", "disk": "32Mi",
                    "network": {"allow": ["Allowed.Test", other.to_string()]}}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(
        a.body["network"],
        json!({"allow": ["allowed.test", other.to_string()]})
    );
    let id = a.body["id"].as_str().unwrap().to_owned();
    wait_sandbox(&app, &id, "running", 60).await;
    let network = format!("sbx-egress-{}", id.replace('-', ""));
    assert!(network_exists(&network));

    let got = probe(&app, &id, port, other, third).await;
    let text = |k: &str| got[k].as_str().unwrap_or_default().to_owned();
    let gateway = text("dns_allowed");
    assert!(gateway.starts_with("10.213."), "{got}");
    assert_eq!(got["https_proxy"], format!("http://{gateway}:3128"));
    assert!(text("dns_denied").starts_with("error: gaierror"), "{got}");
    assert_eq!(
        text("proxy_get"),
        format!("hello from {mine}:{port}, GET http://allowed.test:{port}/plain HTTP/1.1")
    );
    assert!(text("proxy_denied").contains("403"), "{got}");
    assert_eq!(
        text("connect"),
        format!("hello from {mine}:{port}, GET /tunnelled HTTP/1.1")
    );
    assert!(text("connect_denied").contains("403"), "{got}");
    assert_eq!(
        text("connect_range"),
        format!("hello from {other}:{port}, GET /tunnelled HTTP/1.1")
    );
    assert!(text("connect_outside_range").contains("403"), "{got}");
    assert!(
        text("http_80").ends_with(&format!("hello from {mine}:80, GET /direct HTTP/1.1")),
        "{got}"
    );
    assert!(text("http_80_denied").contains("403 Forbidden"), "{got}");
    assert!(text("tls_443").starts_with("handshake ended"), "{got}");
    assert!(text("no_route").starts_with("error: "), "{got}");
    // The TLS server saw one ClientHello, for allowed.test; the one for denied.test never
    // left the gate. The third address saw nothing.
    let hellos: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.contains("allowed.test") && !s.contains("HTTP/1.1"))
        .cloned()
        .collect();
    assert_eq!(hellos.len(), 1, "{:?}", seen.lock().unwrap());
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.contains("denied.test"))
    );
    assert_eq!(seen_other.lock().unwrap().len(), 1);

    // Each refusal is an event of the project's feed, under its type (and not among the
    // sandbox's state changes).
    let wanted = [
        "denied.test (dns)".to_owned(),
        format!("denied.test:{port} (http)"),
        format!("denied.test:{port} (connect)"),
        format!("{third}:{port} (connect)"),
        "denied.test:80 (http)".to_owned(),
        "denied.test:443 (tls)".to_owned(),
    ];
    let feed = feed(
        &app,
        &format!("/v1/events?after=0&types=sandbox.egress_denied&sandbox_id={id}"),
        &wanted,
    )
    .await;
    assert!(feed.contains("event: sandbox.egress_denied"), "{feed}");
    assert!(!feed.contains("event: sandbox.running"), "{feed}");
    let s = app.get(&format!("/v1/sandboxes/{id}")).await;
    assert!(!s.text.contains("egress_denied"), "{}", s.text);

    // A pause closes the gate and removes the network; a resume opens them again.
    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    gone(&network).await;
    app.sandbox_action(&id, "resume").await;
    wait_sandbox(&app, &id, "running", 60).await;
    let again = probe(&app, &id, port, other, third).await;
    assert!(
        again["proxy_get"]
            .as_str()
            .unwrap()
            .starts_with("hello from"),
        "{again}"
    );
    common::delete_sandbox(&app, &id).await;
    gone(&network).await;
}

#[actix_web::test]
async fn bad_rules_are_refused_by_the_entry() {
    let app = common::spawn_app().await;
    for (network, field) in [
        (
            json!({"allow": ["pypi.org", "bad name!"]}),
            "network.allow[1]",
        ),
        (json!({"allow": ["*.com"]}), "network.allow[0]"),
        (json!({"allow": ["10.0.0.0/33"]}), "network.allow[0]"),
        (json!({"allow": []}), "network.allow"),
        (json!({"allow": ["a.test"], "deny": ["b.test"]}), "network"),
        (json!("yes"), "network"),
    ] {
        let a = app
            .post(
                "/v1/sandboxes",
                &json!({"image": "python", "network": network}),
            )
            .await;
        a.assert_problem(422, "invalid_request");
        assert_eq!(a.body["field"], field, "{}", a.text);
    }
    let many: Vec<String> = (0..65).map(|i| format!("h{i}.example.com")).collect();
    let a = app
        .post(
            "/v1/sandboxes",
            &json!({"image": "python", "network": {"allow": many}}),
        )
        .await;
    assert_eq!(a.body["field"], "network.allow", "{}", a.text);
    // Interpreters have no network at all.
    let a = app
        .post(
            "/v1/sandboxes",
            &json!({"image": "code-interpreter", "network": {"allow": ["pypi.org"]}}),
        )
        .await;
    a.assert_problem(422, "invalid_request");
    // Container jobs take the same rules.
    let a = app
        .post(
            "/v1/jobs",
            &json!({"kind": "container", "image": "python", "command": ["true"],
                    "network": {"allow": ["ok.test", "-bad"]}}),
        )
        .await;
    a.assert_problem(422, "invalid_request");
    assert_eq!(a.body["field"], "network.allow[1]", "{}", a.text);
    assert_eq!(
        common::count(&app.pool, "select count(*) from sandboxes").await,
        0
    );
}

/// A hosts file with `text`, kept for the test's life.
fn tempfile_with(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("sbx-egress-hosts-{}", uuid::Uuid::now_v7()));
    std::fs::write(&path, text).unwrap();
    path
}
