//! `ports`: HTTP requests to a server in a container sandbox (Python's `http.server`, on port
//! 8000) through `…/v1/sandboxes/{id}/ports/8000/`, against the same requests straight to the
//! container's address on Docker's bridge (the baseline: what calling the server directly
//! costs) and at the runner's internal endpoint (what the API's own hop adds).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::server::*;

/// The deployment key the scenario gives the server, to derive the runner's token from.
const SECRET_KEY: &str = "5b1d6a0e7c3f49a2b8e1d4c7a9f0e3b6d2c5a8f1e4b7d0c3a6f9e2b5d8c1a4f7";

/// The server in the sandbox: a fixed small answer, one connection per request (HTTP/1.0,
/// as `http.server` does by default), no logging.
const SERVER: &str = r#"
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"pong"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"#;

/// Times (ms) of `count` GETs of `url`, each answered 200 `pong`.
async fn gets(
    client: &awc::Client,
    url: &str,
    bearer: &str,
    count: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut took = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        let mut res = client
            .get(url)
            .bearer_auth(bearer)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
        let body = res.body().await?;
        if res.status() != 200 || &body[..] != b"pong" {
            bail!("GET {url}: {} {:?}", res.status(), body);
        }
        took.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(took)
}

pub(crate) async fn ports(count: usize) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "100000"),
        ("SBX_RATE_BURST", "100000"),
        ("SBX_SECRET_KEY", SECRET_KEY),
    ])
    .await?;
    let client = client();
    let result = async {
        let body = json!({"image": "python", "memory": "256Mi", "network": true});
        let (status, v, _) = call(&client, &server, "/v1/sandboxes", &body).await;
        if status != 201 || v["state"] != "running" {
            bail!("creating a container sandbox: {status} {v}");
        }
        let id = v["id"].as_str().context("an id")?.to_owned();
        let body = json!({"command": ["python3", "-c", SERVER]});
        let (status, v, _) = call(
            &client,
            &server,
            &format!("/v1/sandboxes/{id}/processes"),
            &body,
        )
        .await;
        if status != 201 {
            bail!("starting the server: {status} {v}");
        }
        let through_api = format!("{}/v1/sandboxes/{id}/ports/8000/", server.base);
        // Wait for the server to listen.
        let deadline = Instant::now() + Duration::from_secs(20);
        while gets(&client, &through_api, &server.key, 1).await.is_err() {
            if Instant::now() > deadline {
                bail!("the server in the sandbox did not answer in 20 s");
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let runner = server
            .pool
            .get()
            .await?
            .query_one(
                "select runner_id, internal_url from runners where internal_url is not null",
                &[],
            )
            .await?;
        let (runner_id, base): (uuid::Uuid, String) = (runner.get(0), runner.get(1));
        let sealer = sbx_store::seal::Sealer::from_hex(SECRET_KEY)?;
        let token = sbx_api::runner_endpoint::token(&sealer, runner_id);
        let at_runner = format!("{base}/internal/v1/sandboxes/{id}/ports/8000/");
        let name = format!("sbx-{}", id.replace('-', ""));
        let out = Command::new("docker")
            .args([
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                &name,
            ])
            .output()?;
        let ip = String::from_utf8(out.stdout)?.trim().to_owned();
        if ip.is_empty() {
            bail!(
                "the container has no address: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let direct = format!("http://{ip}:8000/");
        // Warm each path, then take turns so that drift touches all three alike.
        for (url, bearer) in [
            (&through_api, &server.key),
            (&at_runner, &token),
            (&direct, &token),
        ] {
            gets(&client, url, bearer, 20).await?;
        }
        let (mut api, mut runner, mut straight) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..count.div_ceil(50) {
            api.extend(gets(&client, &through_api, &server.key, 50).await?);
            runner.extend(gets(&client, &at_runner, &token, 50).await?);
            straight.extend(gets(&client, &direct, &token, 50).await?);
        }
        println!("| what | n | p50 ms | p90 ms | p99 ms |");
        println!("|---|---|---|---|---|");
        for (what, v) in [
            ("GET through the API (/v1/…/ports/8000/)", &mut api),
            ("GET at the runner's endpoint", &mut runner),
            ("GET straight to the container (baseline)", &mut straight),
        ] {
            v.sort_by(f64::total_cmp);
            println!(
                "| {what} | {} | {:.2} | {:.2} | {:.2} |",
                v.len(),
                percentile(v, 0.5),
                percentile(v, 0.9),
                percentile(v, 0.99),
            );
        }
        delete_sandbox(&client, &server, &id).await;
        anyhow::Ok(())
    }
    .await;
    server.stop().await?;
    result
}
