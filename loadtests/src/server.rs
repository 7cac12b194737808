//! The server under load and the tools every scenario shares: starting `sbx serve` on a fresh
//! database, HTTP helpers, CPU and memory readings, percentiles and table rows.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// A WASI command that does nothing: the job the queue scenario runs.
pub(crate) const NOOP_MODULE: &str = "(module (func (export \"_start\")))";

/// A `sbx serve` process on its own database, with a project and key.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) pool: sbx_store::Pool,
    pub(crate) project: sbx_core::ids::ProjectId,
    pub(crate) admin_url: String,
    pub(crate) database: String,
}

impl Server {
    pub(crate) async fn start(env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let url = std::env::var("SBX_DATABASE_URL")
            .context("SBX_DATABASE_URL: run scripts/loadtest, which starts PostgreSQL")?;
        let (prefix, _) = url.rsplit_once('/').context("a database URL")?;
        let admin_url = format!("{prefix}/postgres");
        let database = format!(
            "lt_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos()
        );
        let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        admin
            .batch_execute(&format!("create database {database}"))
            .await?;
        let db_url = format!("{prefix}/{database}");
        let pool = sbx_store::pool(&db_url, 8)?;
        sbx_store::migrate::migrate(&pool).await?;
        let project = sbx_store::projects::create(&pool, "load", None)
            .await?
            .project_id;
        let (_, key) = sbx_store::keys::create(&pool, project, "load").await?;
        let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let bin = std::env::current_exe()?.with_file_name("sbx");
        if !bin.exists() {
            bail!(
                "{} is missing: build it (scripts/loadtest does)",
                bin.display()
            );
        }
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .env("SBX_DATABASE_URL", &db_url)
            .env("SBX_ADDR", addr.to_string())
            // `SBX_LOADTEST_LOG` sets the server's log filter (default: warnings).
            .env(
                "RUST_LOG",
                std::env::var("SBX_LOADTEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("starting sbx serve")?;
        let server = Self {
            child,
            base: format!("http://{addr}"),
            key,
            pool,
            project,
            admin_url,
            database,
        };
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("sbx serve did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// The server's CPU time so far (user + system).
    pub(crate) fn cpu(&self) -> Duration {
        process_cpu(&self.child.id().to_string())
    }

    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        // Let the runner finish removing the containers of sandboxes just deleted (at most
        // 30 s): killed first, it would leave them behind on the Docker host.
        let label = format!("label=sbx.database={}", self.database);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline
            && Command::new("docker")
                .args(["ps", "-aq", "--filter", &label])
                .output()
                .is_ok_and(|o| !o.stdout.is_empty())
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.pool.close();
        let (admin, conn) = tokio_postgres::connect(&self.admin_url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        admin
            .batch_execute(&format!(
                "drop database if exists {} with (force)",
                self.database
            ))
            .await?;
        Ok(())
    }
}

/// CPU time (user + system) of the process `pid` so far.
pub(crate) fn process_cpu(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime 13th.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let ticks = fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / clock_ticks())
}

/// CPU time of every PostgreSQL process on this machine, and of the ones that ended, as far as
/// their parent counted them: the database's share of a scenario.
pub(crate) fn database_cpu() -> Duration {
    cpu_of(&["postgres"])
}

/// CPU time of the processes on this machine whose command name is one of `names`.
fn cpu_of(names: &[&str]) -> Duration {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.bytes().all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| names.contains(&c.trim()))
        {
            total += process_cpu(&pid);
        }
    }
    total
}

impl Drop for Server {
    /// A scenario that fails still stops its server.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

pub(crate) fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(120))
        .finish()
}

/// The rows of `sql` (a text and a count each) as `text count, text count, …`: a summary of
/// states or statuses for a table's last column.
pub(crate) async fn counts(pool: &sbx_store::Pool, sql: &str) -> anyhow::Result<String> {
    Ok(pool
        .get()
        .await?
        .query(sql, &[])
        .await?
        .iter()
        .map(|r| format!("{} {}", r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect::<Vec<_>>()
        .join(", "))
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Send `requests` POSTs of `body` to `path` from `clients` concurrent clients. Returns each
/// request's (status, latency ms) and the wall time.
pub(crate) async fn hammer(
    server: &Server,
    path: &str,
    body: Value,
    clients: usize,
    requests: usize,
) -> (Vec<(u16, f64)>, Duration) {
    let client = client();
    let url = format!("{}{path}", server.base);
    let started = Instant::now();
    let tasks = (0..clients).map(|c| {
        let (client, url, body, key) = (
            client.clone(),
            url.clone(),
            body.clone(),
            server.key.clone(),
        );
        async move {
            let mut out = Vec::new();
            for _ in (c..requests).step_by(clients) {
                let t = Instant::now();
                let status = match client.post(&url).bearer_auth(&key).send_json(&body).await {
                    Ok(mut r) => {
                        let _ = r.body().limit(16 << 20).await;
                        r.status().as_u16()
                    }
                    Err(_) => 0,
                };
                out.push((status, t.elapsed().as_secs_f64() * 1e3));
            }
            out
        }
    });
    let results = futures_util::future::join_all(tasks).await;
    (results.into_iter().flatten().collect(), started.elapsed())
}

pub(crate) fn latencies(results: &[(u16, f64)], status: impl Fn(u16) -> bool) -> Vec<f64> {
    let mut ms: Vec<f64> = results
        .iter()
        .filter(|(s, _)| status(*s))
        .map(|r| r.1)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

/// Resident memory of process `pid` (its proportional share of shared pages included), bytes.
pub(crate) fn process_pss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}

/// POST `body` to `path` with the server's key: (status, JSON body, ms).
pub(crate) async fn call(
    client: &awc::Client,
    server: &Server,
    path: &str,
    body: &Value,
) -> (u16, Value, f64) {
    let t = Instant::now();
    match client
        .post(format!("{}{path}", server.base))
        .bearer_auth(&server.key)
        .send_json(body)
        .await
    {
        Ok(mut r) => {
            let v = r
                .json::<Value>()
                .limit(64 << 20)
                .await
                .unwrap_or(Value::Null);
            (r.status().as_u16(), v, t.elapsed().as_secs_f64() * 1e3)
        }
        Err(_) => (0, Value::Null, t.elapsed().as_secs_f64() * 1e3),
    }
}

/// POST `…/{what}` (pause, resume) to sandbox `id`: (status, JSON body, ms).
pub(crate) async fn action(
    client: &awc::Client,
    server: &Server,
    id: &str,
    what: &str,
) -> (u16, Value, f64) {
    call(
        client,
        server,
        &format!("/v1/sandboxes/{id}/{what}"),
        &json!({}),
    )
    .await
}

pub(crate) async fn new_session(client: &awc::Client, server: &Server) -> anyhow::Result<String> {
    let (status, v, _) = call(
        client,
        server,
        "/v1/sandboxes",
        &json!({"image": "code-interpreter"}),
    )
    .await;
    if status != 201 {
        bail!("creating a session: {status} {v}");
    }
    Ok(v["id"].as_str().context("an id")?.to_owned())
}

pub(crate) fn row(what: &str, ms: &mut [f64], unit_note: &str) {
    ms.sort_by(f64::total_cmp);
    println!(
        "| {what} | {} | {:.2} | {:.2} | {:.2} | {unit_note} |",
        ms.len(),
        percentile(ms, 0.5),
        percentile(ms, 0.95),
        percentile(ms, 0.99)
    );
}

/// A running container sandbox of the `python` image (256 MiB): its id.
pub(crate) async fn new_container(client: &awc::Client, server: &Server) -> anyhow::Result<String> {
    let body = json!({"image": "python", "memory": "256Mi"});
    let (status, v, _) = call(client, server, "/v1/sandboxes", &body).await;
    if status != 201 || v["state"] != "running" {
        bail!("creating a container sandbox: {status} {v}");
    }
    Ok(v["id"].as_str().context("an id")?.to_owned())
}

pub(crate) async fn delete_sandbox(client: &awc::Client, server: &Server, id: &str) {
    let _ = client
        .delete(format!("{}/v1/sandboxes/{id}", server.base))
        .bearer_auth(&server.key)
        .send()
        .await;
}

/// CPU time of the Docker daemon so far.
pub(crate) fn dockerd_cpu() -> Duration {
    cpu_of(&["dockerd", "containerd"])
}

/// The deployment key scenarios that call a runner's internal endpoint give the server
/// (`SBX_SECRET_KEY`), to derive the runner's token from.
pub(crate) const SECRET_KEY: &str =
    "5b1d6a0e7c3f49a2b8e1d4c7a9f0e3b6d2c5a8f1e4b7d0c3a6f9e2b5d8c1a4f7";

/// The internal endpoint of `server`'s runner (`http://host:port`) and the token that opens
/// it (the server started with [`SECRET_KEY`]).
pub(crate) async fn runner_endpoint(server: &Server) -> anyhow::Result<(String, String)> {
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
    Ok((base, sbx_api::runner_endpoint::token(&sealer, runner_id)))
}

/// Print a table of latencies (ms): each row's count, p50, p90 and p99.
pub(crate) fn latency_table(rows: Vec<(&str, &mut Vec<f64>)>) {
    println!("| what | n | p50 ms | p90 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for (what, v) in rows {
        v.sort_by(f64::total_cmp);
        println!(
            "| {what} | {} | {:.2} | {:.2} | {:.2} |",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
        );
    }
}
