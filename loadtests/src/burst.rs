//! `burst`: tool calls, N concurrent clients on `POST /v1/exec`; `rate-limited`: a key far
//! over its rate, and what each 429 costs the server.

use serde_json::json;

use crate::server::*;

pub(crate) async fn burst(clients: usize, requests: usize, code: String) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "1000000"),
        ("SBX_RATE_BURST", "1000000"),
    ])
    .await?;
    let limits = sbx_limits::ProjectLimits {
        max_concurrent_execs: clients as u32,
        ..Default::default()
    };
    sbx_store::projects::set_limits(&server.pool, server.project, &limits).await?;
    let body = json!({"language": "python", "code": code});
    hammer(&server, "/v1/exec", body.clone(), 2, 20).await; // warm-up
    let (results, wall) = hammer(&server, "/v1/exec", body, clients, requests).await;
    let ok = latencies(&results, |s| s == 200);
    let errors = results.len() - ok.len();
    println!("\n`POST /v1/exec` of `{code}`, {clients} concurrent clients\n");
    println!("| clients | requests | ok | errors | p50 ms | p95 ms | p99 ms | execs/s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {clients} | {} | {} | {errors} | {:.2} | {:.2} | {:.2} | {:.0} |",
        results.len(),
        ok.len(),
        percentile(&ok, 0.5),
        percentile(&ok, 0.95),
        percentile(&ok, 0.99),
        ok.len() as f64 / wall.as_secs_f64()
    );
    server.stop().await
}

pub(crate) async fn rate_limited(requests: usize, clients: usize) -> anyhow::Result<()> {
    let server = Server::start(&[("SBX_RATE_PER_SECOND", "1"), ("SBX_RATE_BURST", "1")]).await?;
    let body = json!({"language": "python", "code": "print(1)"});
    let (cpu_before, db_before) = (server.cpu(), database_cpu());
    let (results, wall) = hammer(&server, "/v1/exec", body, clients, requests).await;
    let (cpu, db) = (server.cpu() - cpu_before, database_cpu() - db_before);
    let refused = latencies(&results, |s| s == 429);
    let ok = latencies(&results, |s| s == 200);
    let other = results.len() - refused.len() - ok.len();
    println!("\nA key limited to 1 request/s (burst 1), {clients} clients, {requests} requests\n");
    println!(
        "| requests | 429 | 200 | other | 429 p50 ms | 429 p99 ms | req/s | sbx CPU | database CPU | CPU per request, both |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {other} | {:.2} | {:.2} | {:.0} | {:.2} s | {:.2} s | {:.3} ms |",
        results.len(),
        refused.len(),
        ok.len(),
        percentile(&refused, 0.5),
        percentile(&refused, 0.99),
        results.len() as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        db.as_secs_f64(),
        (cpu + db).as_secs_f64() * 1e3 / results.len() as f64,
    );
    server.stop().await
}
