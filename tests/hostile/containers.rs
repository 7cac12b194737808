//! Hostile commands in container sandboxes (`POST /v1/sandboxes/{id}/exec`): run in order
//! in one sandbox, which must answer each and go on.

use serde_json::json;

use crate::cases::{Case, Found, case};
use crate::common::TestApp;
use crate::wasm::SECRETS;

/// The container corpus, in the order it runs.
pub fn cases() -> Vec<Case> {
    let t = |ms: u64| json!({"timeout_ms": ms});
    vec![
        // Time, memory, processes.
        case("cpu spin", "while :; do :; done", "timeout").with(t(500)),
        case("sleep", "sleep 60", "timeout").with(t(500)),
        case("memory bomb", "python3 -c 'x = bytearray(1 << 31)'", "failed"),
        case("memory growth", "python3 -c 'l = []\nwhile True: l.append(bytearray(1 << 20))'", "failed").with(t(20000)),
        case("thread bomb", "python3 -c 'import threading, time\nfor i in range(10000): threading.Thread(target=time.sleep, args=(30,)).start()'", "timeout").with(t(5000)),
        case("after the bombs", "echo alive", "succeeded").out_is("alive\n"),
        // Output.
        case("stdout flood", "yes xxxxxxxxxxxxxxxx", "output_limit").with(json!({"output_limit_bytes": 65536, "timeout_ms": 30000})),
        case("stderr flood", "yes yyyy >&2", "output_limit").with(json!({"output_limit_bytes": 65536, "timeout_ms": 30000})),
        case("floods stopped", "sleep 1; cat /proc/[0-9]*/comm | grep -c '^yes$' || true", "succeeded").out_is("0\n"),
        // Disk.
        case("disk fill", "dd if=/dev/zero of=/workspace/big bs=1M count=100", "failed").said("No space left"),
        case("outputs fill", "dd if=/dev/zero of=/outputs/big bs=1M count=100", "failed").said("No space left"),
        case("disk freed", "rm -f /workspace/big /outputs/big && echo ok", "succeeded").out_is("ok\n"),
        case("inode fill", "i=0; while true >/workspace/f$i; do i=$((i+1)); done; exit 1", "failed").said("No space left").with(t(60000)),
        case("inodes freed", "find /workspace -name 'f*' -delete && echo ok", "succeeded").out_is("ok\n"),
        // /tmp is a tmpfs whose pages count against the sandbox's memory (256 MiB here): the
        // writer is killed by the memory limit before the tmpfs is full.
        case("tmp fill", "dd if=/dev/zero of=/tmp/big bs=1M count=400; rm -f /tmp/big; exit 1", "failed").said("Killed"),
        case("huge sparse file", "truncate -s 1T /workspace/sparse && rm /workspace/sparse && echo ok", "succeeded").out_is("ok\n"),
        case("descriptors", "python3 -c 'fs = []\ntry:\n    while True: fs.append(open(\"/dev/null\"))\nexcept OSError as e: print(\"stopped\", e.errno)'", "succeeded").out("stopped 24"),
        // Privileges.
        case("read shadow", "cat /etc/shadow", "failed"),
        case("write etc", "echo x > /etc/x", "failed"),
        case("write usr", "touch /usr/bin/x", "failed"),
        case("mount", "mount -t tmpfs none /mnt", "failed"),
        case("unshare", "unshare -r true", "failed"),
        case("chroot", "chroot / true", "failed"),
        case("setuid binary", "su -c id root </dev/null", "failed"),
        case("setuid bit", "cp /bin/sh /workspace/sh && chmod u+s /workspace/sh && /workspace/sh -p -c 'id -u'", "succeeded").out_is("1000\n"),
        // Its own processes, as in any container (gdb works); nothing else is visible to it.
        case("ptrace", "python3 -c 'import ctypes; print(ctypes.CDLL(None).ptrace(16, 1, 0, 0))'", "succeeded").out_is("0\n"),
        case("set the clock", "date -s '2001-01-01'", "failed"),
        case("hostname", "hostname evil", "failed"),
        case("raw socket", "python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)'", "failed"),
        case("sysrq", "echo b > /proc/sysrq-trigger", "failed"),
        case("kcore", "head -c 1 /proc/kcore", "failed"),
        case("sysctl", "echo 1 > /proc/sys/net/ipv4/ip_forward", "failed"),
        case("cgroup escape", "echo /x > /sys/fs/cgroup/memory/release_agent", "failed"),
        case("devices", "head -c 1 /dev/sda || head -c 1 /dev/vda || head -c 1 /dev/mem", "failed"),
        case("docker socket", "test -e /var/run/docker.sock", "failed"),
        case("kill every process it can", "kill -9 -1; echo done", "failed").code(137),
        // PID 1 ignores signals from inside its namespace: the sandbox goes on.
        case("kill pid 1", "kill -9 1; sleep 0.5; echo alive", "succeeded").out_is("alive\n"),
        // Network.
        case("socket", "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=2)'", "failed"),
        case("dns", "getent hosts example.com", "failed"),
        // What it may see.
        case("environment", "env", "succeeded").absent(SECRETS),
        case("host processes", "ls /proc | grep -c '^[0-9]'", "succeeded"),
        case("symlink to root", "ln -sf / /workspace/root && cat /workspace/root/etc/hostname >/dev/null && echo own-root", "succeeded").out_is("own-root\n"),
        case("entropy", "head -c 10000000 /dev/urandom | wc -c", "succeeded").out_is("10000000\n"),
        // Output that tries to pass for something else.
        case("forged sse", "printf 'event: end\\ndata: {}\\n\\nid: end\\n'", "succeeded").out_is("event: end\ndata: {}\n\nid: end\n"),
        case("bad utf-8", "printf 'a\\377b\\000c'", "succeeded").out_is("a\u{fffd}b\u{fffd}c"),
        case("still answering", "echo alive", "succeeded").out_is("alive\n"),
    ]
}

/// A fork bomb, in a sandbox of its own: the pids limit (512) holds and the bomb fizzles.
/// What it left running (processes a command starts in the background outlive it) is bounded
/// by the sandbox's pids and CPU limits and ends with the sandbox, which is deleted at once.
fn fork_bomb() -> Case {
    case("fork bomb", "f() { f | f & }; f; sleep 2", "succeeded")
        .said("Cannot fork")
        .with(json!({"timeout_ms": 5000}))
}

/// Run the container corpus.
pub async fn run_all(app: &TestApp) -> Found {
    let sandbox = |extra: serde_json::Value| async move {
        let mut body = json!({"image": "python", "cpu": 0.5, "memory": "256Mi", "disk": "32Mi"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let a = app.post("/v1/sandboxes", &body).await;
        assert_eq!(a.body["state"], "running", "{}", a.text);
        a.body["id"].as_str().unwrap().to_owned()
    };
    let id = sandbox(json!({})).await;
    let mut found = Found::default();
    for c in cases() {
        let base = json!({"command": ["sh", "-c", c.code], "timeout_ms": 10000});
        let outcome = crate::cases::post(app, &format!("/v1/sandboxes/{id}/exec"), base, &c).await;
        found.record(&c, &outcome);
    }
    crate::common::delete_sandbox(app, &id).await;

    let id = sandbox(json!({"cpu": 0.25})).await;
    let bomb = fork_bomb();
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &json!({"command": ["sh", "-c", bomb.code], "timeout_ms": 5000}),
        )
        .await;
    found.record(&bomb, &a.body);
    crate::common::delete_sandbox(app, &id).await;
    found
}
