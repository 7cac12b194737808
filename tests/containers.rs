//! Container sandboxes from the HTTP API, on the local Docker daemon with the offline test image
//! (`sbx/python:local`, built by the set-up): lifecycle, isolation seen from inside, pause and
//! resume keeping files, timeouts, GPU shares on a declared inventory with the KYC gate, and the
//! meter against the clock.

mod common;

use std::time::{Duration, Instant};

use actix_web::http::Method;
use common::{
    TestApp, delete_sandbox, sandbox, spawn_api_only, spawn_app, spawn_app_with, start_runner,
    start_runner_with, wait_sandbox,
};
use serde_json::{Value, json};

/// Create a container sandbox from `body`; the answer.
async fn create(app: &TestApp, body: Value) -> common::Answer {
    app.post("/v1/sandboxes", &body).await
}

/// Create a `python` sandbox with `extra`; its id, once running.
async fn running(app: &TestApp, extra: Value) -> String {
    let mut body = json!({"image": "python", "cpu": 0.5, "memory": "256Mi"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let a = create(app, body).await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(a.body["state"], "running", "{}", a.text);
    a.body["id"].as_str().unwrap().to_owned()
}

/// Run `command` in sandbox `id`; the outcome.
async fn run(app: &TestApp, id: &str, command: &[&str]) -> Value {
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"command": command, "timeout_ms": 20000}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    a.body
}

/// [`run`] of `sh -c script`.
async fn sh(app: &TestApp, id: &str, script: &str) -> Value {
    run(app, id, &["sh", "-c", script]).await
}

/// Whether Docker has a container named after sandbox `id`.
fn container_exists(id: &str) -> bool {
    let name = format!("sbx-{}", id.replace('-', ""));
    std::process::Command::new("docker")
        .args(["inspect", "--type", "container", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The OCI runtime Docker runs sandbox `id`'s container under (`runsc`, or `runc` when Docker's
/// default).
fn runtime_of(id: &str) -> String {
    let name = format!("sbx-{}", id.replace('-', ""));
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "--type",
            "container",
            "-f",
            "{{.HostConfig.Runtime}}",
            &name,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The runtime these tests expect containers under: `SBX_CONTAINER_RUNTIME`, else the one
/// runners choose on this Docker (gVisor where it is registered and passes its check).
async fn expected_runtime() -> String {
    static CHOSEN: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    if let Ok(asked) = std::env::var("SBX_CONTAINER_RUNTIME") {
        return asked;
    }
    CHOSEN
        .get_or_init(|| async {
            let backend = sbx_runner::container::ContainerBackend::connect()
                .await
                .unwrap();
            let image = sbx_limits::catalog::find("python").and_then(|c| c.local_image.clone());
            sbx_runner::container::ContainerRuntime::choose(
                backend.docker(),
                None,
                image.as_deref(),
            )
            .await
            .unwrap()
            .as_str()
            .to_owned()
        })
        .await
        .clone()
}

/// Wait (at most 10 s) until sandbox `id`'s container is gone; `why` otherwise.
async fn wait_removed(id: &str, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while container_exists(id) {
        assert!(Instant::now() < deadline, "{why}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_container_sandbox_runs_commands_and_keeps_its_files_through_pause_and_resume() {
    let app = spawn_app().await;
    let id = running(&app, json!({"env": {"MODE": "test"}})).await;
    let r = run(
        &app,
        &id,
        &[
            "python3",
            "-c",
            "import os; print(2 + 2, os.environ['MODE'])",
        ],
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["stdout"].as_str()),
        (Some("succeeded"), Some("4 test\n")),
        "{r}"
    );
    let r = sh(
        &app,
        &id,
        "echo kept > /workspace/a.txt; echo out > /outputs/b.txt; exit 3",
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["exit_code"].as_i64()),
        (Some("failed"), Some(3)),
        "{r}"
    );
    let s = sandbox(&app, &id).await;
    assert_eq!(s["kind"], "container");
    assert_eq!(s["env"], json!(["MODE"]), "values are never shown: {s}");

    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    assert!(a.body["snapshot_bytes"].as_i64().unwrap() > 0, "{}", a.text);
    // The runner records the pause, then removes the container: gone moments later.
    wait_removed(&id, "the container is removed while paused").await;
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"command": ["true"]}),
        )
        .await;
    a.assert_problem(409, "sandbox_not_running");

    let a = app.sandbox_action(&id, "resume").await;
    assert_eq!(a.body["state"], "running", "{}", a.text);
    let r = sh(&app, &id, "cat /workspace/a.txt /outputs/b.txt; echo $MODE").await;
    assert_eq!(r["stdout"], "kept\nout\ntest\n", "{r}");

    delete_sandbox(&app, &id).await;
    let s = wait_sandbox(&app, &id, "terminated", 5).await;
    assert_eq!(s["state_reason"], "user");
    wait_removed(&id, "the container outlived its sandbox").await;
    let reasons: Vec<String> = sandbox(&app, &id).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["state"].as_str().unwrap(),
                e["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "pending:created",
            "running:started",
            "paused:user",
            "pending:resumed",
            "running:resumed",
            "terminated:user"
        ]
    );
}

#[actix_web::test]
async fn a_container_is_isolated_as_seen_from_inside() {
    let app = spawn_app().await;
    let id = running(&app, json!({})).await;
    assert_eq!(runtime_of(&id), expected_runtime().await);
    let probe = r#"
import os, socket
status = open('/proc/self/status').read()
print('uid', os.getuid())
print('caps', [l.split()[1] for l in status.splitlines() if l.startswith('CapEff')][0])
import ctypes
print('nnp', ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))  # PR_GET_NO_NEW_PRIVS
print('ifaces', sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))
try:
    socket.create_connection(('1.1.1.1', 53), timeout=2); print('net yes')
except OSError:
    print('net no')
for d in ['/etc', '/tmp', '/workspace', '/outputs']:
    try:
        open(d + '/probe', 'w').write('x'); print(d, 'writable')
    except OSError:
        print(d, 'read-only')
for f in ['/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/pids.max']:
    if os.path.exists(f):
        print('pids', open(f).read().strip())
print('kernel', open('/proc/version').read().split()[2])
"#;
    let r = run(&app, &id, &["python3", "-c", probe]).await;
    let out = r["stdout"].as_str().unwrap();
    for want in [
        "uid 1000",
        "caps 0000000000000000",
        "nnp 1",
        "ifaces ['lo']",
        "net no",
        "/etc read-only",
        "/tmp writable",
        "/workspace writable",
        "/outputs writable",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}\n{r}");
    }
    if expected_runtime().await == "runsc" {
        // gVisor's own kernel answers, not the host's; the pids limit bounds the sandbox's
        // host threads (guest processes are gVisor's tasks, bounded by memory).
        assert!(out.contains("kernel 4.4.0"), "{out}");
    } else {
        assert!(out.contains("pids 512"), "{out}");
    }
    // A command past its time limit is stopped, and the sandbox goes on.
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"command": ["sleep", "30"], "timeout_ms": 500}),
        )
        .await;
    assert_eq!(a.body["status"], "timeout", "{}", a.text);
    assert!(
        a.body["duration_ms"].as_f64().unwrap() < 5000.0,
        "{}",
        a.text
    );
    assert_eq!(run(&app, &id, &["echo", "ok"]).await["stdout"], "ok\n");
    delete_sandbox(&app, &id).await;

    // Asked for, a network interface besides lo.
    let id = running(&app, json!({"network": true})).await;
    let with_network = match expected_runtime().await.as_str() {
        "runsc" => "runsc-net".to_owned(),
        other => other.to_owned(),
    };
    assert_eq!(runtime_of(&id), with_network);
    let r = run(
        &app,
        &id,
        &[
            "python3",
            "-c",
            "print(len(open('/proc/net/dev').readlines()[2:]))",
        ],
    )
    .await;
    assert_ne!(r["stdout"], "1\n", "{r}");
    delete_sandbox(&app, &id).await;
}

#[actix_web::test]
async fn containers_end_by_timeout_by_exit_or_when_their_image_cannot_be_had() {
    let app = spawn_app().await;
    let id = running(&app, json!({"timeout_s": 2})).await;
    let s = wait_sandbox(&app, &id, "terminated", 10).await;
    assert_eq!(s["state_reason"], "timeout", "{s}");
    let ended = chrono::DateTime::parse_from_rfc3339(s["ended_at"].as_str().unwrap()).unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(s["expires_at"].as_str().unwrap()).unwrap();
    assert!((ended - due).num_milliseconds() < 2000, "{s}");

    let a = create(
        &app,
        json!({"image": "python", "command": ["python3", "-c", "import sys; sys.exit(3)"], "memory": "128Mi"}),
    )
    .await;
    let id = a.body["id"].as_str().unwrap().to_owned();
    let s = wait_sandbox(&app, &id, "failed", 20).await;
    assert_eq!(s["state_reason"], "exited", "{s}");
    assert!(s["state_detail"].as_str().unwrap().contains('3'), "{s}");

    let a = create(&app, json!({"image": "registry.invalid/nobody/nothing:1", "registry": {"username": "u", "password": "hunter2"}})).await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_owned();
    let s = wait_sandbox(&app, &id, "failed", 60).await;
    assert_eq!(s["state_reason"], "image_pull_failed", "{s}");
    assert!(
        !s.to_string().contains("hunter2"),
        "credentials are never echoed: {s}"
    );
    let db = app.pool.get().await.unwrap();
    let row = db
        .query_one(
            "select registry_auth from sandboxes where sandbox_id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap();
    let sealed: Vec<u8> = row.get(0);
    assert!(
        !sealed.windows(7).any(|w| w == b"hunter2"),
        "credentials are stored sealed"
    );

    for (body, status, code) in [
        (json!({"image": "bad image!"}), 422, "invalid_request"),
        (
            json!({"image": "python", "gpu": {"type": "any", "count": 2, "fraction": 0.5}}),
            422,
            "invalid_limit",
        ),
        (
            json!({"image": "python", "idle_timeout_s": 5}),
            422,
            "invalid_request",
        ),
        (
            json!({"image": "python", "memory": "1Ti"}),
            422,
            "invalid_limit",
        ),
    ] {
        create(&app, body).await.assert_problem(status, code);
    }
}

#[actix_web::test]
async fn gpu_shares_are_packed_and_gated_by_kyc() {
    let app = spawn_app_with(|s| s.gpus = Some("1xH100 80GB".into())).await;
    let quarter = json!({"image": "python", "memory": "128Mi", "cpu": 0.25, "gpu": {"type": "H100 80GB", "fraction": 0.25}});
    create(&app, quarter.clone())
        .await
        .assert_problem(403, "kyc_required");

    let user = sbx_store::users::upsert(&app.pool, "gpu@example.com")
        .await
        .unwrap();
    sbx_store::users::set_kyc(&app.pool, "gpu@example.com", "verified")
        .await
        .unwrap();
    let db = app.pool.get().await.unwrap();
    db.execute(
        "update projects set owner_user_id = $1 where project_id = $2",
        &[&user.user_id.0, &app.project_id.0],
    )
    .await
    .unwrap();
    // Keys carry the owner's KYC status as looked up; a new key sees it at once.
    let key = sbx_store::keys::create(&app.pool, app.project_id, "kyc")
        .await
        .unwrap()
        .1;
    let app = TestApp { key, ..app };

    let a = create(&app, quarter.clone()).await;
    assert_eq!(a.body["state"], "running", "{}", a.text);
    let first = a.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        a.body["gpu_allocation"]["cards"],
        json!(["GPU-declared-0"]),
        "{}",
        a.text
    );
    let r = sh(
        &app,
        &first,
        "echo $NVIDIA_VISIBLE_DEVICES $CUDA_MPS_ACTIVE_THREAD_PERCENTAGE",
    )
    .await;
    assert_eq!(r["stdout"], "GPU-declared-0 25\n", "{r}");
    let mut three_quarters = quarter.clone();
    three_quarters["gpu"]["fraction"] = json!(0.75);
    let a = create(&app, three_quarters).await;
    assert_eq!(
        a.body["state"], "running",
        "0.25 + 0.75 share one card: {}",
        a.text
    );
    let gpus = app.get("/v1/gpus").await;
    assert_eq!(gpus.body["models"][0]["free"], 0.0, "{}", gpus.text);
    assert_eq!(gpus.body["cards"][0]["declared"], true);

    // The card is full: the next one waits, saying why, and is placed once room is made.
    let mut body = quarter.clone();
    body["timeout_s"] = json!(120);
    let a = create(&app, body).await;
    let waiting = a.body["id"].as_str().unwrap().to_owned();
    let s = sandbox(&app, &waiting).await;
    assert_eq!(s["state"], "pending", "{s}");
    assert!(
        s["waiting_for"]
            .as_str()
            .unwrap_or_default()
            .contains("GPU"),
        "{s}"
    );
    let a = app
        .post(&format!("/v1/sandboxes/{first}/pause"), &json!({}))
        .await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    let s = wait_sandbox(&app, &waiting, "running", 10).await;
    assert_eq!(s["gpu_allocation"]["quarters"], 1, "{s}");
    // Resuming the paused one waits for a share, then lands where there is one.
    let a = app
        .post(&format!("/v1/sandboxes/{first}/resume"), &json!({}))
        .await;
    assert_eq!(a.body["state"], "pending", "{}", a.text);
    delete_sandbox(&app, &waiting).await;
    wait_sandbox(&app, &first, "running", 10).await;
}

#[actix_web::test]
async fn the_meter_bills_running_and_paused_time_against_the_clock() {
    let app = spawn_app().await;
    let started = Instant::now();
    let id = running(&app, json!({"cpu": 0.5, "memory": "256Mi"})).await;
    let w = sh(&app, &id, "head -c 1048576 /dev/zero > /workspace/f").await;
    assert_eq!(w["status"], "succeeded", "{w}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let a = app.sandbox_action(&id, "pause").await;
    let ran = started.elapsed().as_secs_f64();
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    tokio::time::sleep(Duration::from_secs(2)).await;
    delete_sandbox(&app, &id).await;
    let paused_for = started.elapsed().as_secs_f64() - ran;

    let report = app.get("/v1/usage?group_by=sandbox").await;
    assert_eq!(report.status.as_u16(), 200, "{}", report.text);
    let row = report.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == id.as_str())
        .unwrap_or_else(|| panic!("no row for {id}: {}", report.text))
        .clone();
    let running_s = row["running_seconds"].as_f64().unwrap();
    let paused_s = row["paused_seconds"].as_f64().unwrap();
    assert!(
        (running_s - ran).abs() <= 1.5,
        "ran {ran:.2} s, metered {running_s:.2} s: {row}"
    );
    assert!(
        (paused_s - paused_for).abs() <= 1.0,
        "paused {paused_for:.2} s, metered {paused_s:.2}: {row}"
    );
    assert!(
        (row["cpu_core_seconds"].as_f64().unwrap() - 0.5 * running_s).abs() < 0.01,
        "{row}"
    );
    let prices = sbx_limits::billing::Prices::default();
    let want = running_s * (0.5 * prices.cpu_core_second + 0.25 * prices.memory_gib_second);
    let cost = row["cost_by_resource"]["cpu"].as_f64().unwrap()
        + row["cost_by_resource"]["memory"].as_f64().unwrap();
    assert!(
        (cost - want).abs() < want * 0.01,
        "cost {cost} vs {want}: {row}"
    );
    // Its files (1 MiB) for the time it was paused.
    let want = paused_s / 1024.0;
    let stored = row["storage_gib_seconds"].as_f64().unwrap();
    assert!(
        (stored - want).abs() < want * 0.01,
        "{stored} vs {want}: {row}"
    );

    // Its cost so far, alone: the same figures, and no other sandbox's or the execs'.
    let own = app
        .get(&format!("/v1/usage?group_by=sandbox&sandbox_id={id}"))
        .await;
    assert_eq!(own.status.as_u16(), 200, "{}", own.text);
    let rows = own.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", own.text);
    assert_eq!(rows[0]["key"], id.as_str(), "{}", own.text);
    assert!(
        (rows[0]["cost"].as_f64().unwrap() - row["cost"].as_f64().unwrap()).abs() < 1e-9,
        "{} vs {row}",
        own.text
    );
    assert_eq!(own.body["total_cost"], rows[0]["cost"], "{}", own.text);

    let by_resource = app.get("/v1/usage").await;
    let names: Vec<&str> = by_resource.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"cpu") && names.contains(&"storage"),
        "{}",
        by_resource.text
    );
    app.get("/v1/usage?group_by=week")
        .await
        .assert_problem(400, "bad_request");
}

#[actix_web::test]
async fn metrics_show_cpu_memory_disk_and_cost_step_by_step() {
    let app = spawn_app().await;
    let id = running(&app, json!({})).await;
    // 8 MiB on its disk, then a second and a half of one busy core.
    let r = sh(
        &app,
        &id,
        "head -c 8388608 /dev/zero > /workspace/f && sync && \
         end=$(($(date +%s%N) + 1500000000)); while [ $(date +%s%N) -lt $end ]; do :; done",
    )
    .await;
    assert_eq!(r["exit_code"], 0, "{r}");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let m = app.get(&format!("/v1/sandboxes/{id}/metrics?step=1")).await;
    assert_eq!(m.status.as_u16(), 200, "{}", m.text);
    assert_eq!(m.body["step_seconds"], 1, "{}", m.text);
    let points = m.body["points"].as_array().unwrap();
    assert!(points.len() >= 2, "{}", m.text);
    let most = |k: &str| {
        points
            .iter()
            .filter_map(|p| p[k].as_f64())
            .fold(0.0_f64, f64::max)
    };
    // The sandbox has half a core: busy, it uses about that much.
    assert!(most("cpu_cores") > 0.25, "{}", m.text);
    assert!(most("memory_bytes") > 0.0, "{}", m.text);
    assert!(most("disk_bytes") >= 8.0 * 1048576.0, "{}", m.text);
    assert!(
        points.iter().all(|p| p.get("network_rx_bytes").is_some()),
        "{}",
        m.text
    );
    let series_cost: f64 = points.iter().map(|p| p["cost_usd"].as_f64().unwrap()).sum();
    let so_far = m.body["cost_so_far_usd"].as_f64().unwrap();
    assert!(
        series_cost > 0.0 && so_far >= series_cost * 0.999,
        "{}",
        m.text
    );

    // Too fine a step over a long range is raised to give at most 2000 points; a step of 0
    // and a range that does not run forward are refused.
    let r = app
        .get(&format!(
            "/v1/sandboxes/{id}/metrics?from=2026-01-01T00:00:00Z&step=1"
        ))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let step = r.body["step_seconds"].as_i64().unwrap();
    let since: chrono::DateTime<chrono::Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let span = (chrono::Utc::now() - since).num_seconds();
    // The smallest step giving at most 2000 points (the clock moved on a little since).
    assert!(
        (step - (span + 1999) / 2000).abs() <= 1,
        "{step} s over {span} s"
    );
    app.get(&format!(
        "/v1/sandboxes/{id}/metrics?from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z"
    ))
    .await
    .assert_problem(400, "bad_request");
    app.get(&format!("/v1/sandboxes/{id}/metrics?step=0"))
        .await
        .assert_problem(400, "bad_request");
    let other = app.other_project_key().await;
    app.get_with_key(&format!("/v1/sandboxes/{id}/metrics"), Some(&other))
        .await
        .assert_problem(404, "not_found");
    delete_sandbox(&app, &id).await;
}

#[actix_web::test]
async fn concurrent_creates_all_run_and_a_later_pause_still_works() {
    let app = spawn_app().await;
    let made = futures_util::future::join_all((0..8).map(|_| {
        create(
            &app,
            json!({"image": "python", "cpu": 0.1, "memory": "64Mi"}),
        )
    }))
    .await;
    for a in &made {
        assert_eq!(a.body["state"], "running", "{}", a.text);
    }
    for a in &made {
        delete_sandbox(&app, a.body["id"].as_str().unwrap()).await;
    }
    let id = running(&app, json!({})).await;
    sh(
        &app,
        &id,
        "head -c 1048576 /dev/urandom > /workspace/data.bin",
    )
    .await;
    for _ in 0..3 {
        let a = app.sandbox_action(&id, "pause").await;
        assert_eq!(a.body["state"], "paused", "{}", a.text);
        let a = app.sandbox_action(&id, "resume").await;
        assert_eq!(a.body["state"], "running", "{}", a.text);
    }
    let r = sh(&app, &id, "wc -c < /workspace/data.bin").await;
    assert_eq!(r["stdout"], "1048576\n", "{r}");
    // Its events: back through `pending` after each pause, and `resumed` once running again.
    let db = app.pool.get().await.unwrap();
    let types: Vec<String> = db
        .query(
            "select type from sandbox_events where sandbox_id = $1::text::uuid order by event_id",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut want = vec!["sandbox.pending", "sandbox.running"];
    for _ in 0..3 {
        want.extend(["sandbox.paused", "sandbox.pending", "sandbox.resumed"]);
    }
    assert_eq!(types, want);
}

#[actix_web::test]
async fn a_container_job_runs_to_completion_with_its_logs_artifacts_and_metrics() {
    let app = spawn_app().await;
    let script = "import json, sys\nprint('epoch 1', flush=True)\nprint('warn', file=sys.stderr)\nopen('/outputs/model.txt', 'w').write('weights')\njson.dump({'accuracy': 0.9}, open('/outputs/metrics.json', 'w'))";
    let a = app
        .post(
            "/v1/jobs",
            &json!({"kind": "container", "image": "python", "memory": "128Mi", "cpu": 0.5,
                    "command": ["python3", "-c", script], "env": {"SEED": "7"}}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 202, "{}", a.text);
    assert_eq!(a.body["kind"], "container", "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_owned();
    let job = common::wait_job(&app, &id, common::ended).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["exit_code"], 0);
    assert_eq!(job["result"]["metrics"]["accuracy"], 0.9, "{job}");
    assert_eq!(job["request"]["env"], json!(["SEED"]), "{job}");
    let paths: Vec<&str> = job["result"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["metrics.json", "model.txt"], "{job}");
    let art = app.get(&format!("/v1/jobs/{id}/artifacts/model.txt")).await;
    assert_eq!(art.text, "weights");
    app.get(&format!("/v1/jobs/{id}/artifacts/nope.bin"))
        .await
        .assert_problem(404, "not_found");
    let logs = app.get(&format!("/v1/jobs/{id}/logs")).await;
    common::assert_contains(
        &logs.text,
        &[
            "event: stdout\ndata: \"epoch 1",
            "event: stderr\ndata: \"warn",
            "event: status",
        ],
    );

    // A failing command, one past its timeout, and one cancelled.
    let post = |body: Value| {
        let app = &app;
        async move {
            let a = app.post("/v1/jobs", &body).await;
            assert_eq!(a.status.as_u16(), 202, "{}", a.text);
            a.body["id"].as_str().unwrap().to_owned()
        }
    };
    let failing = post(
        json!({"kind": "container", "image": "python", "memory": "64Mi",
        "command": ["sh", "-c", "exit 2"]}),
    )
    .await;
    let slow = post(
        json!({"kind": "container", "image": "python", "memory": "64Mi",
        "command": ["sleep", "60"], "timeout_s": 2}),
    )
    .await;
    let cancelled = post(
        json!({"kind": "container", "image": "python", "memory": "64Mi",
        "command": ["sleep", "60"]}),
    )
    .await;
    common::wait_job(&app, &cancelled, |j| j["status"] == "running").await;
    let a = app
        .post(&format!("/v1/jobs/{cancelled}/cancel"), &json!({}))
        .await;
    assert_eq!(a.status.as_u16(), 202, "{}", a.text);
    for (id, want) in [
        (failing, "failed"),
        (slow, "timeout"),
        (cancelled, "cancelled"),
    ] {
        let job = common::wait_job(&app, &id, common::ended).await;
        assert_eq!(job["status"], want, "{job}");
    }
    for (body, code) in [
        (
            json!({"kind": "container", "image": "python"}),
            "invalid_request",
        ),
        (
            json!({"kind": "container", "image": "code-interpreter", "command": ["x"]}),
            "invalid_request",
        ),
        (json!({"kind": "vm", "image": "python"}), "invalid_request"),
    ] {
        app.post("/v1/jobs", &body).await.assert_problem(422, code);
    }
}

#[actix_web::test]
async fn an_api_without_docker_reaches_sandboxes_on_another_runner_through_the_database() {
    // The API process runs no runner and never talks to Docker; a separate `sbx runner`
    // process, as on another host, places the sandbox and runs what is asked of it.
    let (app, db) = spawn_api_only().await;
    let mut runner = start_runner(&db, 5);
    let a = create(
        &app,
        json!({"image": "python", "memory": "64Mi",
               "command": ["sh", "-c", "echo started; echo warned >&2; exec sleep infinity"]}),
    )
    .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_owned();
    wait_sandbox(&app, &id, "running", 60).await;
    // Labelled with its deployment's database, which scripts/test goes by.
    let label = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{index .Config.Labels \"sbx.database\"}}"])
        .arg(format!("sbx-{}", id.replace('-', "")))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&label.stdout).trim(),
        db.rsplit('/').next().unwrap()
    );

    let r = sh(&app, &id, "echo kept > /workspace/f; cat /workspace/f").await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["stdout"], "kept\n", "{r}");
    let r = sh(&app, &id, "echo no >&2; exit 3").await;
    assert_eq!(
        (r["status"].as_str(), r["exit_code"].as_i64()),
        (Some("failed"), Some(3)),
        "{r}"
    );
    assert_eq!(r["stderr"], "no\n", "{r}");

    // Paused and resumed by the other runner: files kept, the log goes on.
    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    let a = app.sandbox_action(&id, "resume").await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    wait_sandbox(&app, &id, "running", 60).await;
    let r = run(&app, &id, &["cat", "/workspace/f"]).await;
    assert_eq!(r["stdout"], "kept\n", "{r}");

    // The log outlives the containers: read whole once the sandbox is deleted.
    tokio::time::sleep(Duration::from_millis(600)).await;
    delete_sandbox(&app, &id).await;
    let logs = app.get(&format!("/v1/sandboxes/{id}/logs")).await;
    assert_eq!(logs.status.as_u16(), 200, "{}", logs.text);
    let all = common::sse_events(&logs.text);
    let said = |what: &str| {
        all.iter()
            .filter(|e| e.text() == format!("{what}\n"))
            .count()
    };
    assert_eq!(said("started"), 2, "one per placement: {}", logs.text);
    assert_eq!(said("warned"), 2, "{}", logs.text);
    assert!(
        all.iter()
            .any(|e| e.event == "stderr" && e.text() == "warned\n"),
        "{}",
        logs.text
    );
    let end = all.last().unwrap();
    assert_eq!(end.event, "end", "{}", logs.text);
    assert_eq!(end.data["state"], "terminated", "{}", logs.text);
    // A reader that reconnects gets what follows the last event it had.
    let first = all[0].id.clone();
    let again = app
        .request(Method::GET, &format!("/v1/sandboxes/{id}/logs"))
        .insert_header(("last-event-id", first.as_str()))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let rest = common::sse_events(std::str::from_utf8(&again).unwrap());
    assert_eq!(rest[..], all[1..]);
    // One that had the end is told there is no more (204 stops an EventSource).
    let done = app
        .request(Method::GET, &format!("/v1/sandboxes/{id}/logs"))
        .insert_header(("last-event-id", "end"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 204);

    runner.kill().unwrap();
    runner.wait().unwrap();
}

/// A folder of its own for a runner: a host of its own, as far as paused sandboxes go.
fn host_dir() -> String {
    let dir = std::env::temp_dir().join(format!("sbx-host-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}

#[actix_web::test]
async fn a_paused_sandbox_resumes_on_its_host_after_a_restart_and_elsewhere_from_its_copy() {
    let (app, db) = spawn_api_only().await;
    let (dir_a, dir_b) = (host_dir(), host_dir());
    let mut a = start_runner_with(&db, 5, &[("SBX_SANDBOXES_DIR", dir_a.clone())]);
    let id = running(&app, json!({})).await;
    // 24 MiB that do not compress, nested folders (one empty), modes, and an output.
    let write = "set -e; mkdir -p /workspace/ckpt/deep /workspace/empty; \
        head -c 25165824 /dev/urandom > /workspace/ckpt/deep/model.bin; \
        printf 'run' > /workspace/run.sh; chmod 750 /workspace/run.sh; \
        echo '{\"loss\": 0.5}' > /outputs/metrics.json";
    assert_eq!(sh(&app, &id, write).await["status"], "succeeded");
    let listing = "cd /workspace && find . /outputs | sort && \
        python3 -c \"import os; print('run.sh', oct(os.stat('run.sh').st_mode & 0o777)[2:])\" && \
        sha256sum ckpt/deep/model.bin /outputs/metrics.json";
    let before = sh(&app, &id, listing).await;
    assert_eq!(before["status"], "succeeded", "{before}");
    let pause = || async {
        let p = app.sandbox_action(&id, "pause").await;
        assert_eq!(p.body["state"], "paused", "{}", p.text);
        assert!(
            p.body["snapshot_bytes"].as_i64().unwrap() > 24 << 20,
            "{}",
            p.text
        );
    };

    // Paused, and its runner killed before any copy: a runner restarted on the same host
    // (the same folder) finds the folders and resumes it from them.
    pause().await;
    a.kill().unwrap();
    a.wait().unwrap();
    let mut a = start_runner_with(&db, 5, &[("SBX_SANDBOXES_DIR", dir_a.clone())]);
    let r = app.sandbox_action(&id, "resume").await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    wait_sandbox(&app, &id, "running", 60).await;
    let again = sh(&app, &id, listing).await;
    assert_eq!(
        again["stdout"], before["stdout"],
        "the same files after a restart"
    );

    // Paused again: its folders stay on host A, and are copied into the database in the
    // background.
    pause().await;
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = app
            .pool
            .get()
            .await
            .unwrap()
            .query_one(
                "select snapshot_stored = snapshot_gen from sandboxes where sandbox_id = $1",
                &[&uuid],
            )
            .await
            .unwrap();
        if row.get::<_, Option<bool>>(0) == Some(true) {
            break;
        }
        assert!(Instant::now() < deadline, "the copy was never completed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        std::path::Path::new(&dir_a)
            .join("paused")
            .join(uuid.simple().to_string())
            .exists(),
        "kept on host A"
    );
    // Host A is lost; host B resumes the sandbox from the copy.
    a.kill().unwrap();
    a.wait().unwrap();
    let mut b = start_runner_with(&db, 5, &[("SBX_SANDBOXES_DIR", dir_b.clone())]);
    let r = app.sandbox_action(&id, "resume").await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let s = wait_sandbox(&app, &id, "running", 60).await;
    assert_eq!(s["state_reason"], "resumed", "{s}");
    let after = sh(&app, &id, listing).await;
    assert_eq!(
        after["stdout"], before["stdout"],
        "the same files, folders and modes"
    );

    // Deleted: the copy goes with it.
    delete_sandbox(&app, &id).await;
    let chunks: i64 = app
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "select count(*) from sandbox_snapshot_chunks where sandbox_id = $1",
            &[&uuid],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(chunks, 0);
    b.kill().unwrap();
    b.wait().unwrap();
    for d in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[actix_web::test]
async fn a_sandbox_streams_its_output_and_the_catalog_is_listed() {
    let app = spawn_app().await;
    let a = create(
        &app,
        json!({"image": "python", "memory": "64Mi",
               "command": ["sh", "-c", "echo hello; echo oops >&2; sleep 2"]}),
    )
    .await;
    assert_eq!(a.body["state"], "running", "{}", a.text);
    let id = a.body["id"].as_str().unwrap();
    let logs = app.get(&format!("/v1/sandboxes/{id}/logs")).await;
    assert_eq!(
        logs.header("content-type"),
        Some("text/event-stream"),
        "{}",
        logs.text
    );
    common::assert_contains(
        &logs.text,
        &[
            "event: stdout\ndata: \"hello",
            "event: stderr\ndata: \"oops",
            "event: end",
        ],
    );
    let s = wait_sandbox(&app, id, "terminated", 10).await;
    assert_eq!(s["state_reason"], "exited", "{s}");

    let images = app.get("/v1/images").await;
    let names: Vec<&str> = images.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["code-interpreter", "python", "pytorch", "vllm"],
        "{}",
        images.text
    );
    assert_eq!(
        images.body["container_runtimes"],
        json!([expected_runtime().await]),
        "{}",
        images.text
    );
}

/// A container job's and a container sandbox's log streams give back exactly what the
/// program wrote, as the job's result does (Docker cuts a long line into 16 KiB frames).
#[actix_web::test]
async fn container_log_streams_give_back_exactly_what_was_written() {
    let app = spawn_app().await;
    let command = json!(["python3", "-c", common::TRICKY_OUTPUT_PY]);
    let written = common::tricky_output();
    let streamed = |path: String| {
        let app = &app;
        async move {
            let mut res = app.request(Method::GET, &path).send().await.unwrap();
            let body = res.body().limit(16 << 20).await.unwrap();
            common::sse_events(std::str::from_utf8(&body).unwrap())
        }
    };

    let a = app
        .post(
            "/v1/jobs",
            &json!({"kind": "container", "image": "python", "memory": "128Mi",
                    "command": command}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 202, "{}", a.text);
    let job = a.body["id"].as_str().unwrap().to_owned();
    let events = streamed(format!("/v1/jobs/{job}/logs")).await;
    common::assert_same_output(&events, &written);
    assert_eq!(common::sse_output(&events, "stderr"), common::TRICKY_STDERR);
    let end = events.last().unwrap();
    assert_eq!(
        end.data["status"], "succeeded",
        "{:?}",
        end.data["result"]["stderr"]
    );

    let a = create(
        &app,
        json!({"image": "python", "memory": "128Mi", "command": command}),
    )
    .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let id = a.body["id"].as_str().unwrap();
    let events = streamed(format!("/v1/sandboxes/{id}/logs")).await;
    common::assert_same_output(&events, &written);
    assert_eq!(common::sse_output(&events, "stderr"), common::TRICKY_STDERR);
    assert_eq!(events.last().unwrap().data["reason"], "exited");
}

/// A container's disk cap holds from inside: `df` shows it, a writer stops at it with ENOSPC,
/// `/workspace` and `/outputs` share it, files are capped too, a paused and resumed sandbox
/// keeps its files and its cap, a job that fails on a full disk ends `disk_limit`, and a cap
/// that does not fit the host's free disk waits, saying so.
#[actix_web::test]
async fn a_containers_disk_cap_holds_from_inside() {
    let app = spawn_app().await;
    let id = running(&app, json!({"disk": "16Mi"})).await;
    assert_eq!(common::sandbox(&app, &id).await["disk_bytes"], 16 << 20);
    let df = sh(&app, &id, "df -k /workspace | tail -1 | awk '{print $2}'").await;
    let size_kib: u64 = df["stdout"].as_str().unwrap().trim().parse().unwrap();
    assert!((16 << 10..(16 << 10) + 2048).contains(&size_kib), "{df}");
    let r = sh(
        &app,
        &id,
        "dd if=/dev/zero of=/workspace/a bs=1M count=10 2>/dev/null; \
         dd if=/dev/zero of=/outputs/b bs=64k count=400 2>&1 | grep -c 'No space left'; \
         du -k -s /workspace/a /outputs/b | awk '{s += $1} END {print s}'",
    )
    .await;
    let out = r["stdout"].as_str().unwrap();
    let (enospc, written_kib) = out.trim().split_once('\n').unwrap();
    assert_eq!(enospc, "1", "{r}");
    let written_kib: u64 = written_kib.parse().unwrap();
    assert!(
        (15 << 10..=(16 << 10) + 1024).contains(&written_kib),
        "{written_kib} KiB written under a 16 MiB cap: {r}"
    );
    let files = sh(
        &app,
        &id,
        // A redirection of the shell's own, not `touch`: a process per file takes over 20 s
        // under gVisor on a loaded host.
        "rm -f /outputs/b; i=0; while true 2>/dev/null >/workspace/f$i; do i=$((i+1)); done; \
         echo $i",
    )
    .await;
    let made: u64 = files["stdout"]
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|_| {
            panic!("no count of files: {files}");
        });
    assert!(
        (1000..=1100).contains(&made),
        "{made} files under a cap of 1024: {files}"
    );

    // Kept through a pause, with its cap.
    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    let a = app.sandbox_action(&id, "resume").await;
    assert_eq!(a.body["state"], "running", "{}", a.text);
    let r = sh(
        &app,
        &id,
        "find /workspace -maxdepth 1 -type f | wc -l; du -k -s /workspace/a | awk '{print $1}'",
    )
    .await;
    assert_eq!(r["stdout"], format!("{}\n10240\n", made + 1), "{r}");
    let df = sh(&app, &id, "df -k /outputs | tail -1 | awk '{print $2}'").await;
    assert_eq!(df["stdout"].as_str().unwrap().trim(), size_kib.to_string());
    common::delete_sandbox(&app, &id).await;

    // A job that fails on a full disk ends disk_limit; one that copes does not.
    let a = app
        .post(
            "/v1/jobs",
            &json!({"kind": "container", "image": "python", "memory": "64Mi", "disk": "8Mi",
                    "command": ["sh", "-c", "dd if=/dev/zero of=/outputs/x bs=1M count=20"]}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 202, "{}", a.text);
    let job = common::wait_job(&app, a.body["id"].as_str().unwrap(), common::ended).await;
    assert_eq!(job["status"], "disk_limit", "{job}");
    assert!(
        job["result"]["message"]
            .as_str()
            .unwrap()
            .contains("disk cap of 8 MiB"),
        "{job}"
    );

    // Bad caps are refused, naming the field; a cap larger than the host's free disk waits.
    for bad in ["0", "-5Mi", "11Gi", "much"] {
        let a = create(&app, json!({"image": "python", "disk": bad})).await;
        a.assert_problem(422, "invalid_limit");
        assert!(a.text.contains("disk"), "{}", a.text);
    }
    let huge = sbx_limits::ProjectLimits {
        max_disk_mb: 1 << 40,
        ..Default::default()
    };
    sbx_store::projects::set_limits(&app.pool, app.project_id, &huge)
        .await
        .unwrap();
    let a = create(
        &app,
        json!({"image": "python", "disk": "1000Ti", "timeout_s": 60}),
    )
    .await;
    let waiting = a.body["id"].as_str().unwrap().to_owned();
    let s = common::sandbox(&app, &waiting).await;
    assert_eq!(s["state"], "pending", "{s}");
    assert!(
        s["waiting_for"]
            .as_str()
            .unwrap_or_default()
            .contains("waiting for disk"),
        "{s}"
    );
    common::delete_sandbox(&app, &waiting).await;
}
