//! `queue`: no-op jobs straight into the queue: jobs/s claimed and completed, add → start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::server::*;

pub(crate) fn noop_job() -> sbx_store::queue::NewJob {
    let spec = sbx_core::exec::ExecSpec {
        program: sbx_core::exec::Program::Wasi {
            module: Arc::from(NOOP_MODULE.as_bytes()),
        },
        args: vec![],
        stdin: vec![],
        env: vec![],
        files: vec![],
    };
    sbx_store::queue::NewJob {
        job_id: sbx_core::ids::JobId::new(),
        spec: sbx_store::exec::QueuedExec::new(&spec, Default::default()),
        recorded: json!({"language": "wasi", "noop": true}),
        priority: sbx_store::queue::Priority::Async,
        batch: None,
        idempotency: None,
        callback_url: None,
    }
}

pub(crate) async fn enqueue(server: &Server, n: usize) -> anyhow::Result<()> {
    let key = sbx_store::keys::list(&server.pool, server.project).await?[0].api_key_id;
    let jobs: Vec<_> = (0..n).map(|_| noop_job()).collect();
    let mut client = server.pool.get().await?;
    for chunk in jobs.chunks(1000) {
        let tx = client.transaction().await?;
        sbx_store::queue::enqueue(&tx, server.project, Some(key), chunk).await?;
        tx.commit().await?;
    }
    Ok(())
}

pub(crate) async fn wait_finished(server: &Server, n: i64) -> anyhow::Result<()> {
    let client = server.pool.get().await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        // A job leaves the queue as it ends, in the statement that records its result. This
        // probe stays cheap: counting finished jobs read them all, every 20 ms, on the cores
        // the server is measured on.
        let open: bool = client
            .query_one("select exists (select 1 from queue)", &[])
            .await?
            .get(0);
        if !open {
            let done: i64 = client
                .query_one(
                    "select count(*) from jobs where finished_at is not null",
                    &[],
                )
                .await?
                .get(0);
            anyhow::ensure!(
                done >= n,
                "the queue is empty but only {done} of {n} jobs ended"
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("jobs still queued after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn queue(jobs: usize, rate: u64, slots: usize) -> anyhow::Result<()> {
    let server = Server::start(&[("SBX_RUNNER_SLOTS", &slots.to_string())]).await?;
    // Throughput: all at once.
    let started = Instant::now();
    enqueue(&server, jobs).await?;
    let queued = started.elapsed();
    wait_finished(&server, jobs as i64).await?;
    let wall = started.elapsed();
    // Add → start: one job at a time at `rate`/s for 5 s, on an idle queue.
    let n = (rate * 5) as usize;
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let mut next = Instant::now();
    for _ in 0..n {
        enqueue(&server, 1).await?;
        next += gap;
        tokio::time::sleep_until(next.into()).await;
    }
    wait_finished(&server, (jobs + n) as i64).await?;
    let client = server.pool.get().await?;
    let rows = client
        .query(
            "select (extract(epoch from (started_at - created_at)) * 1000)::float8 from jobs
             order by created_at desc limit $1",
            &[&(n as i64)],
        )
        .await?;
    let mut ms: Vec<f64> = rows
        .iter()
        .map(|r| r.get::<_, Option<f64>>(0).unwrap_or(f64::NAN))
        .collect();
    ms.sort_by(f64::total_cmp);
    let statuses = counts(
        &server.pool,
        "select status, count(*) from jobs group by status order by 1",
    )
    .await?;
    println!("\nNo-op WASI jobs straight into the queue (runner slots {slots})\n");
    println!(
        "| jobs | queued in | all done in | jobs/s | add → start p50 ms | p95 ms | p99 ms (at {rate}/s) | statuses |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| {jobs} | {:.2} s | {:.2} s | {:.0} | {:.2} | {:.2} | {:.2} | {statuses} |",
        queued.as_secs_f64(),
        wall.as_secs_f64(),
        jobs as f64 / wall.as_secs_f64(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
    );
    server.stop().await
}
