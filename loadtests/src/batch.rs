//! `batch`: one batch of Python items end to end, against the backend's own rate, alone and
//! with tool calls beside it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::server::*;

pub(crate) async fn batch(items: usize) -> anyhow::Result<()> {
    let item_code = |i: usize| format!("print({i} * 2)");
    // The backend's own rate on this machine, in this run: the batch's ceiling.
    let baseline = {
        let url = std::env::var("SBX_DATABASE_URL")?;
        let mut settings = sbx::Settings::with_database(url);
        if let Some(d) = std::env::var_os("SBX_DATA_DIR") {
            settings.data_dir = PathBuf::from(d);
        }
        let backend = Arc::new(sbx::app::wasm_backend(&settings)?);
        let in_flight = 2 * settings.wasm_threads();
        let deadline = Instant::now() + Duration::from_secs(5);
        let started = Instant::now();
        let tasks = (0..in_flight).map(|w| {
            let backend = backend.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let spec = sbx_core::exec::ExecSpec::python(item_code(w));
                    use sbx_core::Backend as _;
                    backend
                        .run(spec, Default::default(), Default::default())
                        .await
                        .expect("an in-process exec");
                    done += 1;
                }
                done
            })
        });
        let mut done = 0;
        for t in tasks {
            done += t.await?;
        }
        done as f64 / started.elapsed().as_secs_f64()
    };

    // The agent's calls go back to back, faster than the default rate limit allows: this
    // scenario measures how the batch slows them, not the limiter.
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "1000000"),
        ("SBX_RATE_BURST", "1000000"),
    ])
    .await?;
    // Another project's tool calls: their latency idle, then while the batch runs.
    let other = sbx_store::projects::create(&server.pool, "interactive", None)
        .await?
        .project_id;
    let (_, other_key) = sbx_store::keys::create(&server.pool, other, "interactive").await?;
    let tool_call = {
        let (client, url) = (client(), format!("{}/v1/exec", server.base));
        move || {
            let (client, url, key) = (client.clone(), url.clone(), other_key.clone());
            async move {
                let t = Instant::now();
                let mut r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .send_json(&json!({"language": "python", "code": "print(1+1)"}))
                    .await
                    .map_err(|e| anyhow::anyhow!("POST /v1/exec: {e}"))?;
                let body = r.body().await.unwrap_or_default();
                let total = t.elapsed().as_secs_f64() * 1e3;
                anyhow::ensure!(r.status().is_success(), "POST /v1/exec: {}", r.status());
                // The exec as the server timed it: what is left is the way there and back.
                let exec: Value = serde_json::from_slice(&body)?;
                anyhow::Ok((total, exec["duration_ms"].as_f64().unwrap_or(f64::NAN)))
            }
        }
    };
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(tool_call().await?);
    }
    println!(
        "\nOne batch of {items} items (`print(i * 2)`, expected output checked): alone, then with"
    );
    println!("another project's tool calls running back to back\n");
    println!(
        "| run | items | accepted in | done in | items/s | in-process execs/s | ratio | counts | result rows | distinct ids |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    let mut busy = Vec::new();
    for (run, calls) in [("alone", false), ("with tool calls", true)] {
        let body = json!({"items": (0..items).map(|i| json!({
            "id": i.to_string(), "code": item_code(i), "expected_stdout": (i * 2).to_string(),
        })).collect::<Vec<_>>()});
        let client = client();
        let started = Instant::now();
        let mut r = client
            .post(format!("{}/v1/batches", server.base))
            .bearer_auth(&server.key)
            .send_json(&body)
            .await
            .map_err(|e| anyhow::anyhow!("POST /v1/batches: {e}"))?;
        let created: Value = r.json().limit(16 << 20).await?;
        let accepted = started.elapsed();
        let id = created["id"]
            .as_str()
            .with_context(|| format!("{created}"))?
            .to_owned();
        let summary = loop {
            let mut r = client
                .get(format!("{}/v1/batches/{id}", server.base))
                .bearer_auth(&server.key)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GET the batch: {e}"))?;
            let b: Value = r.json().await?;
            if b["status"] != "running" {
                break b;
            }
            let until = Instant::now() + Duration::from_millis(100);
            if calls {
                // One tool call of the other project at a time, as an agent makes them.
                while Instant::now() < until {
                    busy.push(tool_call().await?);
                }
            } else {
                tokio::time::sleep_until(until.into()).await;
            }
        };
        let wall = started.elapsed();
        let mut r = client
            .get(format!("{}/v1/batches/{id}/results", server.base))
            .bearer_auth(&server.key)
            .insert_header(("accept", "application/x-ndjson"))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET the results: {e}"))?;
        let lines = r.body().limit(256 << 20).await?;
        let mut ids = std::collections::HashSet::new();
        let mut rows = 0;
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line)?;
            ids.insert(v["id"].as_str().unwrap_or_default().to_owned());
            rows += 1;
        }
        let rate = items as f64 / wall.as_secs_f64();
        println!(
            "| {run} | {items} | {:.2} s | {:.2} s | {rate:.0} | {baseline:.0} | {:.2} | {} | {rows} | {} |",
            accepted.as_secs_f64(),
            wall.as_secs_f64(),
            rate / baseline,
            summary["counts"],
            ids.len()
        );
    }
    let split = |calls: &[(f64, f64)]| {
        let (mut total, mut exec): (Vec<f64>, Vec<f64>) = calls.iter().copied().unzip();
        total.sort_by(f64::total_cmp);
        exec.sort_by(f64::total_cmp);
        (total, exec)
    };
    let (idle, idle_exec) = split(&idle);
    let (busy, busy_exec) = split(&busy);
    println!("\nAnother project's `POST /v1/exec` of `print(1+1)`, one at a time\n");
    println!(
        "| when | calls | p50 ms | p95 ms | p99 ms | p50 vs idle | exec p50 ms (server's duration_ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (when, ms, exec) in [
        ("idle", &idle, &idle_exec),
        ("during the batch", &busy, &busy_exec),
    ] {
        println!(
            "| {when} | {} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2} |",
            ms.len(),
            percentile(ms, 0.5),
            percentile(ms, 0.95),
            percentile(ms, 0.99),
            percentile(ms, 0.5) / percentile(&idle, 0.5),
            percentile(exec, 0.5),
        );
    }
    server.stop().await
}
