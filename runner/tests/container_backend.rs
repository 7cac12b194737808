//! The container backend against the real Docker daemon and the local test image: every
//! isolation property of the security model, proven from inside a container.
//!
//! These tests need dockerd and `sbx/python:local` (scripts/test provides both) and fail,
//! rather than skip, without them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sbx_runner::container::{
    ContainerBackend, ContainerExit, ContainerSpec, ExecOutput, RunnerError,
};

const IMAGE: &str = "sbx/python:local";
const CAP: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(20);

async fn backend() -> ContainerBackend {
    let backend = ContainerBackend::connect().await.unwrap_or_else(|e| {
        panic!("these tests need a Docker daemon (scripts/test starts one): {e}")
    });
    if let Err(e) = backend.docker().inspect_image(IMAGE).await {
        panic!(
            "these tests need the image {IMAGE}, built offline by scripts/test \
             (sandboxes-images/python/recipe.sh): {e}"
        );
    }
    backend
}

/// A test container and its host folders, removed when dropped, panics included.
struct Sandbox {
    backend: ContainerBackend,
    name: String,
    id: String,
    dir: PathBuf,
}

impl Sandbox {
    fn workspace(&self) -> PathBuf {
        self.dir.join("workspace")
    }

    fn outputs(&self) -> PathBuf {
        self.dir.join("outputs")
    }

    async fn sh(&self, script: &str) -> ExecOutput {
        self.run(&["sh", "-c", script], TIMEOUT).await
    }

    async fn py(&self, code: &str) -> ExecOutput {
        self.run(&["python3", "-c", code], TIMEOUT).await
    }

    async fn run(&self, cmd: &[&str], timeout: Duration) -> ExecOutput {
        let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        self.backend
            .exec(&self.id, &cmd, timeout, CAP)
            .await
            .expect("exec")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Our runtime may be the one blocked here: remove from a thread with its own runtime
        // and its own connection.
        let name = self.name.clone();
        let removed = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    ContainerBackend::connect()
                        .await?
                        .stop_and_remove(&name)
                        .await
                })
        })
        .join();
        if !matches!(removed, Ok(Ok(()))) {
            eprintln!("could not remove container {}: {removed:?}", self.name);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spec(name: &str, dir: &std::path::Path) -> ContainerSpec {
    ContainerSpec {
        name: name.to_owned(),
        image: IMAGE.to_owned(),
        command: Some(vec!["sleep".into(), "infinity".into()]),
        env: vec![("SBX_TEST".into(), "1".into())],
        cpu_millis: 1000,
        memory_bytes: 256 << 20,
        pids_limit: 64,
        network: false,
        egress: None,
        gpu: None,
        workspace: dir.join("workspace"),
        outputs: dir.join("outputs"),
        labels: vec![("sbx.test".into(), "container_backend".into())],
    }
}

/// Starts a container from the default test spec as changed by `edit`.
async fn sandbox(edit: impl FnOnce(&mut ContainerSpec)) -> Sandbox {
    let backend = backend().await;
    let name = format!("sbx-test-{}", uuid::Uuid::now_v7());
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(dir.join("workspace")).unwrap();
    std::fs::create_dir_all(dir.join("outputs")).unwrap();
    let mut spec = spec(&name, &dir);
    edit(&mut spec);
    // The guard exists before the container does: a half-done start is cleaned up too.
    let mut sandbox = Sandbox {
        backend: backend.clone(),
        name,
        id: String::new(),
        dir,
    };
    sandbox.id = backend.start(&spec).await.expect("start");
    sandbox
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(out: &ExecOutput) {
    assert_eq!(
        out.exit_code,
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(!out.timed_out && !out.truncated, "{out:?}");
}

const NETWORK_PROBE: &str = r#"
import os, socket
ifaces = sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:])
print(','.join(ifaces))
s = socket.socket()
s.settimeout(3)
try:
    s.connect(('1.1.1.1', 53))
    print('connected')
except OSError as e:
    print('failed', e.errno)
server = socket.socket()
server.bind(('127.0.0.1', 0))
server.listen()
socket.create_connection(server.getsockname(), timeout=3).sendall(b'x')
print('loopback', server.accept()[0].recv(1).decode())
print(os.readlink('/proc/self/ns/net'))
"#;

#[tokio::test]
async fn no_network_but_loopback_unless_asked() {
    let (off, on) = tokio::join!(sandbox(|_| {}), sandbox(|s| s.network = true));

    let out = off.py(NETWORK_PROBE).await;
    assert_ok(&out);
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("lo"), "interfaces: {stdout}");
    assert!(lines.next().unwrap().starts_with("failed"), "{stdout}");
    // Local servers still work (`lo` is up), in a network namespace of the sandbox's own.
    assert_eq!(lines.next(), Some("loopback x"), "{stdout}");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let ns = lines.next().unwrap();
    assert!(ns.starts_with("net:["), "{stdout}");
    assert_ne!(
        ns,
        host_ns.to_str().unwrap(),
        "the host's network namespace"
    );

    let out = on.py(NETWORK_PROBE).await;
    assert_ok(&out);
    let stdout = text(&out.stdout);
    let ifaces = stdout.lines().next().unwrap();
    assert!(
        ifaces.split(',').any(|i| i != "lo"),
        "network: true must give an interface besides lo: {ifaces}"
    );
}

#[tokio::test]
async fn no_capabilities_no_new_privileges_non_root() {
    let sb = sandbox(|_| {}).await;
    // The exec'd process and the container's init (pid 1) alike.
    for pid in ["self", "1"] {
        let out = sb
            .sh(&format!(
                "grep -E '^(Uid|Gid|CapPrm|CapEff|CapBnd|NoNewPrivs):' /proc/{pid}/status"
            ))
            .await;
        assert_ok(&out);
        let status = text(&out.stdout);
        for expected in [
            "CapEff:\t0000000000000000",
            "CapPrm:\t0000000000000000",
            "CapBnd:\t0000000000000000",
            "NoNewPrivs:\t1",
            "Uid:\t1000\t1000\t1000\t1000",
            "Gid:\t1000\t1000\t1000\t1000",
        ] {
            assert!(
                status.contains(expected),
                "/proc/{pid}/status lacks {expected:?}:\n{status}"
            );
        }
    }
    let out = sb.sh("id -u; id -g").await;
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "1000\n1000\n");
}

#[tokio::test]
async fn read_only_root_with_writable_tmp_workspace_and_outputs() {
    // A file the caller put in the workspace before the start (owned by us, root): the
    // sandbox user must be able to change it. Memory above the /tmp cap, so that filling /tmp
    // meets the cap before the memory limit.
    let sb = sandbox(|s| {
        std::fs::write(s.workspace.join("input.txt"), "in\n").unwrap();
        s.memory_bytes = 512 << 20;
    })
    .await;

    let out = sb.sh("echo x > /etc/x").await;
    assert_ne!(out.exit_code, Some(0), "the root filesystem took a write");
    assert!(
        text(&out.stderr).contains("Read-only file system"),
        "{}",
        text(&out.stderr)
    );
    let out = sb.sh("touch /usr/x").await;
    assert_ne!(out.exit_code, Some(0));

    let out = sb
        .py(
            "for p in ['/tmp/t.txt', '/workspace/w.txt', '/outputs/o.txt']:\n    \
             open(p, 'w').write('hello ' + p)\n\
             open('/workspace/input.txt', 'a').write('more\\n')\n\
             print(open('/tmp/t.txt').read())",
        )
        .await;
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "hello /tmp/t.txt\n");
    assert_eq!(
        std::fs::read_to_string(sb.workspace().join("w.txt")).unwrap(),
        "hello /workspace/w.txt"
    );
    assert_eq!(
        std::fs::read_to_string(sb.outputs().join("o.txt")).unwrap(),
        "hello /outputs/o.txt"
    );
    assert_eq!(
        std::fs::read_to_string(sb.workspace().join("input.txt")).unwrap(),
        "in\nmore\n"
    );
    // /tmp is a size-capped tmpfs: writing past 256 MiB fails.
    let out = sb
        .sh("head -c 300000000 /dev/zero > /tmp/big && echo wrote")
        .await;
    assert!(!text(&out.stdout).contains("wrote"), "{out:?}");
    assert!(
        text(&out.stderr).contains("No space left on device"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_fork_loop_hits_the_pids_limit_and_the_container_survives() {
    let sb = sandbox(|s| s.pids_limit = 32).await;
    let out = sb
        .py(r#"
import os, signal, time
kids = []
try:
    while len(kids) < 1000:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        kids.append(pid)
    print('no limit')
except OSError as e:
    print('fork failed', len(kids), e.errno)
for k in kids:
    os.kill(k, signal.SIGKILL)
for k in kids:
    os.waitpid(k, 0)
"#)
        .await;
    assert_ok(&out);
    let stdout = text(&out.stdout);
    let forked: usize = stdout
        .strip_prefix("fork failed ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the loop was not stopped: {stdout}"));
    assert!(forked < 32, "{stdout}");
    assert_eq!(
        sb.backend.inspect_running(&sb.id).await.unwrap(),
        Some(true)
    );
    assert_ok(&sb.sh("true").await);
}

const ALLOCATE_200_MB: &str = "b = b'x' * (200 << 20); print('allocated', len(b))";

#[tokio::test]
async fn the_memory_limit_kills_a_big_allocation() {
    let (sb, main) = tokio::join!(
        sandbox(|s| s.memory_bytes = 64 << 20),
        sandbox(|s| {
            s.memory_bytes = 64 << 20;
            s.command = Some(vec!["python3".into(), "-c".into(), ALLOCATE_200_MB.into()]);
        })
    );

    // In an exec: the allocation is killed, the container lives on.
    let out = sb.py(ALLOCATE_200_MB).await;
    assert_eq!(out.exit_code, Some(137), "{out:?}");
    assert!(!out.timed_out);
    assert!(!text(&out.stdout).contains("allocated"));
    assert_eq!(
        sb.backend.inspect_running(&sb.id).await.unwrap(),
        Some(true)
    );
    assert_ok(&sb.py("print(sum(range(10)))").await);

    // As the main process: wait reports the OOM kill.
    let exit = main.backend.wait(&main.id).await.unwrap();
    assert_eq!(
        exit,
        ContainerExit {
            exit_code: 137,
            oom_killed: true
        }
    );
}

/// A main process killed by SIGKILL but not for memory exits 137 and is not called an OOM
/// kill, even while another container of this test binary is OOM-killed.
#[tokio::test]
async fn a_sigkill_that_is_not_for_memory_is_no_oom_kill() {
    let main = sandbox(|s| {
        s.command = Some(vec!["sh".into(), "-c".into(), "sleep 1; kill -9 $$".into()]);
    })
    .await;
    let exit = main.backend.wait(&main.id).await.unwrap();
    assert_eq!((exit.exit_code, exit.oom_killed), (137, false), "{exit:?}");
}

#[tokio::test]
async fn exec_timeout_kills_the_command_and_its_children() {
    let sb = sandbox(|_| {}).await;
    let started = Instant::now();
    let out = sb
        .run(
            &["sh", "-c", "sleep 31 & sleep 30; echo done"],
            Duration::from_secs(1),
        )
        .await;
    let took = started.elapsed();
    assert!(out.timed_out, "{out:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(out.exit_code, Some(137));
    assert!(!text(&out.stdout).contains("done"));
    // The background child died with it.
    let out = sb
        .py("import os\n\
             print(sum(1 for p in os.listdir('/proc') if p.isdigit() \
             and open(f'/proc/{p}/cmdline', 'rb').read() == b'sleep\\x0031\\x00'))")
        .await;
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "0\n");

    // Within the limit: no timeout.
    let out = sb.run(&["sleep", "0.2"], Duration::from_secs(5)).await;
    assert_ok(&out);
}

#[tokio::test]
async fn output_is_capped_per_stream() {
    let sb = sandbox(|_| {}).await;
    let cmd: Vec<String> = [
        "python3",
        "-c",
        "import sys; sys.stdout.write('x' * 100000); sys.stderr.write('e' * 10)",
    ]
    .map(String::from)
    .to_vec();
    let out = sb.backend.exec(&sb.id, &cmd, TIMEOUT, 1000).await.unwrap();
    assert!(out.truncated);
    assert!(!out.timed_out);
    assert_eq!(out.stdout, vec![b'x'; 1000]);
    // Past the cap the command is stopped: killed, unless it was done by then.
    assert!(matches!(out.exit_code, Some(0 | 137)), "{out:?}");

    // Within the cap, both streams whole.
    let cmd: Vec<String> = [
        "python3",
        "-c",
        "import sys; sys.stdout.write('x' * 999); sys.stderr.write('e' * 10)",
    ]
    .map(String::from)
    .to_vec();
    let out = sb.backend.exec(&sb.id, &cmd, TIMEOUT, 1000).await.unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(!out.truncated);
    assert_eq!(out.stderr, b"eeeeeeeeee");

    // A writer that never stops ends at the cap, not at its time limit.
    let yes = ["yes"].map(String::from).to_vec();
    let out = sb.backend.exec(&sb.id, &yes, TIMEOUT, 1000).await.unwrap();
    assert!(out.truncated && !out.timed_out, "{out:?}");
    assert!(out.elapsed < Duration::from_secs(5), "{out:?}");
    let left = sb
        .sh("cat /proc/[0-9]*/comm | grep -c '^yes$' || true")
        .await;
    assert_eq!(text(&left.stdout), "0\n", "the writer was killed");
}

#[tokio::test]
async fn stats_report_cpu_and_memory() {
    let sb = sandbox(|_| {}).await;
    // Some CPU time and resident memory (tmpfs pages count for the cgroup).
    assert_ok(
        &sb.sh("head -c 20000000 /dev/zero > /tmp/fill && python3 -c 'sum(range(10**6))'")
            .await,
    );
    let sample = sb.backend.stats(&sb.id).await.unwrap();
    assert!(sample.memory_bytes > 10_000_000, "{sample:?}");
    assert!(sample.cpu_total_ns > 0, "{sample:?}");
    assert!(sample.pids >= 2, "{sample:?}");
}

#[tokio::test]
async fn wait_reports_the_exit_code_and_logs_keep_the_output() {
    let sb = sandbox(|s| {
        s.command = Some(
            [
                "python3",
                "-c",
                "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)",
            ]
            .map(String::from)
            .to_vec(),
        )
    })
    .await;
    let exit = sb.backend.wait(&sb.id).await.unwrap();
    assert_eq!(
        exit,
        ContainerExit {
            exit_code: 3,
            oom_killed: false
        }
    );
    assert_eq!(
        sb.backend.inspect_running(&sb.id).await.unwrap(),
        Some(false)
    );

    let mut logs = sb.backend.logs(&sb.id, true, None);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(chunk) = tokio::time::timeout(TIMEOUT, logs.next())
        .await
        .expect("logs of an exited container end")
    {
        let timed = chunk.unwrap();
        assert!(timed.at <= chrono::Utc::now(), "{timed:?}");
        let chunk = timed.chunk;
        match chunk.stream {
            sbx_core::OutputStream::Stdout => stdout.extend_from_slice(&chunk.data),
            sbx_core::OutputStream::Stderr => stderr.extend_from_slice(&chunk.data),
        }
    }
    assert_eq!(text(&stdout), "to stdout\n");
    assert_eq!(text(&stderr), "to stderr\n");
}

#[tokio::test]
async fn removal_is_idempotent() {
    let sb = sandbox(|_| {}).await;
    assert_eq!(
        sb.backend.inspect_running(&sb.id).await.unwrap(),
        Some(true)
    );
    sb.backend.stop_and_remove(&sb.id).await.unwrap();
    assert_eq!(sb.backend.inspect_running(&sb.id).await.unwrap(), None);
    sb.backend.stop_and_remove(&sb.id).await.unwrap();
    let err = sb
        .backend
        .exec(&sb.id, &["true".into()], TIMEOUT, CAP)
        .await
        .unwrap_err();
    assert!(matches!(err, RunnerError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn images_present_missing_and_unpullable() {
    let backend = backend().await;
    backend.ensure_image(IMAGE, None).await.unwrap();

    let missing = format!("sbx-test/missing-{}:v1", uuid::Uuid::now_v7());
    let started = Instant::now();
    let err = backend.ensure_image(&missing, None).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    let RunnerError::ImagePullFailed(message) = &err else {
        panic!("expected ImagePullFailed, got {err:?}");
    };
    assert!(!message.is_empty());
    assert!(
        err.to_string().starts_with("pulling the image failed: "),
        "{err}"
    );

    // start does not pull: a missing image says so.
    let name = format!("sbx-test-{}", uuid::Uuid::now_v7());
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(dir.join("workspace")).unwrap();
    std::fs::create_dir_all(dir.join("outputs")).unwrap();
    let mut spec = spec(&name, &dir);
    spec.image = missing.clone();
    let err = backend.start(&spec).await.unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(&err, RunnerError::ImageMissing(i) if *i == missing),
        "{err:?}"
    );
}

/// gVisor is the default only where it is registered and passes its check; the check says
/// what failed when it does not.
#[tokio::test]
async fn gvisor_is_the_default_only_where_it_passes_its_check() {
    use sbx_runner::container::runtime::{ContainerRuntime, probe};
    let b = backend().await;
    let info = b.docker().info().await.unwrap();
    let registered = info
        .runtimes
        .as_ref()
        .is_some_and(|r| r.contains_key("runsc") && r.contains_key("runsc-net"));
    let chosen = ContainerRuntime::choose(b.docker(), None, Some(IMAGE))
        .await
        .unwrap();
    if !registered {
        assert_eq!(chosen, ContainerRuntime::Runc);
        return;
    }
    let checked = probe(b.docker(), IMAGE).await;
    eprintln!("gVisor's check here: {checked:?}");
    assert_eq!(
        chosen == ContainerRuntime::Gvisor,
        checked.is_ok(),
        "{checked:?}"
    );
    assert_eq!(
        ContainerRuntime::choose(b.docker(), Some("runsc"), Some(IMAGE))
            .await
            .unwrap(),
        ContainerRuntime::Gvisor,
        "asked for, it is used whatever the check says"
    );
    assert!(
        ContainerRuntime::choose(b.docker(), Some("kata"), None)
            .await
            .is_err()
    );
}
