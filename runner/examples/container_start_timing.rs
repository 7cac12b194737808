//! How long `ContainerBackend::start` takes to bring up a keep-alive container on
//! `sbx/python:local`, against `docker run -d` of the same container (same isolation flags)
//! through the CLI. Prints medians and ranges of ten runs each; asserts nothing.
//!
//! ```sh
//! cargo run --release -p sbx-runner --example container_start_timing
//! ```

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sbx_runner::container::{ContainerBackend, ContainerSpec};

const IMAGE: &str = "sbx/python:local";
const RUNS: usize = 10;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = ContainerBackend::connect().await?;
    backend.ensure_image(IMAGE, None).await?;
    let dir = std::env::temp_dir().join(format!("sbx-timing-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("workspace"))?;
    std::fs::create_dir_all(dir.join("outputs"))?;

    let mut ours = Vec::new();
    let mut cli = Vec::new();
    // Interleaved, so that both see the same daemon state; one warm-up of each first.
    for i in 0..=RUNS {
        let name = format!("sbx-timing-{}", uuid::Uuid::now_v7());
        let spec = spec(&name, &dir);
        let started = Instant::now();
        let id = backend.start(&spec).await?;
        let took = started.elapsed();
        assert_eq!(backend.inspect_running(&id).await?, Some(true));
        backend.stop_and_remove(&id).await?;

        let name = format!("sbx-timing-{}", uuid::Uuid::now_v7());
        let started = Instant::now();
        let status = docker_run(&name, &dir)?;
        let took_cli = started.elapsed();
        backend.stop_and_remove(&name).await?;
        if !status.success() {
            return Err(format!("docker run failed: {status}").into());
        }
        if i > 0 {
            ours.push(took);
            cli.push(took_cli);
        }
    }
    std::fs::remove_dir_all(&dir)?;
    report("ContainerBackend::start", &mut ours);
    report("docker run -d (CLI)", &mut cli);
    Ok(())
}

fn spec(name: &str, dir: &Path) -> ContainerSpec {
    ContainerSpec {
        name: name.to_owned(),
        image: IMAGE.to_owned(),
        command: Some(vec!["sleep".into(), "infinity".into()]),
        env: vec![],
        cpu_millis: 1000,
        memory_bytes: 512 << 20,
        pids_limit: 128,
        network: false,
        egress: None,
        gpu: None,
        workspace: dir.join("workspace"),
        outputs: dir.join("outputs"),
        labels: vec![],
    }
}

/// The CLI equivalent of what `ContainerBackend::start` asks for.
fn docker_run(name: &str, dir: &Path) -> std::io::Result<std::process::ExitStatus> {
    let bind = |sub: &str, target: &str| {
        format!(
            "type=bind,source={},target={target}",
            dir.join(sub).display()
        )
    };
    Command::new("docker")
        .args(["run", "-d", "--quiet", "--name", name])
        .args(["--network", "none", "--cap-drop", "ALL"])
        .args(["--security-opt", "no-new-privileges", "--pids-limit", "128"])
        .args(["--cpus", "1", "--memory", "512m", "--memory-swap", "512m"])
        .args([
            "--read-only",
            "--tmpfs",
            "/tmp:rw,exec,nosuid,nodev,size=256m,mode=1777",
        ])
        .args(["--mount", &bind("workspace", "/workspace")])
        .args(["--mount", &bind("outputs", "/outputs")])
        .args(["--user", "1000:1000", "--init", "--workdir", "/workspace"])
        .args([
            "--label",
            "sbx=1",
            "--log-opt",
            "max-size=16m",
            "--log-opt",
            "max-file=2",
        ])
        .args([IMAGE, "sleep", "infinity"])
        .stdout(std::process::Stdio::null())
        .status()
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = (ms(times[times.len() / 2 - 1]) + ms(times[times.len() / 2])) / 2.0;
    println!(
        "{what:<26} median {median:6.1} ms  (min {:6.1}, max {:6.1}, n = {})",
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}
