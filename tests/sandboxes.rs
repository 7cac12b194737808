//! Code-interpreter sandboxes from the HTTP API: persistent state, notebook echo, figures,
//! per-call limits, pause and resume (also across a restart of the server), timeouts, idle
//! pauses, eviction, isolation, and clear failures for damaged snapshots.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::interpreters::{run, session};
use common::{
    delete_sandbox, free_addr, fresh_database, project_with_key, sandbox, spawn_app,
    spawn_app_with, wait_sandbox,
};
use serde_json::{Value, json};

#[actix_web::test]
async fn an_interpreter_keeps_state_and_answers_like_a_notebook() {
    let app = spawn_app().await;
    let id = session(&app, json!({"env": {"GREETING": "hi"}, "memory": "512Mi"})).await;

    let r = run(&app, &id, "x = 41").await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["result"], Value::Null);
    let r = run(&app, &id, "x + 1").await;
    assert_eq!(r["result"], "42", "{r}");
    assert_eq!(run(&app, &id, "_ * 2").await["result"], "84");

    // Imports carry over; output and the final expression come back apart.
    let r = run(
        &app,
        &id,
        "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})\nprint('rows', len(df))\nint(df.a.sum())",
    )
    .await;
    assert_eq!(r["stdout"], "rows 3\n", "{r}");
    assert_eq!(r["result"], "6");
    assert_eq!(run(&app, &id, "df.shape").await["result"], "(3, 1)");
    let env = run(&app, &id, "import os; os.environ['GREETING'], os.getcwd()").await;
    assert_eq!(env["result"], "('hi', '/workspace')", "{env}");

    // An exception fails the call, with a traceback naming the cell; the session goes on.
    let r = run(&app, &id, "def f():\n    return 1 / 0\nf()").await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["reset"], false);
    let stderr = r["stderr"].as_str().unwrap();
    assert!(stderr.contains("ZeroDivisionError"), "{stderr}");
    assert!(stderr.contains("<cell"), "{stderr}");
    assert!(
        !stderr.contains("sbx session"),
        "the helper's frames are hidden: {stderr}"
    );
    assert_eq!(run(&app, &id, "x").await["result"], "41");

    // Files the call writes come back; a figure comes back as a PNG and is closed.
    let r = run(
        &app,
        &id,
        "open('out.txt', 'w').write('hello')\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('t')",
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["files"][0]["path"], "out.txt", "{r}");
    assert_eq!(r["files"][0]["content"], "hello");
    assert_eq!(r["figures"][0]["path"], "figure-1.png", "{r}");
    let png = base64::engine::general_purpose::STANDARD
        .decode(r["figures"][0]["content_b64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let r = run(&app, &id, "len(plt.get_fignums())").await;
    assert_eq!(r["result"], "0");
    assert!(r["files"].as_array().unwrap().is_empty(), "{r}");
    // Files handed in are in place for the code.
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"code": "open('data/in.csv').read()", "files": [{"path": "data/in.csv", "content": "a,b\n"}]}),
        )
        .await;
    assert_eq!(a.body["result"], "'a,b\\n'", "{}", a.text);

    let s = sandbox(&app, &id).await;
    assert_eq!(s["kind"], "interpreter");
    assert_eq!(s["env"], json!(["GREETING"]), "values are not shown: {s}");
    assert_eq!(s["memory_bytes"], 512 << 20);
    assert_eq!(s["events"][0]["state"], "pending");
    assert_eq!(s["events"][1]["state"], "running");
}

/// Exits end the cell as in Jupyter: `sys.exit`, `exit()`, `quit()` and `SystemExit` keep
/// the interpreter and say the code; `os._exit` ends the interpreter too, said in words.
#[actix_web::test]
async fn exits_end_the_cell_and_only_os_exit_ends_the_interpreter() {
    let app = spawn_app().await;
    let id = session(&app, json!({})).await;
    run(&app, &id, "x = 41").await;
    for (code, status, exit_code, message) in [
        ("import sys; sys.exit(3)", "failed", 3, "SystemExit: 3"),
        ("exit()", "succeeded", 0, "SystemExit"),
        ("quit(0)", "succeeded", 0, "SystemExit: 0"),
        ("import sys; sys.exit()", "succeeded", 0, "SystemExit"),
        ("raise SystemExit('bye')", "failed", 1, "SystemExit: bye"),
        (
            "print('before'); exit(2); print('after')",
            "failed",
            2,
            "SystemExit: 2",
        ),
        ("x += 1; quit()", "succeeded", 0, "SystemExit"),
    ] {
        let r = run(&app, &id, code).await;
        assert_eq!(
            (&r["status"], &r["exit_code"], &r["message"], &r["reset"]),
            (
                &json!(status),
                &json!(exit_code),
                &json!(message),
                &json!(false)
            ),
            "{code}: {r}"
        );
    }
    let r = run(&app, &id, "print('still here'); x").await;
    assert_eq!(r["result"], "42", "the variables survive: {r}");
    assert_eq!(r["stdout"], "still here\n");
    assert_eq!(r["exit_code"], Value::Null, "no exit, no code: {r}");
    let bye = run(&app, &id, "raise SystemExit('bye')").await;
    assert_eq!(bye["stderr"], "bye\n", "{bye}");

    let r = run(&app, &id, "import os; os._exit(4)").await;
    assert_eq!(
        (&r["status"], &r["exit_code"], &r["reset"]),
        (&json!("failed"), &json!(4), &json!(true)),
        "{r}"
    );
    let message = r["message"].as_str().unwrap();
    assert!(
        message.starts_with("the interpreter exited with code 4"),
        "{r}"
    );
    assert!(!message.contains("wasm") && !message.contains('\n'), "{r}");
    let r = run(&app, &id, "'x' in dir()").await;
    assert_eq!(r["result"], "False", "a fresh interpreter: {r}");
    let r = run(&app, &id, "import os; os._exit(0)").await;
    assert_eq!(
        (&r["status"], &r["reset"]),
        (&json!("succeeded"), &json!(true)),
        "{r}"
    );
}

#[actix_web::test]
async fn a_call_past_its_limits_says_so_and_leaves_a_usable_session() {
    let app = spawn_app().await;
    let id = session(&app, json!({"memory": "256Mi"})).await;
    run(&app, &id, "x = 1").await;
    let path = format!("/v1/sandboxes/{id}/exec");

    // Wall time, computing: the interpreter is restarted and the answer says so.
    let a = app
        .post(
            &path,
            &json!({"code": "while True: pass", "timeout_ms": 300}),
        )
        .await;
    assert_eq!(a.body["status"], "timeout", "{}", a.text);
    assert_eq!(a.body["reset"], true);
    assert!(
        a.body["message"].as_str().unwrap().contains("restarted"),
        "{}",
        a.text
    );
    let gone = run(&app, &id, "x").await;
    assert_eq!(gone["status"], "failed");
    assert!(gone["stderr"].as_str().unwrap().contains("NameError"));
    assert_eq!(run(&app, &id, "1 + 1").await["result"], "2");

    // Wall time, waiting in a host call.
    let a = app
        .post(
            &path,
            &json!({"code": "import time; time.sleep(5)", "timeout_ms": 300}),
        )
        .await;
    assert_eq!(a.body["status"], "timeout", "{}", a.text);
    assert!(a.body["duration_ms"].as_f64().unwrap() < 3000.0);
    assert_eq!(run(&app, &id, "2 + 2").await["result"], "4");

    // Memory: Python sees a MemoryError; the session survives it.
    run(&app, &id, "y = 'kept'").await;
    let r = run(&app, &id, "b = bytearray(400 * 1024 * 1024)").await;
    assert_eq!(r["status"], "memory_limit", "{r}");
    assert_eq!(r["reset"], false, "{r}");
    assert_eq!(run(&app, &id, "y").await["result"], "'kept'");

    // Output: stopped at the cap.
    let a = app
        .post(
            &path,
            &json!({"code": "while True: print('x' * 1000)", "output_limit_bytes": 10000}),
        )
        .await;
    assert_eq!(a.body["status"], "output_limit", "{}", a.text);
    assert_eq!(a.body["stdout"].as_str().unwrap().len(), 10000);
    assert_eq!(run(&app, &id, "3 + 3").await["result"], "6");
}

#[actix_web::test]
async fn pause_and_resume_keep_variables_imports_and_files() {
    let app = spawn_app().await;
    let id = session(&app, json!({})).await;
    run(
        &app,
        &id,
        "import pandas as pd\nx = 'abc' * 3\ndf = pd.DataFrame({'a': range(5)})\nopen('kept.txt', 'w').write('file')\nimport random\nr = random.random()",
    )
    .await;
    let r = run(&app, &id, "r").await["result"].clone();

    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    assert_eq!(a.body["state"], "paused");
    assert_eq!(a.body["state_reason"], "user");
    assert!(a.body["snapshot_bytes"].as_i64().unwrap() > 0, "{}", a.text);
    // Paused by its owner: an exec does not wake it.
    let a = app
        .post(&format!("/v1/sandboxes/{id}/exec"), &json!({"code": "x"}))
        .await;
    a.assert_problem(409, "sandbox_paused");
    // Pausing again is a no-op.
    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);

    let a = app.sandbox_action(&id, "resume").await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    assert_eq!(a.body["state"], "running");
    assert_eq!(run(&app, &id, "x").await["result"], "'abcabcabc'");
    assert_eq!(run(&app, &id, "int(df.a.sum())").await["result"], "10");
    assert_eq!(
        run(&app, &id, "open('kept.txt').read()").await["result"],
        "'file'"
    );
    assert_eq!(run(&app, &id, "r").await["result"], r);
    // Pause and resume again, after more work: the second snapshot holds the new state.
    run(&app, &id, "x = x.upper()").await;
    app.post(&format!("/v1/sandboxes/{id}/pause"), &json!({}))
        .await;
    app.post(&format!("/v1/sandboxes/{id}/resume"), &json!({}))
        .await;
    assert_eq!(run(&app, &id, "x").await["result"], "'ABCABCABC'");

    let s = sandbox(&app, &id).await;
    let reasons: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["created", "started", "user", "resumed", "user", "resumed"],
        "{s}"
    );

    delete_sandbox(&app, &id).await;
    let s = sandbox(&app, &id).await;
    assert_eq!(s["state"], "terminated");
    assert_eq!(s["state_reason"], "user");
    let a = app
        .post(&format!("/v1/sandboxes/{id}/exec"), &json!({"code": "x"}))
        .await;
    a.assert_problem(409, "sandbox_ended");
}

#[actix_web::test]
async fn a_damaged_or_missing_snapshot_fails_the_resume_and_says_why() {
    let app = spawn_app().await;
    let db = app.pool.get().await.unwrap();
    for (damage, code) in [
        (
            "update sandbox_snapshots set data = overlay(data placing '\\xdeadbeef'::bytea from 200) where sandbox_id = $1::text::uuid",
            "snapshot_corrupt",
        ),
        (
            "delete from sandbox_snapshots where sandbox_id = $1::text::uuid",
            "snapshot_missing",
        ),
    ] {
        let id = session(&app, json!({})).await;
        run(&app, &id, "x = 1").await;
        app.post(&format!("/v1/sandboxes/{id}/pause"), &json!({}))
            .await;
        assert_eq!(db.execute(damage, &[&id]).await.unwrap(), 1);
        let a = app.sandbox_action(&id, "resume").await;
        a.assert_problem(409, code);
        let s = sandbox(&app, &id).await;
        assert_eq!(s["state"], "failed", "{s}");
        assert_eq!(s["state_reason"], code);
        assert!(
            s["state_detail"].as_str().unwrap().contains("snapshot"),
            "{s}"
        );
        // It never starts blank.
        let a = app
            .post(&format!("/v1/sandboxes/{id}/exec"), &json!({"code": "x"}))
            .await;
        a.assert_problem(409, "sandbox_ended");
    }
}

#[actix_web::test]
async fn sessions_see_nothing_of_each_other_nor_of_other_projects() {
    let app = spawn_app().await;
    let a = session(&app, json!({})).await;
    let b = session(&app, json!({})).await;
    run(&app, &a, "secret = 7\nopen('/workspace/mine.txt', 'w').write('a')\nopen('/tmp/t.txt', 'w').write('a')").await;
    let r = run(&app, &b, "secret").await;
    assert!(r["stderr"].as_str().unwrap().contains("NameError"), "{r}");
    let r = run(
        &app,
        &b,
        "import os; sorted(os.listdir('/workspace')), sorted(os.listdir('/tmp'))",
    )
    .await;
    assert_eq!(r["result"], "([], [])", "{r}");

    let other = app.other_project_key().await;
    for (path, post) in [
        (format!("/v1/sandboxes/{a}"), false),
        (format!("/v1/sandboxes/{a}/exec"), true),
        (format!("/v1/sandboxes/{a}/pause"), true),
        (format!("/v1/sandboxes/{a}/resume"), true),
    ] {
        let ans = if post {
            app.post_with_key(&path, &json!({"code": "secret"}), Some(&other))
                .await
        } else {
            app.get_with_key(&path, Some(&other)).await
        };
        ans.assert_problem(404, "not_found");
    }
    let list = app.get_with_key("/v1/sandboxes", Some(&other)).await;
    assert_eq!(list.body["data"], json!([]));
    let list = app.get("/v1/sandboxes?state=running&limit=1").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    let next = list.body["next_cursor"].as_str().unwrap();
    let list = app
        .get(&format!("/v1/sandboxes?state=running&cursor={next}"))
        .await;
    assert_eq!(list.body["data"][0]["id"], a.as_str(), "{}", list.text);
    assert_eq!(run(&app, &a, "secret").await["result"], "7");
}

#[actix_web::test]
async fn a_hundred_sessions_hold_distinct_state_with_the_idle_ones_paused() {
    // Only 20 may be live at once: the rest are paused as others open, and resumed by their
    // next call, without the caller noticing.
    let app = spawn_app_with(|s| s.max_live_sessions = 20).await;
    let mut ids = Vec::new();
    for chunk in 0..10 {
        let made = futures_util::future::join_all((0..10).map(|_| session(&app, json!({})))).await;
        for (i, id) in made.into_iter().enumerate() {
            let n = chunk * 10 + i;
            let r = run(&app, &id, &format!("v = {n}\ns = 'session-{n}'")).await;
            assert_eq!(r["status"], "succeeded", "{r}");
            ids.push(id);
        }
    }
    for (n, id) in ids.iter().enumerate() {
        let r = run(&app, id, "v, s").await;
        assert_eq!(r["result"], format!("({n}, 'session-{n}')"), "{r}");
    }
    let evicted = app.get("/v1/sandboxes?state=paused&limit=200").await;
    let paused = evicted.body["data"].as_array().unwrap();
    assert!(paused.len() >= 75, "{} paused", paused.len());
    assert!(paused.iter().all(|s| s["state_reason"] == "evicted"));
}

#[actix_web::test]
async fn timeouts_end_sandboxes_running_or_paused_and_can_be_extended() {
    let app = spawn_app().await;
    let running = session(&app, json!({"timeout_s": 1})).await;
    let paused = session(&app, json!({"timeout_s": 2})).await;
    let extended = session(&app, json!({"timeout_s": 1})).await;
    app.post(&format!("/v1/sandboxes/{paused}/pause"), &json!({}))
        .await;
    let a = app
        .post(
            &format!("/v1/sandboxes/{extended}/timeout"),
            &json!({"timeout_s": 60}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    for id in [&running, &paused] {
        let s = wait_sandbox(&app, id, "terminated", 10).await;
        assert_eq!(s["state_reason"], "timeout", "{s}");
        let ended = chrono::DateTime::parse_from_rfc3339(s["ended_at"].as_str().unwrap()).unwrap();
        let due = chrono::DateTime::parse_from_rfc3339(s["expires_at"].as_str().unwrap()).unwrap();
        let late = (ended - due).num_milliseconds();
        assert!(
            (0..2000).contains(&late),
            "ended {late} ms after its deadline"
        );
    }
    let s = sandbox(&app, &extended).await;
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(run(&app, &extended, "1").await["result"], "1");
    let a = app
        .post(
            &format!("/v1/sandboxes/{running}/timeout"),
            &json!({"timeout_s": 60}),
        )
        .await;
    a.assert_problem(409, "sandbox_ended");
}

#[actix_web::test]
async fn an_idle_session_is_paused_and_its_next_call_resumes_it() {
    let app = spawn_app().await;
    let id = session(&app, json!({"idle_timeout_s": 1})).await;
    run(&app, &id, "z = [1, 2, 3]").await;
    let s = wait_sandbox(&app, &id, "paused", 10).await;
    assert_eq!(s["state_reason"], "idle");
    let r = run(&app, &id, "sum(z)").await;
    assert_eq!(r["result"], "6", "{r}");
    let s = sandbox(&app, &id).await;
    assert_eq!(s["state"], "running");
    assert_eq!(s["state_reason"], "resumed_by_exec");
}

#[actix_web::test]
async fn sessions_survive_a_restart_of_the_server() {
    let db = fresh_database().await;
    let pool = sbx_store::pool(&db, 2).unwrap();
    let (_, key) = project_with_key(&pool, "restart").await;
    let addr = free_addr();
    let base = format!("http://{addr}");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let post = |path: String, body: Value| {
        let (client, key) = (client.clone(), key.clone());
        async move {
            let mut r = client
                .post(path)
                .bearer_auth(&key)
                .send_json(&body)
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().limit(1 << 20).await.unwrap(),
            )
        }
    };
    let mut api = common::start_api(&db, addr);
    common::wait_healthy(&client, &base).await;
    let (status, made) = post(
        format!("{base}/v1/sandboxes"),
        json!({"image": "code-interpreter"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let paused_id = made["id"].as_str().unwrap().to_owned();
    let (_, made) = post(
        format!("{base}/v1/sandboxes"),
        json!({"image": "code-interpreter"}),
    )
    .await;
    let live_id = made["id"].as_str().unwrap().to_owned();
    for id in [&paused_id, &live_id] {
        let (status, r) = post(
            format!("{base}/v1/sandboxes/{id}/exec"),
            json!({"code": format!("import numpy as np\nx = np.arange(4) * 2\nwho = '{id}'")}),
        )
        .await;
        assert_eq!((status, &r["status"]), (200, &json!("succeeded")), "{r}");
    }
    let (status, _) = post(format!("{base}/v1/sandboxes/{paused_id}/pause"), json!({})).await;
    assert_eq!(status, 200);

    // A graceful stop pauses the live session; the paused one stays paused.
    let pid = api.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    api.wait().unwrap();
    let conn = pool.get().await.unwrap();
    let row = conn
        .query_one(
            "select state, state_reason from sandboxes where sandbox_id = $1::text::uuid",
            &[&live_id],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("paused".into(), "shutdown".into())
    );

    let mut api = common::start_api(&db, addr);
    common::wait_healthy(&client, &base).await;
    let (status, r) = post(format!("{base}/v1/sandboxes/{paused_id}/resume"), json!({})).await;
    assert_eq!((status, &r["state"]), (200, &json!("running")), "{r}");
    for id in [&paused_id, &live_id] {
        // The one paused by the shutdown resumes at its next call.
        let (status, r) = post(
            format!("{base}/v1/sandboxes/{id}/exec"),
            json!({"code": "x.tolist(), who"}),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["result"], format!("([0, 2, 4, 6], '{id}')"), "{r}");
    }
    api.kill().unwrap();
    api.wait().unwrap();
}

#[actix_web::test]
async fn bad_sandbox_requests_get_clear_errors() {
    let app = spawn_app().await;
    let cases = [
        (json!({"image": "pytorch"}), 422, "invalid_limit"), // its default 16Gi is over the ceiling
        (
            json!({"image": "code-interpreter", "memory": "12Qi"}),
            422,
            "invalid_limit",
        ),
        (
            json!({"image": "code-interpreter", "memory": "64Mi"}),
            422,
            "invalid_limit",
        ),
        (
            json!({"image": "code-interpreter", "memory": "100Gi"}),
            422,
            "invalid_limit",
        ),
        (
            json!({"image": "code-interpreter", "timeout_s": 0}),
            422,
            "invalid_limit",
        ),
        (
            json!({"image": "code-interpreter", "cpu": -1}),
            422,
            "invalid_limit",
        ),
        (
            json!({"image": "code-interpreter", "gpu": {"type": "H100 80GB", "fraction": 0.5}}),
            422,
            "invalid_request",
        ),
        (
            json!({"image": "code-interpreter", "env": {"A=B": "x"}}),
            422,
            "invalid_request",
        ),
        (
            json!({"image": "code-interpreter", "nope": 1}),
            422,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        app.post("/v1/sandboxes", &body)
            .await
            .assert_problem(status, code);
    }
    app.get("/v1/sandboxes?state=sleeping")
        .await
        .assert_problem(400, "bad_request");
    app.get("/v1/sandboxes/not-an-id")
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/v1/sandboxes/{}", uuid::Uuid::now_v7()))
        .await
        .assert_problem(404, "not_found");
    let id = session(&app, json!({})).await;
    let path = format!("/v1/sandboxes/{id}/exec");
    app.post(&path, &json!({"code": "1", "timeout_ms": 0}))
        .await
        .assert_problem(422, "invalid_limit");
    app.post(
        &path,
        &json!({"code": "1", "files": [{"path": "../x", "content": ""}]}),
    )
    .await
    .assert_problem(422, "invalid_path");
    app.post(
        &format!("/v1/sandboxes/{id}/timeout"),
        &json!({"timeout_s": 100000}),
    )
    .await
    .assert_problem(422, "invalid_limit");
    // The same Idempotency-Key and body: the same sandbox.
    let once = || async {
        let mut r = app
            .client
            .post(format!("{}/v1/sandboxes", app.base))
            .bearer_auth(&app.key)
            .insert_header(("idempotency-key", "sb-1"))
            .send_json(&json!({"image": "code-interpreter"}))
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (first, a) = once().await;
    let (second, b) = once().await;
    assert_eq!((first, second), (201, 200));
    assert_eq!(a["id"], b["id"]);
}

#[actix_web::test]
async fn files_handed_to_a_session_never_follow_the_links_it_made() {
    let app = spawn_app().await;
    let id = session(&app, json!({"env": {"TRICKY": "{cap} {env} {src}"}})).await;
    let r = run(&app, &id, "import os; os.environ['TRICKY']").await;
    assert_eq!(r["result"], "'{cap} {env} {src}'", "{r}");
    let target = std::env::temp_dir().join(format!("sbx-escape-{}", uuid::Uuid::now_v7()));
    let depth = "../".repeat(40);
    let r = run(
        &app,
        &id,
        &format!(
            "import os\nos.symlink('{depth}{}', 'link')\nos.mkdir('d')\nos.symlink('{depth}tmp', 'd/up')",
            target.display().to_string().trim_start_matches('/')
        ),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    for path in ["link", "d/up/x.txt"] {
        let a = app
            .post(
                &format!("/v1/sandboxes/{id}/exec"),
                &json!({"code": "1", "files": [{"path": path, "content": "pwned"}]}),
            )
            .await;
        a.assert_problem(422, "invalid_path");
    }
    assert!(
        !target.exists(),
        "the host file was written through the link"
    );
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"code": "open('ok.txt').read()", "files": [{"path": "ok.txt", "content": "fine"}]}),
        )
        .await;
    assert_eq!(a.body["result"], "'fine'", "{}", a.text);
}

#[actix_web::test]
async fn deleting_a_session_stops_the_call_running_in_it() {
    let app = spawn_app().await;
    let id = session(&app, json!({})).await;
    let started = std::time::Instant::now();
    let path = format!("/v1/sandboxes/{id}/exec");
    let body = json!({"code": "while True: pass", "timeout_ms": 60000});
    let call = app.post(&path, &body);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        delete_sandbox(&app, &id).await;
    };
    let (answer, ()) = tokio::join!(call, stop);
    assert_eq!(answer.body["status"], "cancelled", "{}", answer.text);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the call ran on"
    );
    let s = sandbox(&app, &id).await;
    assert_eq!(s["state"], "terminated");
}

/// A session's disk cap holds across its calls: a call that fails on a full disk ends
/// `disk_limit` without a reset, and once files are removed there is room again.
#[actix_web::test]
async fn a_sessions_disk_cap_holds_across_calls() {
    let app = spawn_app().await;
    let id = session(&app, json!({"disk": "8Mi"})).await;
    assert_eq!(sandbox(&app, &id).await["disk_bytes"], 8 << 20);
    run(&app, &id, "x = 41\nopen('a', 'wb').write(b'a' * (5 << 20))").await;
    let r = run(&app, &id, "open('/tmp/b', 'wb').write(b'b' * (5 << 20))").await;
    assert_eq!(
        (&r["status"], &r["reset"]),
        (&json!("disk_limit"), &json!(false)),
        "{r}"
    );
    assert!(
        r["message"].as_str().unwrap().contains("disk cap of 8 MiB"),
        "{r}"
    );
    let r = run(&app, &id, "import os; os.remove('a'); os.remove('/tmp/b')\nopen('c', 'wb').write(b'c' * (6 << 20))\nx").await;
    assert_eq!(
        (&r["status"], &r["result"]),
        (&json!("succeeded"), &json!("41")),
        "{r}"
    );

    for bad in ["0", "-1Gi", "11Gi", "lots"] {
        app.post(
            "/v1/sandboxes",
            &json!({"image": "code-interpreter", "disk": bad}),
        )
        .await
        .assert_problem(422, "invalid_limit");
    }
}
