//! `sessions`: code-interpreter sandboxes: call latency against a fresh exec, pause and
//! resume, memory per idle and paused session, many sessions open.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::server::*;

pub(crate) async fn sessions(
    calls: usize,
    cycles: usize,
    idle: usize,
    open: usize,
) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "1000000"),
        ("SBX_RATE_BURST", "1000000"),
    ])
    .await?;
    let client = client();
    let pid = server.child.id();

    // Call latency: one client, one session, `x + 1`; against a fresh exec of `print(1+1)`.
    let id = new_session(&client, &server).await?;
    let exec_path = format!("/v1/sandboxes/{id}/exec");
    call(&client, &server, &exec_path, &json!({"code": "x = 1"})).await;
    let mut session_ms = Vec::new();
    let mut fresh_ms = Vec::new();
    let mut errors = 0;
    for i in 0..calls + 50 {
        let (s1, v, ms1) = call(&client, &server, &exec_path, &json!({"code": "x + 1"})).await;
        let (s2, _, ms2) = call(
            &client,
            &server,
            "/v1/exec",
            &json!({"language": "python", "code": "print(1+1)"}),
        )
        .await;
        if s1 != 200 || v["result"] != "2" || s2 != 200 {
            errors += 1;
        }
        if i >= 50 {
            session_ms.push(ms1);
            fresh_ms.push(ms2);
        }
    }
    println!("\nCode-interpreter sessions over HTTP, one client ({errors} errors)\n");
    println!("| what | n | p50 ms | p95 ms | p99 ms | note |");
    println!("|---|---:|---:|---:|---:|---|");
    row(
        "session call `x + 1`",
        &mut session_ms,
        "same session, state kept",
    );
    row(
        "fresh exec `print(1+1)` (baseline)",
        &mut fresh_ms,
        "`POST /v1/exec`, same run",
    );

    // Pause and resume of a session that has imported pandas and holds a frame.
    let id = new_session(&client, &server).await?;
    let path = |what: &str| format!("/v1/sandboxes/{id}/{what}");
    let (s, v, _) = call(
        &client,
        &server,
        &path("exec"),
        &json!({"code": "import pandas as pd, numpy as np\ndf = pd.DataFrame({'a': np.arange(10000), 'b': np.random.rand(10000)})\nn = 0"}),
    )
    .await;
    if s != 200 || v["status"] != "succeeded" {
        bail!("preparing the pandas session: {v}");
    }
    let (mut pause_ms, mut resume_ms, mut first_call_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut snapshot_bytes = Vec::new();
    for _ in 0..cycles {
        call(&client, &server, &path("exec"), &json!({"code": "n += 1"})).await;
        let (s1, v, ms) = call(&client, &server, &path("pause"), &json!({})).await;
        pause_ms.push(ms);
        snapshot_bytes.push(v["snapshot_bytes"].as_f64().unwrap_or(f64::NAN));
        let (s2, _, ms) = call(&client, &server, &path("resume"), &json!({})).await;
        resume_ms.push(ms);
        let sum = json!({"code": "int(df.a.sum()) + n"});
        let (s3, v, ms) = call(&client, &server, &path("exec"), &sum).await;
        first_call_ms.push(ms);
        if s1 != 200 || s2 != 200 || s3 != 200 || v["status"] != "succeeded" {
            bail!("a pause/resume cycle failed: {s1} {s2} {s3} {v}");
        }
    }
    row(
        "pause (pandas session, `POST …/pause`)",
        &mut pause_ms,
        "snapshot written to PostgreSQL",
    );
    row(
        "resume (`POST …/resume`)",
        &mut resume_ms,
        "snapshot read and restored",
    );
    row(
        "first call after resume",
        &mut first_call_ms,
        "`int(df.a.sum()) + n`",
    );
    snapshot_bytes.sort_by(f64::total_cmp);
    println!(
        "\nSnapshot of that session: {:.2} MiB (median of {cycles}).",
        percentile(&snapshot_bytes, 0.5) / 1048576.0
    );

    // Memory: the server's resident memory (PSS) with `idle` more sessions live, then paused.
    let before = process_pss(pid);
    let mut ids = Vec::new();
    for _ in 0..idle {
        let id = new_session(&client, &server).await?;
        call(
            &client,
            &server,
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"code": "import pandas as pd\ndf = pd.DataFrame({'a': range(100)})\nx = 1"}),
        )
        .await;
        ids.push(id);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let live = process_pss(pid);
    for id in &ids {
        action(&client, &server, id, "pause").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paused = process_pss(pid);
    let snap: i64 = server
        .pool
        .get()
        .await?
        .query_one(
            "select coalesce(sum(length(data)), 0)::bigint from sandbox_snapshots",
            &[],
        )
        .await?
        .get(0);
    println!("\n| memory | per session |\n|---|---:|");
    println!(
        "| resident, idle live session (pandas imported, a frame) | {:.1} MiB |",
        (live.saturating_sub(before)) as f64 / idle as f64 / 1048576.0
    );
    println!(
        "| resident, paused session | {:.2} MiB |",
        (paused.saturating_sub(before)) as f64 / idle as f64 / 1048576.0
    );
    println!(
        "| paused session's snapshot in PostgreSQL | {:.2} MiB |",
        snap as f64 / (idle + 1) as f64 / 1048576.0
    );

    // Capacity: `open` sessions, each with its own state, 8 clients at once; the idle ones are
    // paused as the live cap is reached and resumed when called again.
    let started = Instant::now();
    let made = std::sync::Mutex::new(Vec::new());
    let failures = std::sync::atomic::AtomicUsize::new(0);
    let workers = (0..8).map(|w| {
        let (client, server, made, failures) = (&client, &server, &made, &failures);
        async move {
            for n in (w..open).step_by(8) {
                match new_session(client, server).await {
                    Ok(id) => {
                        let (s, v, _) = call(
                            client,
                            server,
                            &format!("/v1/sandboxes/{id}/exec"),
                            &json!({"code": format!("v = {n}")}),
                        )
                        .await;
                        if s != 200 || v["status"] != "succeeded" {
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        made.lock().unwrap().push((n, id));
                    }
                    Err(_) => {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
    });
    futures_util::future::join_all(workers).await;
    let opened = started.elapsed();
    let peak = process_pss(pid);
    let made = made.into_inner().unwrap();
    let mut wrong = 0;
    for (n, id) in made.iter().step_by((made.len() / 100).max(1)) {
        let (s, v, _) = call(
            &client,
            &server,
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"code": "v"}),
        )
        .await;
        if s != 200 || v["result"].as_str() != Some(n.to_string().as_str()) {
            wrong += 1;
        }
    }
    let states = counts(
        &server.pool,
        "select state, count(*) from sandboxes group by 1 order by 1",
    )
    .await?;
    println!(
        "\n{} sessions opened and called by 8 clients in {:.1} s: {} errors; 100 sampled afterwards, {wrong} wrong; server PSS {:.0} MiB at the end; states: {states}.",
        made.len(),
        opened.as_secs_f64(),
        failures.into_inner(),
        peak as f64 / 1048576.0
    );
    server.stop().await
}
