//! Load scenarios against a real `sbx serve` process on this machine, each printing a table:
//!
//! - `burst`: tool calls, N concurrent clients on `POST /v1/exec`;
//! - `batch`: one batch of 10 000 Python items end to end, against the backend's own rate;
//! - `rate-limited`: a key far over its rate: what each 429 costs the server;
//! - `queue`: no-op jobs straight into the queue: jobs/s claimed and completed, add → start.
//! - `containers`: container sandboxes on the local Docker: create → running against a bare
//!   `docker run` of the same image, 20 concurrent creates, pause and resume, the meter's CPU.
//! - `sessions`: code-interpreter sandboxes: call latency against a fresh exec, pause and
//!   resume of a pandas session, memory per idle and paused session, many sessions open.
//!
//! Each scenario makes its own database on the PostgreSQL at `SBX_DATABASE_URL`, starts
//! `sbx serve` (the binary beside this one) against it on a free loopback port, and drops the
//! database at the end. Run them with `scripts/loadtest SCENARIO [flags]`, which sets up and
//! builds first. Loopback only, bounded in count and time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "sbx load scenarios")]
enum Scenario {
    /// N concurrent clients calling POST /v1/exec.
    Burst {
        /// Clients sending at once.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Requests in all.
        #[arg(long, default_value_t = 3000)]
        requests: usize,
        /// The Python each call runs.
        #[arg(long, default_value = "print(1+1)")]
        code: String,
    },
    /// One batch of small Python items, end to end.
    Batch {
        /// Items in the batch.
        #[arg(long, default_value_t = 10_000)]
        items: usize,
    },
    /// Requests far over the key's rate limit.
    RateLimited {
        /// Requests in all.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Clients sending at once.
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
    /// No-op jobs straight into the queue.
    Queue {
        /// Jobs queued at once for the throughput figure.
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Jobs per second queued one at a time for the add → start figure.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// The runner's slots (`SBX_RUNNER_SLOTS`).
        #[arg(long, default_value_t = 16)]
        slots: usize,
    },
    /// Container sandboxes (image `python`, the local build).
    Containers {
        /// Sequential creates timed.
        #[arg(long, default_value_t = 20)]
        creates: usize,
        /// Concurrent creates.
        #[arg(long, default_value_t = 20)]
        concurrent: usize,
        /// Live sandboxes for the meter's CPU figure.
        #[arg(long, default_value_t = 100)]
        live: usize,
    },
    /// The meter's error over a long run: container sandboxes live for `secs`, half of them
    /// paused for the last tenth; each one's metered seconds against its recorded states.
    Meter {
        /// Sandboxes metered.
        #[arg(long, default_value_t = 10)]
        sandboxes: usize,
        /// Seconds they run.
        #[arg(long, default_value_t = 3600)]
        secs: u64,
    },
    /// Code-interpreter sessions.
    Sessions {
        /// Sequential calls timed, for the call latency.
        #[arg(long, default_value_t = 1000)]
        calls: usize,
        /// Pause/resume cycles timed.
        #[arg(long, default_value_t = 30)]
        cycles: usize,
        /// Sessions opened for the memory figures.
        #[arg(long, default_value_t = 50)]
        idle: usize,
        /// Sessions opened in all for the capacity figure.
        #[arg(long, default_value_t = 1000)]
        open: usize,
    },
}

/// A WASI command that does nothing: the job the queue scenario runs.
const NOOP_MODULE: &str = "(module (func (export \"_start\")))";

/// A `sbx serve` process on its own database, with a project and key.
struct Server {
    child: Child,
    base: String,
    key: String,
    pool: sbx_store::Pool,
    project: sbx_core::ids::ProjectId,
    admin_url: String,
    database: String,
}

impl Server {
    async fn start(env: &[(&str, &str)]) -> anyhow::Result<Self> {
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
    fn cpu(&self) -> Duration {
        process_cpu(&self.child.id().to_string())
    }

    async fn stop(mut self) -> anyhow::Result<()> {
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
fn process_cpu(pid: &str) -> Duration {
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
fn database_cpu() -> Duration {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.bytes().all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
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

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(120))
        .finish()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Send `requests` POSTs of `body` to `path` from `clients` concurrent clients. Returns each
/// request's (status, latency ms) and the wall time.
async fn hammer(
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

fn latencies(results: &[(u16, f64)], status: impl Fn(u16) -> bool) -> Vec<f64> {
    let mut ms: Vec<f64> = results
        .iter()
        .filter(|(s, _)| status(*s))
        .map(|r| r.1)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

async fn burst(clients: usize, requests: usize, code: String) -> anyhow::Result<()> {
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

async fn batch(items: usize) -> anyhow::Result<()> {
    let item_code = |i: usize| format!("print({i} * 2)");
    // The backend's own rate on this machine, in this run: the batch's ceiling.
    let baseline = {
        let url = std::env::var("SBX_DATABASE_URL")?;
        let mut settings = sbx::Settings::with_database(url);
        if let Some(d) = std::env::var_os("SBX_DATA_DIR") {
            settings.data_dir = PathBuf::from(d);
        }
        let backend = Arc::new(sbx::app::wasm_backend(&settings)?);
        let in_flight = 2 * settings.wasm_threads();
        let deadline = Instant::now() + Duration::from_secs(5);
        let started = Instant::now();
        let tasks = (0..in_flight).map(|w| {
            let backend = backend.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let spec = sbx_core::exec::ExecSpec::python(item_code(w));
                    use sbx_core::Backend as _;
                    backend
                        .run(spec, Default::default(), Default::default())
                        .await
                        .expect("an in-process exec");
                    done += 1;
                }
                done
            })
        });
        let mut done = 0;
        for t in tasks {
            done += t.await?;
        }
        done as f64 / started.elapsed().as_secs_f64()
    };

    // The agent's calls go back to back, faster than the default rate limit allows: this
    // scenario measures how the batch slows them, not the limiter.
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "1000000"),
        ("SBX_RATE_BURST", "1000000"),
    ])
    .await?;
    // Another project's tool calls: their latency idle, then while the batch runs.
    let other = sbx_store::projects::create(&server.pool, "interactive", None)
        .await?
        .project_id;
    let (_, other_key) = sbx_store::keys::create(&server.pool, other, "interactive").await?;
    let tool_call = {
        let (client, url) = (client(), format!("{}/v1/exec", server.base));
        move || {
            let (client, url, key) = (client.clone(), url.clone(), other_key.clone());
            async move {
                let t = Instant::now();
                let mut r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .send_json(&json!({"language": "python", "code": "print(1+1)"}))
                    .await
                    .map_err(|e| anyhow::anyhow!("POST /v1/exec: {e}"))?;
                let body = r.body().await.unwrap_or_default();
                let total = t.elapsed().as_secs_f64() * 1e3;
                anyhow::ensure!(r.status().is_success(), "POST /v1/exec: {}", r.status());
                // The exec as the server timed it: what is left is the way there and back.
                let exec: Value = serde_json::from_slice(&body)?;
                anyhow::Ok((total, exec["duration_ms"].as_f64().unwrap_or(f64::NAN)))
            }
        }
    };
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(tool_call().await?);
    }
    println!(
        "\nOne batch of {items} items (`print(i * 2)`, expected output checked): alone, then with"
    );
    println!("another project's tool calls running back to back\n");
    println!(
        "| run | items | accepted in | done in | items/s | in-process execs/s | ratio | counts | result rows | distinct ids |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    let mut busy = Vec::new();
    for (run, calls) in [("alone", false), ("with tool calls", true)] {
        let body = json!({"items": (0..items).map(|i| json!({
            "id": i.to_string(), "code": item_code(i), "expected_stdout": (i * 2).to_string(),
        })).collect::<Vec<_>>()});
        let client = client();
        let started = Instant::now();
        let mut r = client
            .post(format!("{}/v1/batches", server.base))
            .bearer_auth(&server.key)
            .send_json(&body)
            .await
            .map_err(|e| anyhow::anyhow!("POST /v1/batches: {e}"))?;
        let created: Value = r.json().limit(16 << 20).await?;
        let accepted = started.elapsed();
        let id = created["id"]
            .as_str()
            .with_context(|| format!("{created}"))?
            .to_owned();
        let summary = loop {
            let mut r = client
                .get(format!("{}/v1/batches/{id}", server.base))
                .bearer_auth(&server.key)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GET the batch: {e}"))?;
            let b: Value = r.json().await?;
            if b["status"] != "running" {
                break b;
            }
            let until = Instant::now() + Duration::from_millis(100);
            if calls {
                // One tool call of the other project at a time, as an agent makes them.
                while Instant::now() < until {
                    busy.push(tool_call().await?);
                }
            } else {
                tokio::time::sleep_until(until.into()).await;
            }
        };
        let wall = started.elapsed();
        let mut r = client
            .get(format!("{}/v1/batches/{id}/results", server.base))
            .bearer_auth(&server.key)
            .insert_header(("accept", "application/x-ndjson"))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GET the results: {e}"))?;
        let lines = r.body().limit(256 << 20).await?;
        let mut ids = std::collections::HashSet::new();
        let mut rows = 0;
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line)?;
            ids.insert(v["id"].as_str().unwrap_or_default().to_owned());
            rows += 1;
        }
        let rate = items as f64 / wall.as_secs_f64();
        println!(
            "| {run} | {items} | {:.2} s | {:.2} s | {rate:.0} | {baseline:.0} | {:.2} | {} | {rows} | {} |",
            accepted.as_secs_f64(),
            wall.as_secs_f64(),
            rate / baseline,
            summary["counts"],
            ids.len()
        );
    }
    let split = |calls: &[(f64, f64)]| {
        let (mut total, mut exec): (Vec<f64>, Vec<f64>) = calls.iter().copied().unzip();
        total.sort_by(f64::total_cmp);
        exec.sort_by(f64::total_cmp);
        (total, exec)
    };
    let (idle, idle_exec) = split(&idle);
    let (busy, busy_exec) = split(&busy);
    println!("\nAnother project's `POST /v1/exec` of `print(1+1)`, one at a time\n");
    println!(
        "| when | calls | p50 ms | p95 ms | p99 ms | p50 vs idle | exec p50 ms (server's duration_ms) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (when, ms, exec) in [
        ("idle", &idle, &idle_exec),
        ("during the batch", &busy, &busy_exec),
    ] {
        println!(
            "| {when} | {} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2} |",
            ms.len(),
            percentile(ms, 0.5),
            percentile(ms, 0.95),
            percentile(ms, 0.99),
            percentile(ms, 0.5) / percentile(&idle, 0.5),
            percentile(exec, 0.5),
        );
    }
    server.stop().await
}

async fn rate_limited(requests: usize, clients: usize) -> anyhow::Result<()> {
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

fn noop_job() -> sbx_store::queue::NewJob {
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

async fn enqueue(server: &Server, n: usize) -> anyhow::Result<()> {
    let key = sbx_store::keys::list(&server.pool, server.project).await?[0].api_key_id;
    let jobs: Vec<_> = (0..n).map(|_| noop_job()).collect();
    let mut client = server.pool.get().await?;
    for chunk in jobs.chunks(1000) {
        let tx = client.transaction().await?;
        sbx_store::queue::enqueue(&tx, server.project, key, chunk).await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn wait_finished(server: &Server, n: i64) -> anyhow::Result<()> {
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

async fn queue(jobs: usize, rate: u64, slots: usize) -> anyhow::Result<()> {
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
    let statuses = client
        .query(
            "select status, count(*) from jobs group by status order by 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| format!("{} {}", r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect::<Vec<_>>()
        .join(", ");
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

/// Resident memory of process `pid` (its proportional share of shared pages included), bytes.
fn process_pss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}

/// POST `body` to `path` with the server's key: (status, JSON body, ms).
async fn call(
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
async fn action(client: &awc::Client, server: &Server, id: &str, what: &str) -> (u16, Value, f64) {
    call(
        client,
        server,
        &format!("/v1/sandboxes/{id}/{what}"),
        &json!({}),
    )
    .await
}

async fn new_session(client: &awc::Client, server: &Server) -> anyhow::Result<String> {
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

fn row(what: &str, ms: &mut [f64], unit_note: &str) {
    ms.sort_by(f64::total_cmp);
    println!(
        "| {what} | {} | {:.2} | {:.2} | {:.2} | {unit_note} |",
        ms.len(),
        percentile(ms, 0.5),
        percentile(ms, 0.95),
        percentile(ms, 0.99)
    );
}

async fn sessions(calls: usize, cycles: usize, idle: usize, open: usize) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "1000000"),
        ("SBX_RATE_BURST", "1000000"),
    ])
    .await?;
    let client = client();
    let pid = server.child.id();

    // Call latency: one client, one session, `x + 1`; against a fresh exec of `print(1+1)`.
    let id = new_session(&client, &server).await?;
    let exec_path = format!("/v1/sandboxes/{id}/exec");
    call(&client, &server, &exec_path, &json!({"code": "x = 1"})).await;
    let mut session_ms = Vec::new();
    let mut fresh_ms = Vec::new();
    let mut errors = 0;
    for i in 0..calls + 50 {
        let (s1, v, ms1) = call(&client, &server, &exec_path, &json!({"code": "x + 1"})).await;
        let (s2, _, ms2) = call(
            &client,
            &server,
            "/v1/exec",
            &json!({"language": "python", "code": "print(1+1)"}),
        )
        .await;
        if s1 != 200 || v["result"] != "2" || s2 != 200 {
            errors += 1;
        }
        if i >= 50 {
            session_ms.push(ms1);
            fresh_ms.push(ms2);
        }
    }
    println!("\nCode-interpreter sessions over HTTP, one client ({errors} errors)\n");
    println!("| what | n | p50 ms | p95 ms | p99 ms | note |");
    println!("|---|---:|---:|---:|---:|---|");
    row(
        "session call `x + 1`",
        &mut session_ms,
        "same session, state kept",
    );
    row(
        "fresh exec `print(1+1)` (baseline)",
        &mut fresh_ms,
        "`POST /v1/exec`, same run",
    );

    // Pause and resume of a session that has imported pandas and holds a frame.
    let id = new_session(&client, &server).await?;
    let path = |what: &str| format!("/v1/sandboxes/{id}/{what}");
    let (s, v, _) = call(
        &client,
        &server,
        &path("exec"),
        &json!({"code": "import pandas as pd, numpy as np\ndf = pd.DataFrame({'a': np.arange(10000), 'b': np.random.rand(10000)})\nn = 0"}),
    )
    .await;
    if s != 200 || v["status"] != "succeeded" {
        bail!("preparing the pandas session: {v}");
    }
    let (mut pause_ms, mut resume_ms, mut first_call_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut snapshot_bytes = Vec::new();
    for _ in 0..cycles {
        call(&client, &server, &path("exec"), &json!({"code": "n += 1"})).await;
        let (s1, v, ms) = call(&client, &server, &path("pause"), &json!({})).await;
        pause_ms.push(ms);
        snapshot_bytes.push(v["snapshot_bytes"].as_f64().unwrap_or(f64::NAN));
        let (s2, _, ms) = call(&client, &server, &path("resume"), &json!({})).await;
        resume_ms.push(ms);
        let (s3, v, ms) = call(
            &client,
            &server,
            &path("exec"),
            &json!({"code": "int(df.a.sum()) + n"}),
        )
        .await;
        first_call_ms.push(ms);
        if s1 != 200 || s2 != 200 || s3 != 200 || v["status"] != "succeeded" {
            bail!("a pause/resume cycle failed: {s1} {s2} {s3} {v}");
        }
    }
    row(
        "pause (pandas session, `POST …/pause`)",
        &mut pause_ms,
        "snapshot written to PostgreSQL",
    );
    row(
        "resume (`POST …/resume`)",
        &mut resume_ms,
        "snapshot read and restored",
    );
    row(
        "first call after resume",
        &mut first_call_ms,
        "`int(df.a.sum()) + n`",
    );
    snapshot_bytes.sort_by(f64::total_cmp);
    println!(
        "\nSnapshot of that session: {:.2} MiB (median of {cycles}).",
        percentile(&snapshot_bytes, 0.5) / 1048576.0
    );

    // Memory: the server's resident memory (PSS) with `idle` more sessions live, then paused.
    let before = process_pss(pid);
    let mut ids = Vec::new();
    for _ in 0..idle {
        let id = new_session(&client, &server).await?;
        call(
            &client,
            &server,
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"code": "import pandas as pd\ndf = pd.DataFrame({'a': range(100)})\nx = 1"}),
        )
        .await;
        ids.push(id);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let live = process_pss(pid);
    for id in &ids {
        action(&client, &server, id, "pause").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paused = process_pss(pid);
    let snap: i64 = server
        .pool
        .get()
        .await?
        .query_one(
            "select coalesce(sum(length(data)), 0)::bigint from sandbox_snapshots",
            &[],
        )
        .await?
        .get(0);
    println!("\n| memory | per session |\n|---|---:|");
    println!(
        "| resident, idle live session (pandas imported, a frame) | {:.1} MiB |",
        (live.saturating_sub(before)) as f64 / idle as f64 / 1048576.0
    );
    println!(
        "| resident, paused session | {:.2} MiB |",
        (paused.saturating_sub(before)) as f64 / idle as f64 / 1048576.0
    );
    println!(
        "| paused session's snapshot in PostgreSQL | {:.2} MiB |",
        snap as f64 / (idle + 1) as f64 / 1048576.0
    );

    // Capacity: `open` sessions, each with its own state, 8 clients at once; the idle ones are
    // paused as the live cap is reached and resumed when called again.
    let started = Instant::now();
    let made = std::sync::Mutex::new(Vec::new());
    let failures = std::sync::atomic::AtomicUsize::new(0);
    let workers = (0..8).map(|w| {
        let (client, server, made, failures) = (&client, &server, &made, &failures);
        async move {
            for n in (w..open).step_by(8) {
                match new_session(client, server).await {
                    Ok(id) => {
                        let (s, v, _) = call(
                            client,
                            server,
                            &format!("/v1/sandboxes/{id}/exec"),
                            &json!({"code": format!("v = {n}")}),
                        )
                        .await;
                        if s != 200 || v["status"] != "succeeded" {
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        made.lock().unwrap().push((n, id));
                    }
                    Err(_) => {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
    });
    futures_util::future::join_all(workers).await;
    let opened = started.elapsed();
    let peak = process_pss(pid);
    let made = made.into_inner().unwrap();
    let mut wrong = 0;
    for (n, id) in made.iter().step_by((made.len() / 100).max(1)) {
        let (s, v, _) = call(
            &client,
            &server,
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"code": "v"}),
        )
        .await;
        if s != 200 || v["result"].as_str() != Some(n.to_string().as_str()) {
            wrong += 1;
        }
    }
    let states = server
        .pool
        .get()
        .await?
        .query(
            "select state, count(*) from sandboxes group by 1 order by 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| format!("{} {}", r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "\n{} sessions opened and called by 8 clients in {:.1} s: {} errors; 100 sampled afterwards, {wrong} wrong; server PSS {:.0} MiB at the end; states: {states}.",
        made.len(),
        opened.as_secs_f64(),
        failures.into_inner(),
        peak as f64 / 1048576.0
    );
    server.stop().await
}

async fn delete_sandbox(client: &awc::Client, server: &Server, id: &str) {
    let _ = client
        .delete(format!("{}/v1/sandboxes/{id}", server.base))
        .bearer_auth(&server.key)
        .send()
        .await;
}

/// Milliseconds `docker run -d` of `image` takes until the container runs (the CLI returns
/// once it started), with the isolation flags sbx uses; the container is removed after.
fn docker_run_ms(image: &str) -> anyhow::Result<f64> {
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

async fn containers(creates: usize, concurrent: usize, live: usize) -> anyhow::Result<()> {
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

async fn meter(sandboxes: usize, secs: u64) -> anyhow::Result<()> {
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

/// CPU time of the Docker daemon so far.
fn dockerd_cpu() -> Duration {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.bytes().all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "dockerd" || c.trim() == "containerd")
        {
            total += process_cpu(&pid);
        }
    }
    total
}

fn main() -> anyhow::Result<()> {
    let scenario = Scenario::parse();
    actix_web::rt::System::new().block_on(async {
        match scenario {
            Scenario::Burst {
                clients,
                requests,
                code,
            } => burst(clients, requests, code).await,
            Scenario::Batch { items } => batch(items).await,
            Scenario::RateLimited { requests, clients } => rate_limited(requests, clients).await,
            Scenario::Queue { jobs, rate, slots } => queue(jobs, rate, slots).await,
            Scenario::Containers {
                creates,
                concurrent,
                live,
            } => containers(creates, concurrent, live).await,
            Scenario::Meter { sandboxes, secs } => meter(sandboxes, secs).await,
            Scenario::Sessions {
                calls,
                cycles,
                idle,
                open,
            } => sessions(calls, cycles, idle, open).await,
        }
    })
}
