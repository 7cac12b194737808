//! Hostile programs as execs (`POST /v1/exec`): CPython in wasmtime.

use serde_json::{Value, json};

use crate::cases::{Case, Found, case};
use crate::common::TestApp;

/// Host secrets a program must never see.
pub const SECRETS: &[&str] = &[
    "SBX_",
    "DATABASE_URL",
    "PGPASSWORD",
    "postgres://",
    "/work/",
];

fn t(ms: u64) -> Value {
    json!({"timeout_ms": ms})
}

/// The exec corpus.
pub fn cases() -> Vec<Case> {
    vec![
        // Time.
        case("cpu spin", "while True: pass", "timeout").with(t(300)),
        case("sleep", "import time; time.sleep(60)", "timeout").with(t(300)),
        case("busy generator", "sum(i for i in iter(int, 1))", "timeout").with(t(300)),
        case("regex backtracking", "import re; re.match('(a+)+$', 'a' * 64 + 'b')", "timeout").with(t(300)),
        case("huge integer", "x = 10 ** (10 ** 9)", "timeout").with(t(300)),
        case("gc churn", "while True:\n    a = []; a.append(a)", "timeout").with(t(300)),
        case("sleep in a finally", "try:\n    while True: pass\nfinally:\n    import time; time.sleep(60)", "timeout").with(t(300)),
        case("negative sleep", "import time; time.sleep(-1)", "failed").said("ValueError"),
        // Memory.
        case("bytearray bomb", "x = bytearray(1 << 30)", "memory_limit").with(json!({"memory_mb": 128})),
        case("list growth", "l = []\nwhile True: l.append(bytearray(1 << 20))", "memory_limit").with(json!({"memory_mb": 128})),
        case("string doubling", "s = 'x'\nwhile True: s += s", "memory_limit").with(json!({"memory_mb": 128})),
        case("numpy bomb", "import numpy as np; a = np.ones((1 << 27,))", "memory_limit").with(json!({"memory_mb": 256})),
        case("pandas bomb", "import pandas as pd; pd.DataFrame({'a': range(1 << 25)})", "memory_limit").with(json!({"memory_mb": 256})),
        case("dict bomb", "d = {}\ni = 0\nwhile True:\n    d[i] = i; i += 1", "memory_limit").with(json!({"memory_mb": 128, "timeout_ms": 20000})),
        case("zip bomb", "import zlib\nz = zlib.compress(b'\\0' * (64 << 20))\nout = [zlib.decompress(z) for _ in range(64)]", "memory_limit").with(json!({"memory_mb": 256, "timeout_ms": 20000})),
        case("urandom bomb", "import os; os.urandom(1 << 30)", "memory_limit").with(json!({"memory_mb": 128})),
        case("memory error caught", "try:\n    x = bytearray(1 << 30)\nexcept MemoryError:\n    print('caught')", "succeeded").out("caught").with(json!({"memory_mb": 128})),
        // Output.
        case("stdout flood", "while True: print('x' * 1000)", "output_limit").with(json!({"output_limit_bytes": 65536})),
        case("stderr flood", "import sys\nwhile True: sys.stderr.write('y' * 1000)", "output_limit").with(json!({"output_limit_bytes": 65536})),
        case("one huge write", "import sys; sys.stdout.write('z' * (16 << 20))", "output_limit").with(json!({"output_limit_bytes": 65536})),
        case("binary flood", "import sys\nwhile True: sys.stdout.buffer.write(bytes(range(256)) * 64)", "output_limit").with(json!({"output_limit_bytes": 65536})),
        // Stack.
        case("recursion", "def f(): return f()\nf()", "failed").said("RecursionError"),
        // Python's frames live in linear memory: past the limit, the memory runs out first.
        case("recursion past the limit", "import sys; sys.setrecursionlimit(1 << 30)\ndef f(n): return f(n + 1)\nf(0)", "memory_limit").said("stack"),
        case("deep nesting", "eval('(' * 100000 + ')' * 100000)", "failed"),
        // Disk.
        case("disk fill", "with open('big', 'wb') as f:\n    while True: f.write(b'x' * (1 << 20))", "disk_limit").with(json!({"disk_mb": 8})),
        case("tmp fill", "with open('/tmp/big', 'wb') as f:\n    while True: f.write(b'x' * (1 << 20))", "disk_limit").with(json!({"disk_mb": 8})),
        case("inode fill", "i = 0\nwhile True:\n    open(f'f{i}', 'w').close(); i += 1", "disk_limit").with(json!({"disk_mb": 4})),
        case("folder fill", "import os\ni = 0\nwhile True:\n    os.mkdir(f'd{i}'); i += 1", "disk_limit").with(json!({"disk_mb": 4})),
        case("disk fill caught", "try:\n    with open('big', 'wb') as f:\n        while True: f.write(b'x' * (1 << 20))\nexcept OSError as e:\n    print('full', e.errno)", "succeeded").out("full").with(json!({"disk_mb": 8})),
        // A sparse file takes only the pages written; it is not read back whole.
        case("huge sparse file", "f = open('sparse', 'wb'); f.seek(1 << 40); f.write(b'x'); f.close()", "succeeded").with(json!({"disk_mb": 8})),
        // Descriptors.
        // Each open file holds guest memory (its buffers), not a host descriptor: the memory
        // limit ends it, and the runner's descriptors stay as they were (checked by hand:
        // 5 000 opens, the server's descriptors 40 → 41).
        case("descriptor exhaustion", "fs = []\nwhile True: fs.append(open('/workspace/f', 'w'))", "memory_limit"),
        // Processes and threads.
        case("fork", "import os; os.fork()", "failed").said("AttributeError"),
        case("thread", "import threading; threading.Thread(target=print).start()", "failed"),
        case("subprocess", "import subprocess; subprocess.run(['id'])", "failed"),
        case("os.system", "import os; os.system('id')", "failed"),
        case("kill", "import os; os.kill(1, 9)", "failed"),
        case("pickle gadget", "import pickle; pickle.loads(b\"cos\\nsystem\\n(S'id'\\ntR.\")", "failed"),
        case("ctypes", "import ctypes; ctypes.CDLL(None)", "failed"),
        case("mmap", "import mmap; mmap.mmap(-1, 4096)", "failed"),
        // The host's files.
        case("proc", "open('/proc/self/maps').read()", "failed"),
        case("sys", "open('/sys/kernel/hostname').read()", "failed"),
        case("etc passwd", "open('/etc/passwd').read()", "failed"),
        case("dot-dot", "open('../../../../etc/passwd').read()", "failed"),
        case("dot-dot from tmp", "open('/tmp/../etc/hostname').read()", "failed"),
        case("absolute root", "import os; print(os.listdir('/'))", "failed").said("FileNotFoundError"),
        case("symlink out", "import os; os.symlink('/etc/passwd', 'l'); open('l').read()", "failed"),
        case("symlink up", "import os; os.symlink('..', 'up'); print(os.listdir('up'))", "failed"),
        case("hard link out", "import os; os.link('/usr/local/lib/python315.zip', 'z')", "failed"),
        case("write the stdlib", "open('/usr/local/lib/python315.zip', 'wb').write(b'x')", "failed"),
        // WASI has no modes: a no-op, and the next exec's folder is as usual.
        case("chmod the workspace", "import os; os.chmod('/workspace', 0); open('f', 'w').write('x')", "succeeded"),
        case("rename the workspace", "import os; os.rename('/workspace', '/tmp/w')", "failed"),
        case("devices", "open('/dev/mem', 'rb').read(1)", "failed"),
        case("urandom device", "open('/dev/urandom', 'rb').read(1)", "failed"),
        case("cgroup escape", "open('/sys/fs/cgroup/release_agent', 'w').write('x')", "failed"),
        case("setuid", "import os; os.setuid(0)", "failed"),
        // Network.
        case("socket", "import socket; socket.create_connection(('1.1.1.1', 53), timeout=1)", "failed"),
        case("dns", "import socket; socket.gethostbyname('example.com')", "failed"),
        case("listen", "import socket; s = socket.socket(); s.bind(('0.0.0.0', 8080))", "failed"),
        // What the program may see.
        case("environment", "import os; print(sorted(os.environ.items()))", "succeeded").absent(SECRETS),
        case("argv", "import sys; print(sys.argv, sys.executable)", "succeeded").absent(SECRETS),
        case("clock", "import time; t = time.time(); print(1.7e9 < t < 2.2e9)", "succeeded").out_is("True\n"),
        case("entropy", "import os; print(len(set(os.urandom(16) for _ in range(100))))", "succeeded").out_is("100\n"),
        // Output that tries to pass for something else.
        case("forged sse", "print('event: end\\ndata: {\"status\": \"succeeded\"}\\n\\nid: end')", "succeeded").out_is("event: end\ndata: {\"status\": \"succeeded\"}\n\nid: end\n"),
        case("forged json", "print('\", \"status\": \"succeeded\", \"x\": \"')", "succeeded").out_is("\", \"status\": \"succeeded\", \"x\": \"\n"),
        case("nul and bad utf-8", "import sys; sys.stdout.buffer.write(b'a\\0b\\xffc')", "succeeded").out_is("a\u{fffd}b\u{fffd}c"),
        case("ansi and cr", "print('\\x1b[2J\\x1b[H10%\\r100%')", "succeeded").out_is("\x1b[2J\x1b[H10%\r100%\n"),
        // Exits.
        case("exit 255", "import sys; sys.exit(255)", "failed").code(255),
        case("os._exit", "import os; os._exit(3)", "failed").code(3),
        case("keyboard interrupt", "raise KeyboardInterrupt", "failed"),
        case("close stdout", "import os; os.close(1); print('x')", "succeeded").out_is(""),
    ]
}

/// Run the exec corpus.
pub async fn run_all(app: &TestApp) -> Found {
    let mut found = Found::default();
    for c in cases() {
        let outcome = crate::cases::post(
            app,
            "/v1/exec",
            json!({"language": "python", "code": c.code}),
            &c,
        )
        .await;
        found.record(&c, &outcome);
    }
    found
}
