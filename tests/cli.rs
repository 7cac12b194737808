//! The `sbx` command line against the real server: the built binary run as a user would,
//! with a home directory of its own, against an application started in-process.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{TestApp, spawn_app};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

/// What a run of `sbx` gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Its stdout as JSON.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Assert it exited 0.
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// Assert it failed with `code` and one line on stderr containing each of `wanted`, and
    /// no panic.
    #[track_caller]
    fn failed(&self, code: i32, wanted: &[&str]) {
        assert_eq!(self.code, code, "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "one line: {self:?}");
        assert!(self.stderr.starts_with("sbx: "), "{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        for w in wanted {
            assert!(self.stderr.contains(w), "{w:?} not in {self:?}");
        }
    }
}

/// A user of the command line: a home (and config directory) of its own, a working directory
/// without a dev key.
struct User {
    home: PathBuf,
}

impl User {
    fn new() -> Self {
        let home = std::env::temp_dir().join(format!("sbx-cli-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&home).unwrap();
        Self { home }
    }

    fn config_file(&self) -> PathBuf {
        self.home.join("config").join("sbx").join("config.toml")
    }

    /// Run `sbx args…` with `stdin`.
    async fn sbx_in(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sbx"));
        cmd.args(args)
            .current_dir(&self.home)
            .env_remove("SBX_URL")
            .env_remove("SBX_API_KEY")
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("starting sbx");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        // The server runs on this thread: wait for the child without blocking it.
        let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
            .await
            .expect("sbx finished within 300 s")
            .unwrap();
        Run {
            code: out.status.code().expect("an exit code, not a signal"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// Run `sbx args…`.
    async fn sbx(&self, args: &[&str]) -> Run {
        self.sbx_in(args, "").await
    }

    /// Run `sbx args…` against `app` with its key given as flags.
    async fn on(&self, app: &TestApp, args: &[&str]) -> Run {
        // Right after the first word: after a `--`, flags would be the program's.
        let mut all: Vec<&str> = args[..1].to_vec();
        all.extend(["--url", &app.base, "--api-key", &app.key]);
        all.extend(&args[1..]);
        self.sbx(&all).await
    }

    /// Write `text` to `name` in the working directory; its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.home.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[actix_web::test]
async fn login_keeps_the_key_in_a_private_file_that_later_commands_use() {
    let app = spawn_app().await;
    let user = User::new();

    // A refused key is not saved.
    let r = user
        .sbx(&["login", "--url", &app.base, "--api-key", "sbx_wrong"])
        .await;
    r.failed(1, &["refused the API key", "sbx login"]);
    assert!(!user.config_file().exists());

    // The key on standard input, as `sbx login --url URL < key.txt`.
    let r = user
        .sbx_in(&["login", "--url", &app.base], &format!("{}\n", app.key))
        .await
        .ok();
    assert!(r.stderr.contains("Logged in"), "{r:?}");
    let meta = std::fs::metadata(user.config_file()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(
        text.contains(&app.base) && text.contains(&app.key),
        "{text}"
    );

    // Later commands find the server and key there.
    let list = user.sbx(&["sandbox", "ls", "--json"]).await.ok().json();
    assert_eq!(list, Value::Array(vec![]));
    let r = user.sbx(&["exec", "-c", "print(6 * 7)"]).await.ok();
    assert_eq!(r.stdout, "42\n");

    // A flag wins over the file.
    user.sbx(&["images", "--api-key", "sbx_wrong"])
        .await
        .failed(1, &["refused the API key"]);
}

#[actix_web::test]
async fn exec_prints_the_output_and_leaves_with_the_programs_exit_code() {
    let app = spawn_app().await;
    let user = User::new();
    let r = user
        .on(
            &app,
            &[
                "exec",
                "-c",
                "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)",
            ],
        )
        .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (3, "out\n", "err\n"),
        "{r:?}"
    );

    let v = user
        .on(&app, &["exec", "--json", "-c", "print(1 + 1)"])
        .await
        .ok()
        .json();
    assert_eq!(v["status"], "succeeded");
    assert_eq!(v["stdout"], "2\n");
    assert!(v["id"].is_string());

    let script = user.file(
        "args.py",
        "import sys, os\nprint(sys.argv[1:], os.environ['MODE'], input())\n",
    );
    let stdin = user.file("in.txt", "typed\n");
    let r = user
        .on(
            &app,
            &[
                "exec",
                script.to_str().unwrap(),
                "-e",
                "MODE=x",
                "--stdin",
                stdin.to_str().unwrap(),
                "--",
                "a",
                "b c",
            ],
        )
        .await
        .ok();
    assert_eq!(r.stdout, "['a', 'b c'] x typed\n");

    let r = user
        .on(
            &app,
            &["exec", "--timeout-ms", "300", "-c", "while True: pass"],
        )
        .await;
    assert_eq!(r.code, 124, "{r:?}");
    assert!(r.stderr.contains("timeout"), "{r:?}");

    // An exception is exit 1, its traceback on stderr.
    let r = user.on(&app, &["exec", "-c", "1/0"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("ZeroDivisionError"), "{r:?}");
}

#[actix_web::test]
async fn a_code_interpreter_sandbox_keeps_state_between_cells_through_pause_and_resume() {
    let app = spawn_app().await;
    let user = User::new();
    let s = user
        .on(&app, &["sandbox", "create", "--json", "--timeout-s", "600"])
        .await
        .ok()
        .json();
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(s["state"], "running");

    let r = user.on(&app, &["sandbox", "ls"]).await.ok();
    assert!(
        r.stdout.contains(&id) && r.stdout.contains("code-interpreter"),
        "{r:?}"
    );
    assert!(r.stdout.starts_with("ID"), "a header row: {r:?}");

    user.on(&app, &["sandbox", "run", &id, "-c", "x = 41"])
        .await
        .ok();
    let r = user
        .on(
            &app,
            &["sandbox", "run", &id, "-c", "print('x is', x)\nx + 1"],
        )
        .await
        .ok();
    assert_eq!(r.stdout, "x is 41\n42\n");
    let cell = user.file("cell.py", "import sys\nsys.exit(4)\n");
    let r = user
        .on(&app, &["sandbox", "run", &id, cell.to_str().unwrap()])
        .await;
    assert_eq!(r.code, 4, "{r:?}");

    let v = user
        .on(&app, &["sandbox", "pause", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v["state"], "paused");
    // A paused sandbox refuses calls: the problem's detail, exit 2.
    let r = user.on(&app, &["sandbox", "run", &id, "-c", "x"]).await;
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.starts_with("sbx: ") && r.stderr.contains("HTTP 409"),
        "{r:?}"
    );
    let r = user.on(&app, &["sandbox", "resume", &id]).await.ok();
    assert!(r.stdout.contains("running"), "{r:?}");
    let r = user
        .on(&app, &["sandbox", "run", &id, "-c", "x"])
        .await
        .ok();
    assert_eq!(r.stdout, "41\n");

    let before = s["expires_at"].as_str().unwrap().to_owned();
    let v = user
        .on(&app, &["sandbox", "timeout", &id, "60", "--json"])
        .await
        .ok()
        .json();
    assert!(v["expires_at"].as_str().unwrap() < before.as_str(), "{v}");

    let r = user.on(&app, &["sandbox", "get", &id]).await.ok();
    assert!(
        r.stdout.contains("paused") && r.stdout.contains("REASON"),
        "the events: {r:?}"
    );

    let r = user.on(&app, &["sandbox", "rm", &id]).await.ok();
    assert_eq!(r.stdout.trim(), format!("{id} terminated"));
    let v = user
        .on(&app, &["sandbox", "ls", "--state", "running", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v, Value::Array(vec![]));
}

#[actix_web::test]
async fn jobs_are_submitted_followed_listed_and_cancelled() {
    let app = spawn_app().await;
    let user = User::new();
    let j = user
        .on(
            &app,
            &[
                "job",
                "submit",
                "--json",
                "-c",
                "import sys\nprint('job out')\nprint('job err', file=sys.stderr)",
            ],
        )
        .await
        .ok()
        .json();
    let id = j["id"].as_str().unwrap().to_owned();

    // Following prints the output exactly, each stream to its own.
    let r = user.on(&app, &["job", "logs", "-f", &id]).await.ok();
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        ("job out\n", "job err\n"),
        "{r:?}"
    );
    let v = user
        .on(&app, &["job", "get", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v["status"], "succeeded", "{v}");
    let r = user.on(&app, &["job", "get", &id]).await.ok();
    assert!(
        r.stdout.contains("succeeded") && r.stdout.contains("exit code"),
        "{r:?}"
    );
    let r = user.on(&app, &["job", "logs", &id]).await.ok();
    assert_eq!(r.stdout, "job out\n");
    let r = user.on(&app, &["job", "artifacts", &id]).await.ok();
    assert!(r.stderr.contains("no artifacts"), "{r:?}");

    let slow = user
        .on(
            &app,
            &[
                "job",
                "submit",
                "--json",
                "--timeout-ms",
                "60000",
                "-c",
                "import time\ntime.sleep(60)",
            ],
        )
        .await
        .ok()
        .json();
    let slow_id = slow["id"].as_str().unwrap().to_owned();
    let list = user.on(&app, &["job", "ls", "--json"]).await.ok().json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert!(
        ids.contains(&id.as_str()) && ids.contains(&slow_id.as_str()),
        "{list}"
    );
    user.on(&app, &["job", "cancel", &slow_id]).await.ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = user
            .on(&app, &["job", "get", &slow_id, "--json"])
            .await
            .ok()
            .json();
        if v["status"] == "cancelled" {
            break;
        }
        assert!(Instant::now() < deadline, "still {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = user
        .on(&app, &["job", "ls", "--status", "cancelled"])
        .await
        .ok();
    assert!(
        r.stdout.contains(&slow_id) && !r.stdout.contains(&id),
        "{r:?}"
    );
}

#[actix_web::test]
async fn a_batch_from_a_jsonl_file_is_waited_for_and_its_results_printed() {
    let app = spawn_app().await;
    let user = User::new();
    let items = [
        r#"{"id": "pass", "code": "print(2 + 2)", "expected_stdout": "4"}"#,
        r#"{"id": "wrong", "code": "print(5)", "expected_stdout": "4"}"#,
        "",
        r#"{"id": "crash", "code": "raise SystemExit(1)"}"#,
    ];
    let file = user.file("items.jsonl", &items.join("\n"));
    let v = user
        .on(
            &app,
            &[
                "batch",
                "submit",
                file.to_str().unwrap(),
                "--wait",
                "--json",
            ],
        )
        .await
        .ok()
        .json();
    assert_eq!(
        (
            v["status"].as_str(),
            v["total"].as_i64(),
            v["passed"].as_i64()
        ),
        (Some("finished"), Some(3), Some(1)),
        "{v}"
    );
    let id = v["id"].as_str().unwrap().to_owned();

    let r = user
        .on(&app, &["batch", "results", &id, "--format", "csv"])
        .await
        .ok();
    let mut rows = csv::Reader::from_reader(r.stdout.as_bytes());
    assert_eq!(
        rows.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "job_id",
            "status",
            "verdict",
            "exit_code",
            "duration_ms",
            "stdout",
            "stderr"
        ]
    );
    let rows: Vec<Vec<String>> = rows
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let verdicts: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[3].as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("pass", "passed"),
            ("wrong", "wrong_output"),
            ("crash", "failed")
        ]
    );
    assert_eq!(rows[0][6], "4\n");

    let r = user
        .on(&app, &["batch", "results", &id, "--format", "jsonl"])
        .await
        .ok();
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["verdict"], "wrong_output");

    let r = user.on(&app, &["batch", "get", &id]).await.ok();
    assert!(
        r.stdout.contains("33.3%") && r.stdout.contains("finished"),
        "{r:?}"
    );
    let r = user.on(&app, &["batch", "results", &id]).await.ok();
    assert!(r.stdout.contains("wrong_output"), "{r:?}");

    // Without --wait it answers at once with the batch.
    let v = user
        .on(&app, &["batch", "submit", file.to_str().unwrap(), "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v["total"], 3);
    let bad = user.file("bad.jsonl", "{\"id\": \"a\", \"code\": \"1\"}\nnot json\n");
    user.on(&app, &["batch", "submit", bad.to_str().unwrap()])
        .await
        .failed(1, &["bad.jsonl:2"]);
}

#[actix_web::test]
async fn usage_images_gpus_and_completions() {
    let app = spawn_app().await;
    let user = User::new();
    user.on(&app, &["exec", "-c", "print(1)"]).await.ok();
    let v = user
        .on(&app, &["usage", "--group-by", "day", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v["group_by"], "day");
    assert_eq!(v["rows"].as_array().unwrap().len(), 1, "{v}");
    let r = user.on(&app, &["usage"]).await.ok();
    assert!(
        r.stdout.contains("RESOURCE") && r.stdout.contains("total:"),
        "{r:?}"
    );

    // One sandbox's usage: none of the execs'.
    let v = user
        .on(
            &app,
            &[
                "usage",
                "--group-by",
                "sandbox",
                "--sandbox",
                &uuid::Uuid::nil().to_string(),
                "--json",
            ],
        )
        .await
        .ok()
        .json();
    assert_eq!(v["rows"].as_array().unwrap().len(), 0, "{v}");
    let r = user.on(&app, &["prices"]).await.ok();
    assert!(
        r.stdout.contains("USD/HOUR") && r.stdout.contains("gpu H100"),
        "{r:?}"
    );

    let r = user.on(&app, &["images"]).await.ok();
    assert!(
        r.stdout.contains("code-interpreter") && r.stdout.contains("python"),
        "{r:?}"
    );
    let v = user.on(&app, &["gpus", "--json"]).await.ok().json();
    assert!(v["models"].is_array() && v["cards"].is_array(), "{v}");
    user.on(&app, &["gpus"]).await.ok();

    let r = user.sbx(&["completions", "bash"]).await.ok();
    assert!(
        r.stdout.contains("_sbx") && r.stdout.contains("sandbox"),
        "{}",
        &r.stdout[..200]
    );
}

#[actix_web::test]
async fn events_metrics_forks_and_webhook_endpoints() {
    let app = spawn_app().await;
    let user = User::new();
    let made = app
        .post(
            "/v1/sandboxes",
            &serde_json::json!({"image": "code-interpreter"}),
        )
        .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let forked = user
        .on(&app, &["sandbox", "fork", &id, "-n", "2"])
        .await
        .ok();
    assert_eq!(forked.stdout.lines().count(), 2, "{forked:?}");
    let r = user.on(&app, &["sandbox", "fork", &id, "-n", "0"]).await;
    assert!(r.code != 0 && r.stderr.contains("count"), "{r:?}");
    let r = user.on(&app, &["sandbox", "metrics", &id]).await.ok();
    assert!(r.stdout.contains("CPU CORES"), "{r:?}");
    assert!(r.stdout.contains("cost so far: $"), "{r:?}");
    common::delete_sandbox(&app, &id).await;
    let r = user
        .on(
            &app,
            &["events", "--after", "0", "--sandbox", &id, "-n", "3"],
        )
        .await
        .ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{r:?}");
    for (line, t) in lines
        .iter()
        .zip(["sandbox.pending", "sandbox.running", "sandbox.terminated"])
    {
        assert!(line.contains(t) && line.contains(&id), "{r:?}");
    }
    let v = user
        .on(
            &app,
            &[
                "events",
                "--after",
                "0",
                "--type",
                "sandbox.terminated",
                "-n",
                "1",
                "--json",
            ],
        )
        .await
        .ok()
        .json();
    assert_eq!(v["type"], "sandbox.terminated", "{v}");

    let made = user
        .on(
            &app,
            &[
                "webhook",
                "create",
                "http://127.0.0.1:9/hook",
                "--event",
                "sandbox.failed",
            ],
        )
        .await
        .ok();
    let endpoint = made.stdout.trim().to_owned();
    let list = user
        .on(&app, &["webhook", "ls", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(list[0]["id"], endpoint.as_str(), "{list}");
    assert_eq!(
        list[0]["events"],
        serde_json::json!(["sandbox.failed"]),
        "{list}"
    );
    user.on(&app, &["webhook", "rm", &endpoint]).await.ok();
    let r = user.on(&app, &["webhook", "rm", &endpoint]).await;
    assert_ne!(r.code, 0, "{r:?}");
    let r = user
        .on(
            &app,
            &["webhook", "create", "http://x/hook", "--event", "nope"],
        )
        .await;
    assert!(r.stderr.contains("events[0]"), "{r:?}");
}

#[actix_web::test]
async fn bad_input_gives_one_line_and_a_non_zero_exit() {
    let app = spawn_app().await;
    let user = User::new();
    let closed = format!("http://127.0.0.1:{}", closed_port());

    // A server that answers a proxy's 502 page.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        for conn in proxy.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = [0; 4096];
            let _ = c.read(&mut buf);
            let body = "<html>bad gateway</html>";
            let _ = write!(
                c,
                "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });

    let missing = "0190a6f2-0000-7000-8000-000000000000";
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        (
            vec!["sandbox", "ls", "--url", &closed, "--api-key", "k"],
            1,
            vec!["cannot reach", &closed],
        ),
        (
            vec!["exec", "-c", "1", "--url", &closed, "--api-key", "k"],
            2,
            vec!["cannot reach"],
        ),
        (
            vec!["job", "ls", "--url", &app.base, "--api-key", "sbx_nope"],
            1,
            vec!["refused the API key", "sbx login"],
        ),
        (
            vec![
                "sandbox",
                "get",
                missing,
                "--url",
                &app.base,
                "--api-key",
                &app.key,
            ],
            1,
            vec!["not_found", "HTTP 404"],
        ),
        (
            vec![
                "exec",
                "-c",
                "1",
                "--memory-mb",
                "1",
                "--url",
                &app.base,
                "--api-key",
                &app.key,
            ],
            2,
            vec!["memory_mb", "HTTP 422"],
        ),
        (
            vec!["images", "--url", "ftp://example", "--api-key", "k"],
            1,
            vec!["http://"],
        ),
        (
            vec!["gpus", "--url", &proxy_url, "--api-key", "k"],
            1,
            vec!["HTTP 502", "bad gateway"],
        ),
        (
            vec![
                "exec",
                "missing.py",
                "--url",
                &app.base,
                "--api-key",
                &app.key,
            ],
            2,
            vec!["missing.py"],
        ),
        (vec!["images"], 1, vec!["no API key", "sbx login"]),
    ];
    for (args, code, wanted) in cases {
        let r = user.sbx(&args).await;
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        r.failed(code, &wanted);
    }
}

#[actix_web::test]
async fn a_command_in_a_container_sandbox_exits_with_its_code() {
    let app = spawn_app().await;
    let user = User::new();
    let s = user
        .on(
            &app,
            &[
                "sandbox", "create", "python", "--cpu", "0.5", "--memory", "256Mi", "--port",
                "8000", "--json",
            ],
        )
        .await
        .ok()
        .json();
    let id = s["id"].as_str().unwrap().to_owned();
    let r = user
        .on(
            &app,
            &[
                "sandbox",
                "exec",
                &id,
                "--",
                "sh",
                "-c",
                "echo hi; echo oops >&2; exit 5",
            ],
        )
        .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (5, "hi\n", "oops\n"),
        "{r:?}"
    );
    // Its command's log (a keep-alive, which writes nothing): read and left without --follow.
    user.on(&app, &["sandbox", "logs", &id]).await.ok();
    // A preview URL: printed, on a host of its own under preview.localhost; bad ports named.
    let url = user
        .on(
            &app,
            &["sandbox", "preview", &id, "8000", "--expires-in", "60"],
        )
        .await
        .ok()
        .stdout;
    let port = app.base.rsplit(':').next().unwrap();
    assert!(
        url.starts_with("http://") && url.ends_with(&format!(".preview.localhost:{port}/\n")),
        "{url}"
    );
    let r = user
        .on(
            &app,
            &["sandbox", "preview", &id, "8000", "--expires-in", "0"],
        )
        .await;
    assert!(r.code != 0 && r.stderr.contains("expires_in"), "{r:?}");

    // Background processes: started (the pid printed), written to, followed, listed, killed.
    let cat = user
        .on(
            &app,
            &["process", "start", &id, "-i", "--tag", "echo", "--", "cat"],
        )
        .await
        .ok();
    assert_eq!(cat.stdout, "1\n", "{cat:?}");
    let conn = ["--url", &app.base, "--api-key", &app.key];
    let mut stdin_args = vec!["process"];
    stdin_args.extend(conn);
    stdin_args.extend(["stdin", &id, "1", "--close"]);
    user.sbx_in(&stdin_args, "hello\n").await.ok();
    let logs = user
        .on(&app, &["process", "logs", &id, "1", "-f"])
        .await
        .ok();
    assert_eq!(logs.stdout, "hello\n", "{logs:?}");
    let sleeper = user
        .on(&app, &["process", "start", &id, "--", "sleep", "300"])
        .await
        .ok();
    assert_eq!(sleeper.stdout, "2\n", "{sleeper:?}");
    let ls = user.on(&app, &["process", "ls", &id]).await.ok();
    for want in ["exited", "running", "echo", "sleep 300"] {
        assert!(ls.stdout.contains(want), "{want}: {ls:?}");
    }
    user.on(&app, &["process", "kill", &id, "2"]).await.ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let p = user
            .on(&app, &["process", "get", &id, "2", "--json"])
            .await
            .ok()
            .json();
        if p["state"] == "exited" {
            assert_eq!(p["exit_code"], 143, "{p}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    user.on(&app, &["process", "kill", &id, "2", "-s", "KILL"])
        .await
        .failed(1, &["process_exited", "HTTP 409"]);

    // Ports: declared at create and with --expose; --wait until a server listens.
    assert_eq!(s["ports"], serde_json::json!([8000]), "{s}");
    let listed = user
        .on(&app, &["sandbox", "ports", &id, "--expose", "9000"])
        .await
        .ok()
        .stdout;
    assert!(
        listed.contains("8000") && listed.contains("9000"),
        "{listed}"
    );
    user.on(
        &app,
        &[
            "process",
            "start",
            &id,
            "--",
            "python3",
            "-m",
            "http.server",
            "8000",
        ],
    )
    .await
    .ok();
    let ports = user
        .on(&app, &["sandbox", "ports", &id, "--wait", "8000", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        ports["ports"][0],
        serde_json::json!({"port": 8000, "declared": true, "listening": true}),
        "{ports}"
    );
    let r = user
        .on(
            &app,
            &["sandbox", "ports", &id, "--wait", "9000", "--timeout", "1"],
        )
        .await;
    assert!(
        r.code == 1 && r.stderr.contains("nothing listens on port 9000"),
        "{r:?}"
    );

    // The terminal, in a pseudo-terminal of its own (`script`): keys in, the shell's output
    // and exit code out. Without a terminal on stdin it is refused.
    let command = format!(
        "{} terminal --url {} --api-key {} {id}",
        env!("CARGO_BIN_EXE_sbx"),
        app.base,
        app.key
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("HOME", &user.home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting script");
    let mut keys = child.stdin.take().unwrap();
    let mut screen = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    let read = async {
        use tokio::io::AsyncReadExt as _;
        let mut typed = false;
        let mut buf = [0u8; 4096];
        loop {
            let n = screen.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&buf[..n]);
            // Typed once the shell's prompt shows: the CLI is in raw mode by then.
            if !typed && shown.windows(2).any(|w| w == b"$ ") {
                typed = true;
                keys.write_all(b"echo hi-$((6*7))\nexit 4\n").await.unwrap();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the terminal ended within 60 s");
    let status = child.wait().await.unwrap();
    let shown = String::from_utf8_lossy(&shown);
    assert!(shown.contains("hi-42"), "{shown}");
    assert_eq!(status.code(), Some(4), "{shown}");
    user.on(&app, &["terminal", &id])
        .await
        .failed(1, &["needs a terminal"]);
    user.on(&app, &["sandbox", "rm", &id]).await.ok();
}

#[actix_web::test]
async fn files_are_copied_in_and_out_listed_and_removed() {
    let app = spawn_app().await;
    let user = User::new();
    let id = common::interpreters::session(&app, serde_json::json!({})).await;
    let local = user.file("in put.csv", "a,b\n1,2\n");
    let target = format!("{id}:/workspace/data/in put.csv");
    let up = user
        .on(&app, &["files", "cp", local.to_str().unwrap(), &target])
        .await
        .ok();
    assert!(up.stdout.contains("/workspace/data/in put.csv"), "{up:?}");
    let piped = user
        .sbx_in(
            &[
                "files",
                "--url",
                &app.base,
                "--api-key",
                &app.key,
                "cp",
                "-",
                &format!("{id}:/workspace/from-stdin.txt"),
            ],
            "piped\n",
        )
        .await
        .ok();
    assert!(piped.stdout.contains("from-stdin.txt"), "{piped:?}");
    let cat = user
        .on(&app, &["files", "cat", &id, "/workspace/data/in put.csv"])
        .await
        .ok();
    assert_eq!(cat.stdout, "a,b\n1,2\n");
    let ls = user.on(&app, &["files", "ls", &id, "-r"]).await.ok();
    for want in [
        "directory",
        "/workspace/data/in put.csv",
        "/workspace/from-stdin.txt",
    ] {
        assert!(ls.stdout.contains(want), "{want}: {ls:?}");
    }
    let json = user
        .on(&app, &["files", "ls", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(json["data"][0]["path"], "/workspace/data", "{json}");
    user.on(&app, &["files", "mkdir", &id, "/workspace/out/deep"])
        .await
        .ok();
    user.on(
        &app,
        &[
            "files",
            "cp",
            &format!("{id}:/workspace/from-stdin.txt"),
            ".",
        ],
    )
    .await
    .ok();
    assert_eq!(
        std::fs::read_to_string(user.home.join("from-stdin.txt")).unwrap(),
        "piped\n"
    );
    user.on(&app, &["files", "rm", &id, "/workspace/data"])
        .await
        .failed(1, &["path_conflict", "HTTP 409"]);
    user.on(&app, &["files", "rm", &id, "-r", "/workspace/data"])
        .await
        .ok();
    user.on(&app, &["files", "cat", &id, "/etc/passwd"])
        .await
        .failed(1, &["invalid_path", "field path", "HTTP 422"]);
    user.on(&app, &["files", "cp", "a", "b"])
        .await
        .failed(1, &["SANDBOX:/path"]);

    // `files watch` prints each change as it happens (uploaded again until the watch, which
    // starts as the command does, sees one).
    let mut watcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_sbx"))
        .args([
            "files",
            "--url",
            &app.base,
            "--api-key",
            &app.key,
            "watch",
            &id,
        ])
        .env("HOME", &user.home)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        watcher.stdout.take().unwrap(),
    ));
    let mut seen = Vec::new();
    for i in 0..20 {
        user.on(
            &app,
            &[
                "files",
                "cp",
                local.to_str().unwrap(),
                &format!("{id}:/workspace/w{i}.csv"),
            ],
        )
        .await
        .ok();
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
        {
            seen.push(line);
        }
        if seen
            .iter()
            .any(|l| l.starts_with("created") && l.ends_with(".csv"))
        {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("created  /workspace/w") && l.ends_with(".csv")),
        "{seen:?}"
    );
    watcher.kill().await.unwrap();
}
