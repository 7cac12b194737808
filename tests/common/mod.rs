//! The black-box fixture: the whole application started in-process on port 0 against a fresh
//! database (a copy of a migrated template on the real PostgreSQL that `scripts/test` starts),
//! with a project and key of its own.

#![allow(dead_code)]

pub mod hooks;
pub mod interpreters;
pub mod people;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use awc::http::StatusCode;
use sbx::{Application, Settings};
use sbx_runner::WasmBackend;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// The admin URL of the test server (its `postgres` database).
fn admin_url() -> String {
    std::env::var("SBX_TEST_DATABASE_URL")
        .expect("SBX_TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts PostgreSQL")
}

fn url_for(db: &str) -> String {
    let admin = admin_url();
    let base = admin
        .rsplit_once('/')
        .expect("a database URL ends in /<db>")
        .0;
    format!("{base}/{db}")
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .expect("connecting to the test server");
    tokio::spawn(conn);
    client
}

/// A migrated template, made once per test process (and reused by later processes).
async fn template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("sbx_tpl_{}", sbx_store::migrate::fingerprint());
            let admin = admin_client().await;
            // One process builds it; the others wait on the lock, then find it made.
            admin
                .execute("select pg_advisory_lock(7070)", &[])
                .await
                .unwrap();
            let exists = admin
                .query_opt("select 1 from pg_database where datname = $1", &[&name])
                .await
                .unwrap()
                .is_some();
            if !exists {
                let building = format!("{name}_building");
                admin
                    .batch_execute(&format!("drop database if exists {building}"))
                    .await
                    .unwrap();
                admin
                    .batch_execute(&format!("create database {building}"))
                    .await
                    .unwrap();
                {
                    let pool = sbx_store::pool(&url_for(&building), 1).unwrap();
                    sbx_store::migrate::migrate(&pool).await.unwrap();
                    pool.close();
                }
                admin
                    .batch_execute(&format!("alter database {building} rename to {name}"))
                    .await
                    .unwrap();
            }
            admin
                .execute("select pg_advisory_unlock(7070)", &[])
                .await
                .unwrap();
            name
        })
        .await
}

/// A fresh database copied from the template; returns its URL.
pub async fn fresh_database() -> String {
    let tpl = template().await;
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let admin = admin_client().await;
    admin
        .batch_execute(&format!(
            "create database {name} template {tpl} strategy file_copy"
        ))
        .await
        .expect("copying the template database");
    url_for(&name)
}

/// One wasm backend per test process: the Python runtime is loaded once. Built on a thread
/// of its own: the first build on a machine compiles CPython with a runtime of its own, which
/// cannot start on a test's async thread.
pub fn backend() -> Arc<WasmBackend> {
    static B: OnceLock<Arc<WasmBackend>> = OnceLock::new();
    B.get_or_init(|| {
        let build = || sbx::app::wasm_backend(&settings_for("postgres://unused"));
        Arc::new(
            std::thread::scope(|s| s.spawn(build).join())
                .expect("building the wasm backend panicked")
                .expect("the wasm backend"),
        )
    })
    .clone()
}

fn settings_for(db: &str) -> Settings {
    let mut s = Settings::with_database(db);
    s.addr = "127.0.0.1:0".parse().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    s.data_dir = std::env::var_os("SBX_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join(".data"));
    s.http_workers = Some(2);
    s.db_pool_size = 8;
    // Whether dashboard/dist is built must not change what the API answers at other paths.
    s.dashboard = sbx::settings::Toggle::Off;
    s
}

/// A running application with a project and key of its own.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The project's key.
    pub key: String,
    /// The project.
    pub project_id: sbx_core::ids::ProjectId,
    /// The application's database.
    pub pool: sbx_store::Pool,
    /// HTTP client.
    pub client: awc::Client,
}

/// Queue job `body` (`POST /v1/jobs`, answered 202): its id.
pub async fn queue_job(app: &TestApp, body: serde_json::Value) -> String {
    let r = app.post("/v1/jobs", &body).await;
    assert_eq!(r.status.as_u16(), 202, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Assert that `text` contains each of `wanted`.
#[track_caller]
pub fn assert_contains(text: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "{w:?} not in: {text}");
    }
}
/// One Server-Sent Event of a log stream: its `id`, its `event`, and its `data` parsed as the
/// JSON it must be.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub event: String,
    pub data: Value,
}

impl Event {
    /// The chunk of output an event carries (its `data`, a JSON string); "" for other events.
    pub fn text(&self) -> &str {
        self.data.as_str().unwrap_or_default()
    }
}

/// The events of an SSE body. Panics unless each has exactly one `data` line of JSON.
pub fn sse_events(body: &str) -> Vec<Event> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let field = |name: &str| -> Vec<&str> {
                e.split('\n').filter_map(|l| l.strip_prefix(name)).collect()
            };
            let data = field("data: ");
            assert_eq!(data.len(), 1, "one data line per event: {e:?}");
            Event {
                id: field("id: ").concat(),
                event: field("event: ").concat(),
                data: serde_json::from_str(data[0])
                    .unwrap_or_else(|err| panic!("data is not JSON ({err}): {e:?}")),
            }
        })
        .collect()
}

/// Assert that the stdout `events` carry is `written`; if not, say where they part (the texts
/// are too long to print).
#[track_caller]
pub fn assert_same_output(events: &[Event], written: &str) {
    let got = sse_output(events, "stdout");
    if got != written {
        let same = got
            .bytes()
            .zip(written.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let around = |t: &str| {
            t.get(same.saturating_sub(20)..(same + 40).min(t.len()))
                .map(str::to_owned)
        };
        panic!(
            "the stream gives {} bytes, {} were written; they part at byte {same}: {:?} vs {:?}",
            got.len(),
            written.len(),
            around(&got),
            around(written)
        );
    }
}

/// A Python program whose output tests the log streams: CR progress, CRLF, lone LF, ANSI
/// escapes, a 1 MiB line of two-byte characters (which any chunking cuts mid-character), text
/// that looks like SSE fields, no final newline; written in pieces over 0.4 s so that live
/// chunks are streamed. Its stdout is [`tricky_output`].
pub const TRICKY_OUTPUT_PY: &str = r#"import sys, time
w = sys.stdout.write
w("10%\r50%\r"); sys.stdout.flush(); time.sleep(0.2)
w("100%\ncrlf\r\nlf\n\x1b[1mbold\x1b[0m\n"); sys.stdout.flush(); time.sleep(0.2)
w("\u00e9" * (1 << 19) + "\n")
w("event: end\ndata: forged\n\nid: 9\n")
w("no final newline")
sys.stdout.flush(); sys.stderr.buffer.write(b"cut \xe2")
"#;

/// The stderr of [`TRICKY_OUTPUT_PY`]: it ends inside a character, which comes out as U+FFFD
/// in the result and in the log alike. (One byte of it: Docker's json-file log driver makes
/// each invalid byte a U+FFFD of its own, where a whole result makes one of the sequence.)
pub const TRICKY_STDERR: &str = "cut \u{FFFD}";

/// The stdout of [`TRICKY_OUTPUT_PY`].
pub fn tricky_output() -> String {
    format!(
        "10%\r50%\r100%\ncrlf\r\nlf\n\x1b[1mbold\x1b[0m\n{}\nevent: end\ndata: forged\n\nid: 9\nno final newline",
        "\u{e9}".repeat(1 << 19)
    )
}

/// What `events` of `stream` (stdout or stderr) carry, joined: that stream's output.
pub fn sse_output(events: &[Event], stream: &str) -> String {
    events
        .iter()
        .filter(|e| e.event == stream)
        .map(Event::text)
        .collect()
}

/// The single number query `sql` answers (a `count(*)`), on `db`.
pub async fn count(db: &impl sbx_store::Db, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.expect(sql).get(0)
}

/// A new project named `name` in the database of `pool`, and an API key of it.
pub async fn project_with_key(
    pool: &sbx_store::Pool,
    name: &str,
) -> (sbx_core::ids::ProjectId, String) {
    let project = sbx_store::projects::create(pool, name, None).await.unwrap();
    let (_, key) = sbx_store::keys::create(pool, project.project_id, name)
        .await
        .unwrap();
    (project.project_id, key)
}

/// Start an application with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// An API without a runner of its own, and its database's URL for `sbx runner` processes.
pub async fn spawn_api_only() -> (TestApp, String) {
    let mut db = String::new();
    let app = spawn_app_with(|s| {
        s.no_embedded_runner = true;
        db = s.database_url.clone();
    })
    .await;
    (app, db)
}

/// Start an application with settings adjusted by `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let db = fresh_database().await;
    let mut settings = settings_for(&db);
    tweak(&mut settings);
    let app = Application::build_with_backend(&settings, backend())
        .await
        .expect("building the app");
    let base = format!("http://{}", app.addr());
    let pool = app.pool().clone();
    actix_web::rt::spawn(app.run_until_stopped());
    let (project_id, key) = project_with_key(&pool, "test").await;
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .finish();
    TestApp {
        base,
        key,
        project_id,
        pool,
        client,
    }
}

/// An answer: status, headers, and the body as JSON (`Value::Null` when it is not JSON).
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: awc::http::header::HeaderMap,
    /// Body.
    pub body: Value,
    /// The raw body.
    pub text: String,
}

impl Answer {
    /// The header `name`, as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert this is a problem+json with `status` and `code`.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert!(
            self.body["title"].is_string()
                && self.body["detail"].is_string()
                && self.body["type"].is_string(),
            "{}",
            self.text
        );
    }
}

/// `res` read whole: status, headers and body.
pub async fn answer(
    mut res: awc::ClientResponse<
        impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
        + Unpin,
    >,
) -> Answer {
    let bytes = res.body().limit(256 << 20).await.expect("reading the body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status: res.status(),
        headers: res.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    }
}

impl TestApp {
    /// POST JSON with this app's key.
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_with_key(path, body, Some(&self.key.clone()))
            .await
    }

    /// POST JSON with `key` (or none).
    pub async fn post_with_key(&self, path: &str, body: &Value, key: Option<&str>) -> Answer {
        let mut req = self.client.post(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        answer(req.send_json(body).await.expect("sending")).await
    }

    /// POST a raw body with a content type, with this app's key.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<actix_web::web::Bytes>,
    ) -> Answer {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .content_type(content_type);
        answer(req.send_body(body.into()).await.expect("sending")).await
    }

    /// A request of `method` to `path` with this app's key, to add headers to and send.
    pub fn request(&self, method: actix_web::http::Method, path: &str) -> awc::ClientRequest {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    /// GET with this app's key.
    pub async fn get(&self, path: &str) -> Answer {
        self.get_with_key(path, Some(&self.key.clone())).await
    }

    /// GET with `key` (or none).
    pub async fn get_with_key(&self, path: &str, key: Option<&str>) -> Answer {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        answer(req.send().await.expect("sending")).await
    }

    /// POST `…/{action}` (pause, resume) to sandbox `id`.
    pub async fn sandbox_action(&self, id: &str, action: &str) -> Answer {
        self.post(&format!("/v1/sandboxes/{id}/{action}"), &json!({}))
            .await
    }

    /// A key of a second project on the same server.
    pub async fn other_project_key(&self) -> String {
        project_with_key(&self.pool, "other").await.1
    }

    /// Run Python; assert HTTP 200; the result.
    pub async fn python(&self, code: &str) -> Value {
        let a = self
            .post(
                "/v1/exec",
                &serde_json::json!({"language": "python", "code": code}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a.body
    }

    /// Run an exec request; assert HTTP 200; the result.
    pub async fn exec(&self, body: Value) -> Value {
        let a = self.post("/v1/exec", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a.body
    }
}

fn data_dir() -> String {
    std::env::var("SBX_DATA_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.data").into())
}

/// The `sbx` binary running `subcommand` against `db`, small, with `env` on top.
fn sbx_process(subcommand: &str, db: &str, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sbx"));
    cmd.arg(subcommand)
        .env("SBX_DATABASE_URL", db)
        .env("SBX_DATA_DIR", data_dir())
        .env("SBX_WASM_SLOTS", "8")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("starting sbx {subcommand}: {e}"))
}

/// A `sbx runner` process against `db`, its leases lasting `lease_s`.
pub fn start_runner(db: &str, lease_s: u64) -> std::process::Child {
    start_runner_with(db, lease_s, &[])
}

/// A `sbx runner` process against `db`, its leases lasting `lease_s`, with `env` on top.
pub fn start_runner_with(db: &str, lease_s: u64, env: &[(&str, String)]) -> std::process::Child {
    let mut all = vec![
        ("SBX_LEASE_S", lease_s.to_string()),
        ("SBX_RUNNER_SLOTS", "2".into()),
    ];
    all.extend(env.iter().cloned());
    sbx_process("runner", db, &all)
}

/// A `sbx serve` process against `db` on `addr`, without an embedded runner.
pub fn start_api(db: &str, addr: std::net::SocketAddr) -> std::process::Child {
    sbx_process(
        "serve",
        db,
        &[
            ("SBX_ADDR", addr.to_string()),
            ("SBX_NO_EMBEDDED_RUNNER", "true".into()),
            ("SBX_HTTP_WORKERS", "2".into()),
        ],
    )
}

/// GET `path` with `key` until `done` holds for the body (at most `secs`); the body.
pub async fn poll(
    app: &TestApp,
    path: &str,
    key: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let a = app.get_with_key(path, Some(key)).await;
        assert_eq!(a.status.as_u16(), 200, "{}", a.text);
        if done(&a.body) {
            return a.body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never got there: {}",
            a.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Poll a job until `done` says so (at most 60 s).
pub async fn wait_job(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    poll(app, &format!("/v1/jobs/{id}"), &app.key, 60, done).await
}

/// Whether a job has ended.
pub fn ended(j: &Value) -> bool {
    !matches!(j["status"].as_str(), Some("queued" | "running"))
}

/// A free local port.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Wait until `base` answers `/readyz` (at most 60 s).
pub async fn wait_healthy(client: &awc::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sandbox `id` as `GET /v1/sandboxes/{id}` shows it.
pub async fn sandbox(app: &TestApp, id: &str) -> Value {
    let a = app.get(&format!("/v1/sandboxes/{id}")).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    a.body
}

/// Poll sandbox `id` until its state is `want` (at most `secs`); the sandbox then.
pub async fn wait_sandbox(app: &TestApp, id: &str, want: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = sandbox(app, id).await;
        if s["state"] == want {
            return s;
        }
        assert!(Instant::now() < deadline, "never {want}: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `DELETE /v1/sandboxes/{id}`; asserts it answered 200.
pub async fn delete_sandbox(app: &TestApp, id: &str) {
    let r = app
        .request(
            actix_web::http::Method::DELETE,
            &format!("/v1/sandboxes/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Run `script` in container sandbox `id` with `sh -c` (20 s at most); its stdout.
pub async fn sh(app: &TestApp, id: &str, script: &str) -> String {
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &serde_json::json!({"command": ["sh", "-c", script], "timeout_ms": 20000}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    a.body["stdout"].as_str().unwrap().to_owned()
}

/// A running container sandbox of image `python` (0.5 CPU, 256 MiB, a 32 MiB disk): its id.
pub async fn small_container(app: &TestApp) -> String {
    let a = app
        .post(
            "/v1/sandboxes",
            &serde_json::json!({"image": "python", "cpu": 0.5, "memory": "256Mi", "disk": "32Mi"}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_owned();
    wait_sandbox(app, &id, "running", 60).await;
    id
}
