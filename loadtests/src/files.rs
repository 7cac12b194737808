//! `files`: the files API moving a large file into and out of a sandbox, each kind, against
//! `docker cp` of the same file to and from the same container; the API process's resident
//! memory (PSS) sampled meanwhile, to show that nothing holds a file in memory.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde_json::json;

use crate::server::*;

/// The bytes of one piece of the file: the file is this piece over and over.
const PIECE: usize = 1 << 20;

/// Bytes per second as MB/s (10^6 bytes).
fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / 1e6
}

/// The highest PSS of process `pid` while `work` runs, sampled every 20 ms: (work's output, bytes).
async fn peak_pss<T>(pid: u32, work: impl std::future::Future<Output = T>) -> (T, u64) {
    let stop = tokio_util::sync::CancellationToken::new();
    let sampler = {
        let stop = stop.clone();
        actix_web::rt::spawn(async move {
            let mut peak = process_pss(pid);
            while !stop.is_cancelled() {
                peak = peak.max(process_pss(pid));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak.max(process_pss(pid))
        })
    };
    let out = work.await;
    stop.cancel();
    (out, sampler.await.unwrap_or(0))
}

/// Upload `mib` MiB to sandbox `id`'s `path` through the API, generated as it is sent: the
/// time it took.
async fn upload(
    client: &awc::Client,
    server: &Server,
    id: &str,
    path: &str,
    mib: usize,
) -> anyhow::Result<Duration> {
    let piece = Bytes::from(vec![b'x'; PIECE]);
    let body =
        futures_util::stream::iter((0..mib).map(move |_| Ok::<_, std::io::Error>(piece.clone())));
    let t = Instant::now();
    let mut res = client
        .put(format!("{}/v1/sandboxes/{id}/files/{path}", server.base))
        .bearer_auth(&server.key)
        .timeout(Duration::from_secs(600))
        .send_stream(body)
        .await
        .map_err(|e| anyhow::anyhow!("uploading: {e}"))?;
    let took = t.elapsed();
    if !res.status().is_success() {
        let text = res.body().await.unwrap_or_default();
        bail!(
            "upload: {} {}",
            res.status(),
            String::from_utf8_lossy(&text)
        );
    }
    Ok(took)
}

/// Download sandbox `id`'s `path` through the API, counting and dropping it: (bytes, time).
async fn download(
    client: &awc::Client,
    server: &Server,
    id: &str,
    path: &str,
) -> anyhow::Result<(u64, Duration)> {
    let t = Instant::now();
    let mut res = client
        .get(format!("{}/v1/sandboxes/{id}/files/{path}", server.base))
        .bearer_auth(&server.key)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("downloading: {e}"))?;
    if !res.status().is_success() {
        bail!("download: {}", res.status());
    }
    let mut n = 0u64;
    while let Some(chunk) = res.next().await {
        n += chunk
            .map_err(|e| anyhow::anyhow!("downloading: {e}"))?
            .len() as u64;
    }
    Ok((n, t.elapsed()))
}

/// `docker cp` of `from` to `to`: the time it took.
fn docker_cp(from: &str, to: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = Command::new("docker").args(["cp", from, to]).output()?;
    if !out.status.success() {
        bail!("docker cp: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(t.elapsed())
}

/// Create a sandbox of `image` with a disk for the file; its id.
async fn sandbox(
    client: &awc::Client,
    server: &Server,
    image: &str,
    mib: usize,
) -> anyhow::Result<String> {
    let disk = format!("{}Mi", mib * 2 + 64);
    let body = json!({"image": image, "memory": "512Mi", "disk": disk});
    let (status, v, _) = call(client, server, "/v1/sandboxes", &body).await;
    if status != 201 || v["state"] != "running" {
        bail!("creating a {image} sandbox: {status} {v}");
    }
    Ok(v["id"].as_str().context("an id")?.to_owned())
}

pub(crate) async fn files(mib: usize, rounds: usize) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "100000"),
        ("SBX_RATE_BURST", "100000"),
    ])
    .await?;
    let mut limits = sbx_limits::ProjectLimits::default();
    limits.max_disk_mb = limits.max_disk_mb.max((mib * 2 + 64) as u64);
    sbx_store::projects::set_limits(&server.pool, server.project, &limits).await?;
    let client = client();
    let pid = server.child.id();
    let bytes = (mib * PIECE) as u64;
    let local = std::env::temp_dir().join(format!("sbx-lt-files-{}", std::process::id()));
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&local)?);
        for _ in 0..mib {
            f.write_all(&[b'x'; PIECE])?;
        }
    }
    println!("| what | rounds | median MB/s | best MB/s | API PSS growth, peak (MiB) |");
    println!("|---|---|---|---|---|");
    let result = async {
        for (kind, image) in [
            ("container", "python"),
            ("code-interpreter", "code-interpreter"),
        ] {
            let id = sandbox(&client, &server, image, mib).await?;
            let (mut up, mut down, mut growth) = (Vec::new(), Vec::new(), 0u64);
            for round in 0..rounds {
                let before = process_pss(pid);
                let path = format!("workspace/big-{round}.bin");
                let (took, peak) = peak_pss(pid, upload(&client, &server, &id, &path, mib)).await;
                up.push(mb_per_s(bytes, took?));
                growth = growth.max(peak.saturating_sub(before));
                let before = process_pss(pid);
                let (got, peak) = peak_pss(pid, download(&client, &server, &id, &path)).await;
                let (n, took) = got?;
                if n != bytes {
                    bail!("downloaded {n} bytes of {bytes}");
                }
                down.push(mb_per_s(bytes, took));
                growth = growth.max(peak.saturating_sub(before));
                // Room for the next round's file under the disk cap (twice the file).
                let gone = client
                    .delete(format!("{}/v1/sandboxes/{id}/files/{path}", server.base))
                    .bearer_auth(&server.key)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("deleting: {e}"))?;
                if !gone.status().is_success() {
                    bail!("delete: {}", gone.status());
                }
            }
            let mib_of = |b: u64| b as f64 / f64::from(1 << 20);
            let line = |what: &str, v: &mut Vec<f64>, g: u64| {
                v.sort_by(f64::total_cmp);
                println!(
                    "| {what} ({kind}, {mib} MiB) | {} | {:.0} | {:.0} | {:.1} |",
                    v.len(),
                    percentile(v, 0.5),
                    v.last().copied().unwrap_or(f64::NAN),
                    mib_of(g)
                );
            };
            line("PUT through the API", &mut up, growth);
            line("GET through the API", &mut down, growth);
            if kind == "container" {
                let name = format!("sbx-{}", id.replace('-', ""));
                let (mut cp_in, mut cp_out) = (Vec::new(), Vec::new());
                let out = local.with_extension("out");
                for round in 0..rounds {
                    let inside = format!("{name}:/workspace/cp-{round}.bin");
                    cp_in.push(mb_per_s(
                        bytes,
                        docker_cp(local.to_str().unwrap(), &inside)?,
                    ));
                    cp_out.push(mb_per_s(bytes, docker_cp(&inside, out.to_str().unwrap())?));
                    let _ = std::fs::remove_file(&out);
                    let file = format!("/workspace/cp-{round}.bin");
                    Command::new("docker")
                        .args(["exec", &name, "rm", "-f", &file])
                        .output()?;
                }
                line("docker cp in (baseline)", &mut cp_in, 0);
                line("docker cp out (baseline)", &mut cp_out, 0);
            }
            delete_sandbox(&client, &server, &id).await;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_file(&local);
    server.stop().await?;
    result
}
