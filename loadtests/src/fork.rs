//! `fork`: forks of a code-interpreter sandbox holding a 10 MiB pandas DataFrame
//! (`POST /v1/sandboxes/{id}/fork`), one copy and eight at a time, against the obvious
//! baseline: a new sandbox that replays the source's cell (imports pandas, builds the frame);
//! and forks of a container sandbox holding 100 MiB in `/workspace`, against a new container
//! sandbox given the same file through the files API.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::server::*;

/// The source's cell: pandas imported, a 10 MiB frame (1 310 720 int64 values).
const CELL: &str = "import pandas as pd, numpy as np\n\
                    df = pd.DataFrame({'a': np.arange(1310720, dtype='int64')})\n\
                    n = 7";

/// What the copies are checked with, and its answer.
const CHECK: &str = "int(df.a.sum()) + n";
const CHECKED: &str = "858992803847";

/// Run [`CHECK`] in sandbox `id` and make sure it answers [`CHECKED`].
async fn check(client: &awc::Client, server: &Server, id: &str) -> anyhow::Result<()> {
    let (s, v, _) = call(
        client,
        server,
        &format!("/v1/sandboxes/{id}/exec"),
        &json!({"code": CHECK}),
    )
    .await;
    if s != 200 || v["result"] != CHECKED {
        bail!("sandbox {id} does not hold the frame: {s} {v}");
    }
    Ok(())
}

/// Fork `source` into `count` copies: their ids and the call's time (ms).
async fn fork(
    client: &awc::Client,
    server: &Server,
    source: &str,
    count: usize,
) -> anyhow::Result<(Vec<String>, f64)> {
    let (s, v, took) = call(
        client,
        server,
        &format!("/v1/sandboxes/{source}/fork"),
        &json!({"count": count}),
    )
    .await;
    if s != 201 && s != 200 {
        bail!("forking: {s} {v}");
    }
    let ids = v["data"]
        .as_array()
        .context("a list of copies")?
        .iter()
        .map(|c| c["id"].as_str().map(str::to_owned).context("an id"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if ids.len() != count {
        bail!("asked for {count} copies, got {}", ids.len());
    }
    Ok((ids, took))
}

pub(crate) async fn forks(rounds: usize) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "100000"),
        ("SBX_RATE_BURST", "100000"),
    ])
    .await?;
    let client = client();
    let result = async {
        let source = new_session(&client, &server).await?;
        let (s, v, _) = call(
            &client,
            &server,
            &format!("/v1/sandboxes/{source}/exec"),
            &json!({"code": CELL}),
        )
        .await;
        if s != 200 || v["status"] != "succeeded" {
            bail!("preparing the source: {s} {v}");
        }
        check(&client, &server, &source).await?;
        let (mut one, mut eight, mut replay) = (Vec::new(), Vec::new(), Vec::new());
        // One round first, untimed, to warm each path.
        for round in 0..=rounds {
            let (ids, took) = fork(&client, &server, &source, 1).await?;
            check(&client, &server, &ids[0]).await?;
            delete_sandbox(&client, &server, &ids[0]).await;
            let (ids8, took8) = fork(&client, &server, &source, 8).await?;
            for id in &ids8 {
                check(&client, &server, id).await?;
                delete_sandbox(&client, &server, id).await;
            }
            let t = std::time::Instant::now();
            let id = new_session(&client, &server).await?;
            let (s, v, _): (u16, Value, f64) = call(
                &client,
                &server,
                &format!("/v1/sandboxes/{id}/exec"),
                &json!({"code": CELL}),
            )
            .await;
            let took_replay = t.elapsed().as_secs_f64() * 1e3;
            if s != 200 || v["status"] != "succeeded" {
                bail!("replaying the cell: {s} {v}");
            }
            check(&client, &server, &id).await?;
            delete_sandbox(&client, &server, &id).await;
            if round > 0 {
                one.push(took);
                eight.push(took8);
                replay.push(took_replay);
            }
        }
        println!("| what | n | p50 ms | p95 ms | p99 ms | note |");
        println!("|---|---:|---:|---:|---:|---|");
        row("fork, count 1", &mut one, "`POST …/fork`, the copy running");
        row(
            "fork, count 8",
            &mut eight,
            "one call, eight copies running",
        );
        row(
            "new sandbox + the cell replayed (baseline)",
            &mut replay,
            "`POST /v1/sandboxes`, then the cell",
        );
        delete_sandbox(&client, &server, &source).await;
        containers(&client, &server, rounds.min(10)).await
    }
    .await;
    server.stop().await?;
    result
}

/// Bytes of the container source's file.
const BLOB: usize = 100 << 20;

/// The size `/workspace/blob` has in container sandbox `id`, in bytes.
async fn blob_size(client: &awc::Client, server: &Server, id: &str) -> anyhow::Result<u64> {
    let body = json!({"command": ["stat", "-c", "%s", "/workspace/blob"]});
    let (s, v, _) = call(client, server, &format!("/v1/sandboxes/{id}/exec"), &body).await;
    if s != 200 {
        bail!("looking at the file in {id}: {s} {v}");
    }
    Ok(v["stdout"].as_str().unwrap_or_default().trim().parse()?)
}

/// A running container sandbox small enough (a quarter core, 256 MiB) that a source, a copy
/// and one being deleted fit on this machine at once: its id.
async fn small_container(client: &awc::Client, server: &Server) -> anyhow::Result<String> {
    let body = json!({"image": "python", "cpu": 0.25, "memory": "256Mi"});
    let (status, v, _) = call(client, server, "/v1/sandboxes", &body).await;
    if status != 201 || v["state"] != "running" {
        bail!("creating a container sandbox: {status} {v}");
    }
    Ok(v["id"].as_str().context("an id")?.to_owned())
}

/// Container forks, `rounds` times (after one untimed), against a new sandbox and an upload.
async fn containers(client: &awc::Client, server: &Server, rounds: usize) -> anyhow::Result<()> {
    let source = small_container(client, server).await?;
    let fill =
        json!({"command": ["sh", "-c", format!("head -c {BLOB} /dev/urandom > /workspace/blob")]});
    let (s, v, _) = call(
        client,
        server,
        &format!("/v1/sandboxes/{source}/exec"),
        &fill,
    )
    .await;
    if s != 200 || v["exit_code"] != 0 {
        bail!("filling the container: {s} {v}");
    }
    let blob = bytes::Bytes::from(vec![7u8; BLOB]);
    let (mut forked, mut made) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let (ids, took) = fork(client, server, &source, 1).await?;
        if blob_size(client, server, &ids[0]).await? != BLOB as u64 {
            bail!("the copy does not hold the file");
        }
        delete_sandbox(client, server, &ids[0]).await;
        let t = std::time::Instant::now();
        let id = small_container(client, server).await?;
        let res = client
            .put(format!(
                "{}/v1/sandboxes/{id}/files/workspace/blob",
                server.base
            ))
            .bearer_auth(&server.key)
            .send_body(blob.clone())
            .await
            .map_err(|e| anyhow::anyhow!("uploading: {e}"))?;
        let took_made = t.elapsed().as_secs_f64() * 1e3;
        if !res.status().is_success() {
            bail!("uploading: {}", res.status());
        }
        delete_sandbox(client, server, &id).await;
        if round > 0 {
            forked.push(took);
            made.push(took_made);
        }
    }
    row(
        "container fork, count 1 (100 MiB in /workspace)",
        &mut forked,
        "`POST …/fork`, the copy running",
    );
    row(
        "new container + the file uploaded (baseline)",
        &mut made,
        "`POST /v1/sandboxes`, then `PUT …/files/workspace/blob`",
    );
    delete_sandbox(client, server, &source).await;
    Ok(())
}
