//! `ports`: HTTP requests to a server in a container sandbox (Python's `http.server`, on port
//! 8000) through `…/v1/sandboxes/{id}/ports/8000/`, against the same requests straight to the
//! container's address on Docker's bridge (the baseline: what calling the server directly
//! costs), at the runner's internal endpoint (what the API's own hop adds), and through a
//! preview URL (its host, no key: the label checked instead of the key).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::server::*;

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

/// How a request is let in.
enum Auth<'a> {
    /// `Authorization: Bearer` with this token.
    Bearer(&'a str),
    /// No credential, sent to this preview host.
    Preview(&'a str),
    /// None: an HTTP/1.0 request on a new TCP connection to the address in the URL, as the
    /// runner's own connection to the server is (the baseline).
    Direct,
}

/// `GET /` on a new connection to `addr`, HTTP/1.0, read to the end: the answer's bytes.
async fn raw_get(addr: &str) -> anyhow::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    conn.write_all(b"GET / HTTP/1.0\r\nHost: sandbox\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// Times (ms) of `count` GETs of `url`, each answered 200 `pong`.
async fn gets(
    client: &awc::Client,
    url: &str,
    auth: &Auth<'_>,
    count: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut took = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        if let Auth::Direct = auth {
            let addr = url.trim_start_matches("http://").trim_end_matches('/');
            let answer = raw_get(addr).await?;
            if !answer.starts_with(b"HTTP/1.0 200") || !answer.ends_with(b"pong") {
                bail!("GET {url}: {:?}", String::from_utf8_lossy(&answer));
            }
            took.push(t.elapsed().as_secs_f64() * 1e3);
            continue;
        }
        let req = match auth {
            Auth::Preview(host) => client.get(url).insert_header(("host", *host)),
            Auth::Bearer(token) => client.get(url).bearer_auth(token),
            Auth::Direct => unreachable!("answered above"),
        };
        let mut res = req
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
        let key = Auth::Bearer(&server.key);
        while gets(&client, &through_api, &key, 1).await.is_err() {
            if Instant::now() > deadline {
                bail!("the server in the sandbox did not answer in 20 s");
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let (base, token) = runner_endpoint(&server).await?;
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
        let (status, v, _) = call(
            &client,
            &server,
            &format!("/v1/sandboxes/{id}/previews"),
            &json!({"port": 8000}),
        )
        .await;
        if status != 201 {
            bail!("asking for a preview URL: {status} {v}");
        }
        let url = v["url"].as_str().context("a url")?;
        let host = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let preview = Auth::Preview(&host);
        let at_server = format!("{}/", server.base);
        let runner_token = Auth::Bearer(&token);
        let paths = [
            (&through_api, &key),
            (&at_server, &preview),
            (&at_runner, &runner_token),
            (&direct, &Auth::Direct),
        ];
        // Warm each path, then take turns so that drift touches them alike.
        for (url, auth) in paths {
            gets(&client, url, auth, 20).await?;
        }
        let mut took = vec![Vec::new(); paths.len()];
        for _ in 0..count.div_ceil(50) {
            for ((url, auth), took) in paths.iter().zip(&mut took) {
                took.extend(gets(&client, url, auth, 50).await?);
            }
        }
        let names = [
            "GET through the API (/v1/…/ports/8000/)",
            "GET through a preview URL (its host, no key)",
            "GET at the runner's endpoint",
            "GET straight to the container, a new connection each (baseline)",
        ];
        latency_table(names.into_iter().zip(&mut took).collect());
        delete_sandbox(&client, &server, &id).await;
        anyhow::Ok(())
    }
    .await;
    server.stop().await?;
    result
}
