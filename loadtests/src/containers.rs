//! `containers`: container sandboxes on the local Docker: create → running against a bare
//! `docker run` of the same image, concurrent creates, pause and resume.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::server::*;

/// Milliseconds `docker run -d` of `image` takes until the container runs (the CLI returns
/// once it started), with the isolation flags sbx uses; the container is removed after.
pub(crate) fn docker_run_ms(image: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    let out = Command::new("docker")
        .args([
            "run",
            "-d",
            "--network",
            "none",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--user",
            "1000:1000",
            "--pids-limit",
            "512",
            "--memory",
            "256m",
            "--cpus",
            "0.5",
            "--init",
            image,
            "sleep",
            "infinity",
        ])
        .output()?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        bail!("docker run: {}", String::from_utf8_lossy(&out.stderr));
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Command::new("docker").args(["rm", "-f", &id]).output()?;
    Ok(ms)
}

pub(crate) async fn containers(
    creates: usize,
    concurrent: usize,
    live: usize,
) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "1000000"),
        ("SBX_RATE_BURST", "1000000"),
        ("SBX_CONTAINER_CPUS", "1000"),
        ("SBX_CONTAINER_MEMORY_MB", "1000000"),
    ])
    .await?;
    let client = client();
    let body = json!({"image": "python", "cpu": 0.5, "memory": "256Mi"});
    let create = |client: awc::Client| {
        let body = body.clone();
        let server = &server;
        async move {
            let (status, v, ms) = call(&client, server, "/v1/sandboxes", &body).await;
            let id = v["id"].as_str().unwrap_or_default().to_owned();
            (status == 201 && v["state"] == "running", id, ms)
        }
    };
    // Warm-up: the image's layers in the page cache.
    let (_, id, _) = create(client.clone()).await;
    delete_sandbox(&client, &server, &id).await;
    docker_run_ms("sbx/python:local")?;

    let (mut sbx_ms, mut docker_ms, mut errors) = (Vec::new(), Vec::new(), 0);
    for _ in 0..creates {
        let (ok, id, ms) = create(client.clone()).await;
        if !ok {
            errors += 1;
        }
        sbx_ms.push(ms);
        delete_sandbox(&client, &server, &id).await;
        docker_ms.push(docker_run_ms("sbx/python:local")?);
    }
    let started = Instant::now();
    let together =
        futures_util::future::join_all((0..concurrent).map(|_| create(client.clone()))).await;
    let together_wall = started.elapsed();
    let mut together_ms: Vec<f64> = together.iter().map(|r| r.2).collect();
    let together_errors = together.iter().filter(|r| !r.0).count();
    for (_, id, _) in &together {
        delete_sandbox(&client, &server, id).await;
    }
    sbx_ms.sort_by(f64::total_cmp);
    docker_ms.sort_by(f64::total_cmp);
    println!("\nContainer sandboxes, image `python` (sbx/python:local), 0.5 CPU, 256 MiB\n");
    println!("| what | n | errors | p50 ms | p95 ms | p99 ms | note |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    println!(
        "| `POST /v1/sandboxes` → `running`, one at a time | {creates} | {errors} | {:.0} | {:.0} | {:.0} | placed, started, answered |",
        percentile(&sbx_ms, 0.5),
        percentile(&sbx_ms, 0.95),
        percentile(&sbx_ms, 0.99)
    );
    println!(
        "| bare `docker run -d`, same image and flags (baseline) | {creates} | 0 | {:.0} | {:.0} | {:.0} | same run, interleaved |",
        percentile(&docker_ms, 0.5),
        percentile(&docker_ms, 0.95),
        percentile(&docker_ms, 0.99)
    );
    together_ms.sort_by(f64::total_cmp);
    println!(
        "| {concurrent} creates at once | {concurrent} | {together_errors} | {:.0} | {:.0} | {:.0} | all done in {:.2} s |",
        percentile(&together_ms, 0.5),
        percentile(&together_ms, 0.95),
        percentile(&together_ms, 0.99),
        together_wall.as_secs_f64()
    );
    // The same number of bare `docker run`s at once, for the concurrent figure's baseline.
    let started = Instant::now();
    let runs: Vec<std::thread::JoinHandle<anyhow::Result<f64>>> = (0..concurrent)
        .map(|_| std::thread::spawn(|| docker_run_ms("sbx/python:local")))
        .collect();
    let mut bare_together: Vec<f64> = runs
        .into_iter()
        .filter_map(|h| h.join().ok().and_then(Result::ok))
        .collect();
    let bare_wall = started.elapsed();
    bare_together.sort_by(f64::total_cmp);
    println!(
        "| {concurrent} bare `docker run -d` at once (baseline) | {concurrent} | {} | {:.0} | {:.0} | {:.0} | all done in {:.2} s |",
        concurrent - bare_together.len(),
        percentile(&bare_together, 0.5),
        percentile(&bare_together, 0.95),
        percentile(&bare_together, 0.99),
        bare_wall.as_secs_f64()
    );
    println!(
        "\nRatio of p50s, sbx create → running over bare docker run: {:.2}× one at a time, {:.2}× {concurrent} at once (p95: {:.2}×)",
        percentile(&sbx_ms, 0.5) / percentile(&docker_ms, 0.5),
        percentile(&together_ms, 0.5) / percentile(&bare_together, 0.5),
        percentile(&together_ms, 0.95) / percentile(&bare_together, 0.95),
    );

    // Pause and resume, with 1 MiB of files written, then with 1 GiB.
    let (_, id, _) = create(client.clone()).await;
    call(
        &client,
        &server,
        &format!("/v1/sandboxes/{id}/exec"),
        &json!({"command": ["sh", "-c", "head -c 1048576 /dev/urandom > /workspace/data.bin"]}),
    )
    .await;
    // A command in it: through the database to the runner and back, against the `docker
    // exec` CLI into the same container (its own client start included, as a user's would be).
    let (mut exec_ms, mut docker_exec_ms) = (Vec::new(), Vec::new());
    let name = format!("sbx-{}", id.replace('-', ""));
    for _ in 0..30 {
        let (s, v, ms) = call(
            &client,
            &server,
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"command": ["true"]}),
        )
        .await;
        if s != 200 || v["status"] != "succeeded" {
            bail!("exec: {s} {v}");
        }
        exec_ms.push(ms);
        let t = Instant::now();
        let out = Command::new("docker")
            .args(["exec", &name, "true"])
            .output()?;
        if !out.status.success() {
            bail!("docker exec: {}", String::from_utf8_lossy(&out.stderr));
        }
        docker_exec_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (mut pause_ms, mut resume_ms) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let (s1, _, ms) = action(&client, &server, &id, "pause").await;
        pause_ms.push(ms);
        let (s2, v, ms) = action(&client, &server, &id, "resume").await;
        resume_ms.push(ms);
        if s1 != 200 || s2 != 200 || v["state"] != "running" {
            bail!("pause/resume failed: {s1} {s2} {v}");
        }
    }
    // Again with 1 GiB of files that do not compress; and how long the background copy into
    // the database takes after a pause.
    let (s, v, _) = call(
        &client,
        &server,
        &format!("/v1/sandboxes/{id}/exec"),
        &json!({"command": ["sh", "-c", "head -c 1073741824 /dev/urandom > /workspace/big.bin"],
                "timeout_ms": 120000}),
    )
    .await;
    if s != 200 || v["status"] != "succeeded" {
        bail!("writing 1 GiB: {s} {v}");
    }
    let (mut big_pause_ms, mut big_resume_ms) = (Vec::new(), Vec::new());
    let mut copy_s = f64::NAN;
    let mut bare_after_copy = f64::NAN;
    for cycle in 0..3 {
        let (s1, _, ms) = action(&client, &server, &id, "pause").await;
        big_pause_ms.push(ms);
        if cycle == 0 {
            let t = Instant::now();
            let db = server.pool.get().await?;
            loop {
                let done: Option<bool> = db
                    .query_one(
                        "select snapshot_stored = snapshot_gen from sandboxes where sandbox_id = $1::text::uuid",
                        &[&id.as_str()],
                    )
                    .await?
                    .get(0);
                if done == Some(true) {
                    break;
                }
                if t.elapsed() > Duration::from_secs(300) {
                    bail!("the copy of 1 GiB did not finish in 300 s");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            copy_s = t.elapsed().as_secs_f64();
            // A bare `docker run` in the same moment, for a baseline under the same disk load.
            bare_after_copy = docker_run_ms("sbx/python:local")?;
        }
        let (s2, v, ms) = action(&client, &server, &id, "resume").await;
        big_resume_ms.push(ms);
        if s1 != 200 || s2 != 200 || v["state"] != "running" {
            bail!("pause/resume with 1 GiB failed: {s1} {s2} {v}");
        }
    }
    println!("\n| what | n | p50 ms | p95 ms | p99 ms | note |\n|---|---:|---:|---:|---:|---|");
    row(
        "`POST /v1/sandboxes/{id}/exec` `true` (API → database → runner → Docker → back)",
        &mut exec_ms,
        "interleaved with the next",
    );
    row(
        "`docker exec <container> true` (baseline)",
        &mut docker_exec_ms,
        "the CLI, same container",
    );
    row(
        "pause (container stopped, folders kept on the host, removed)",
        &mut pause_ms,
        "1 MiB of files",
    );
    row(
        "resume (placed again, folders taken back, started)",
        &mut resume_ms,
        "to `running`",
    );
    let order = format!(
        "1 GiB runs in order: pause {:?} ms, resume {:?} ms. The first resume came right after the copy finished and a bare `docker run -d`, which took {bare_after_copy:.0} ms then.",
        big_pause_ms
            .iter()
            .map(|m: &f64| m.round())
            .collect::<Vec<_>>(),
        big_resume_ms
            .iter()
            .map(|m: &f64| m.round())
            .collect::<Vec<_>>()
    );
    row("pause", &mut big_pause_ms, "1 GiB of files");
    row("resume", &mut big_resume_ms, "1 GiB of files, to `running`");
    println!("\n{order}");
    println!(
        "\nThe background copy of the 1 GiB into PostgreSQL (what lets another host resume it) took {copy_s:.1} s after the pause answered."
    );
    delete_sandbox(&client, &server, &id).await;

    // The meter's own CPU with `live` sandboxes: the server's CPU time over 20 s, less what it
    // spends with none.
    let idle_cpu = {
        let before = server.cpu();
        tokio::time::sleep(Duration::from_secs(10)).await;
        (server.cpu() - before).as_secs_f64() / 10.0
    };
    let mut ids = Vec::new();
    for chunk in 0..live.div_ceil(10) {
        let made = futures_util::future::join_all(
            (0..10.min(live - chunk * 10)).map(|_| create(client.clone())),
        )
        .await;
        ids.extend(made.into_iter().filter(|r| r.0).map(|r| r.1));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = server.cpu();
    let docker_before = dockerd_cpu();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let busy_cpu = (server.cpu() - before).as_secs_f64() / 20.0;
    let dockerd = (dockerd_cpu() - docker_before).as_secs_f64() / 20.0;
    let samples: i64 = server
        .pool
        .get()
        .await?
        .query_one(
            "select count(*) from usage_samples where at > now() - interval '20 seconds'",
            &[],
        )
        .await?
        .get(0);
    println!(
        "\nMeter with {} live sandboxes: sbx serve used {:.2} % of one core ({:.2} % with none live), dockerd {:.2} % answering its stats; {samples} samples written in the last 20 s.",
        ids.len(),
        busy_cpu * 100.0,
        idle_cpu * 100.0,
        dockerd * 100.0
    );
    futures_util::future::join_all(ids.iter().map(|id| delete_sandbox(&client, &server, id))).await;
    server.stop().await
}
