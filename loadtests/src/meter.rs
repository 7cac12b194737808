//! `meter`: container sandboxes metered over a long run; each one's metered seconds against
//! the states its events recorded.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::server::*;

pub(crate) async fn meter(sandboxes: usize, secs: u64) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_CONTAINER_CPUS", "1000"),
        ("SBX_CONTAINER_MEMORY_MB", "1000000"),
    ])
    .await?;
    let client = client();
    let mut ids = Vec::new();
    for i in 0..sandboxes {
        // Half sit idle, half keep a light load (a short burst of work every second).
        let command = if i % 2 == 0 {
            json!(["sleep", "infinity"])
        } else {
            json!([
                "sh",
                "-c",
                "while :; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; sleep 1; done"
            ])
        };
        let (status, v, _) = call(
            &client,
            &server,
            "/v1/sandboxes",
            &json!({"image": "python", "cpu": 0.25, "memory": "128Mi", "command": command,
                    "timeout_s": secs + 600}),
        )
        .await;
        if status != 201 || v["state"] != "running" {
            bail!("creating sandbox {i}: {status} {v}");
        }
        ids.push(v["id"].as_str().context("an id")?.to_owned());
    }
    let started = Instant::now();
    println!(
        "{} sandboxes running; metering them for {secs} s",
        ids.len()
    );
    let pause_at = Duration::from_secs(secs - secs / 10);
    tokio::time::sleep(pause_at).await;
    for id in ids.iter().step_by(2) {
        let (status, v, _) = action(&client, &server, id, "pause").await;
        if status != 200 {
            bail!("pausing {id}: {status} {v}");
        }
    }
    tokio::time::sleep(Duration::from_secs(secs).saturating_sub(started.elapsed())).await;
    for id in &ids {
        delete_sandbox(&client, &server, id).await;
    }
    // Let the last samples land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let db = server.pool.get().await?;
    println!(
        "\n| sandbox | running by its events s | metered running s | error s | error s per hour | paused by events s | metered paused s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut worst = 0f64;
    for id in &ids {
        // The states' stretches as the database recorded them (its clock, at each change).
        let row = db
            .query_one(
                "with ev as (
                     select state, extract(epoch from lead(at) over (order by event_id) - at)::float8 as s
                     from sandbox_events where sandbox_id = $1::text::uuid)
                 select coalesce(sum(s) filter (where state = 'running'), 0),
                        coalesce(sum(s) filter (where state = 'paused'), 0)
                 from ev",
                &[&id.as_str()],
            )
            .await?;
        let (ran, paused): (f64, f64) = (row.get(0), row.get(1));
        let metered: f64 = db
            .query_one(
                "select coalesce(sum(seconds), 0) from usage_samples where sandbox_id = $1::text::uuid and state = 'running'",
                &[&id.as_str()],
            )
            .await?
            .get(0);
        let report = client
            .get(format!("{}/v1/usage?group_by=sandbox", server.base))
            .bearer_auth(&server.key)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .json::<Value>()
            .limit(16 << 20)
            .await?;
        let paused_metered = report["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["key"] == id.as_str()))
            .and_then(|r| r["paused_seconds"].as_f64())
            .unwrap_or(0.0);
        let error = metered - ran;
        let per_hour = error.abs() * 3600.0 / ran.max(1.0);
        worst = worst.max(per_hour);
        println!(
            "| {id} | {ran:.2} | {metered:.2} | {error:+.2} | {per_hour:.2} | {paused:.2} | {paused_metered:.2} |"
        );
    }
    println!(
        "\nWorst metering error: {worst:.2} s per workload per hour, over {:.0} s of wall time.",
        started.elapsed().as_secs_f64()
    );
    drop(db);
    server.stop().await
}
