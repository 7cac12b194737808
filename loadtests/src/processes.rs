//! `processes`: background processes in a container sandbox: the API call that starts one,
//! answered once Docker runs it, against the `docker exec -d` CLI starting the same command
//! in the same container; and the time from that call to the process's first output line read
//! through the API's log stream.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use serde_json::json;

use crate::server::*;

/// Milliseconds since `t`.
fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Start `command` in sandbox `id`: its pid and the call's time (ms).
async fn start(
    client: &awc::Client,
    server: &Server,
    id: &str,
    command: &[&str],
) -> anyhow::Result<(u64, f64)> {
    let (status, v, took) = call(
        client,
        server,
        &format!("/v1/sandboxes/{id}/processes"),
        &json!({ "command": command }),
    )
    .await;
    if status != 201 {
        bail!("starting a process: {status} {v}");
    }
    Ok((v["pid"].as_u64().context("a pid")?, took))
}

/// Read process `pid`'s log stream until its first output event: the time from `since` (ms).
async fn first_output(
    client: &awc::Client,
    server: &Server,
    id: &str,
    pid: u64,
    since: Instant,
) -> anyhow::Result<f64> {
    let mut res = client
        .get(format!(
            "{}/v1/sandboxes/{id}/processes/{pid}/logs",
            server.base
        ))
        .bearer_auth(&server.key)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("following the log: {e}"))?;
    let mut seen = Vec::new();
    while let Some(chunk) = res.next().await {
        seen.extend_from_slice(&chunk.map_err(|e| anyhow::anyhow!("reading the log: {e}"))?);
        if seen.windows(13).any(|w| w == b"event: stdout") {
            return Ok(ms(since));
        }
    }
    bail!(
        "the log ended without output: {}",
        String::from_utf8_lossy(&seen)
    )
}

pub(crate) async fn processes(count: usize) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "100000"),
        ("SBX_RATE_BURST", "100000"),
    ])
    .await?;
    let client = client();
    let result = async {
        let id = new_container(&client, &server).await?;
        let name = format!("sbx-{}", id.replace('-', ""));
        // Warm both paths once.
        start(&client, &server, &id, &["true"]).await?;
        let (mut api, mut cli, mut output) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..count {
            let (_, took) = start(&client, &server, &id, &["true"]).await?;
            api.push(took);
            let t = Instant::now();
            let out = Command::new("docker")
                .args(["exec", "-d", &name, "true"])
                .output()?;
            if !out.status.success() {
                bail!("docker exec: {}", String::from_utf8_lossy(&out.stderr));
            }
            cli.push(ms(t));
            let t = Instant::now();
            let (pid, _) = start(&client, &server, &id, &["echo", "hi"]).await?;
            output.push(first_output(&client, &server, &id, pid, t).await?);
        }
        println!("| what | n | p50 ms | p90 ms | max ms |");
        println!("|---|---|---|---|---|");
        for (what, v) in [
            ("POST …/processes → 201 (running)", &mut api),
            ("docker exec -d (CLI, baseline)", &mut cli),
            ("POST → first stdout event through …/logs", &mut output),
        ] {
            v.sort_by(f64::total_cmp);
            println!(
                "| {what} | {} | {:.1} | {:.1} | {:.1} |",
                v.len(),
                percentile(v, 0.5),
                percentile(v, 0.9),
                v.last().copied().unwrap_or(f64::NAN)
            );
        }
        delete_sandbox(&client, &server, &id).await;
        anyhow::Ok(())
    }
    .await;
    server.stop().await?;
    result
}
