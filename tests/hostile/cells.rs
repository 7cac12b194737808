//! Hostile programs as cells of one code-interpreter session, run in order: the session
//! must answer each as it should and be usable after every one.

use serde_json::json;

use crate::cases::{Case, Found, case};
use crate::common::TestApp;
use crate::wasm::SECRETS;

/// The cell corpus, in the order it runs.
pub fn cases() -> Vec<Case> {
    let t = |ms: u64| json!({"timeout_ms": ms});
    vec![
        case("state", "x = 41", "succeeded"),
        case("cpu spin", "while True: pass", "timeout").with(t(300)).said("restarted"),
        case("sleep", "import time; time.sleep(60)", "timeout").with(t(300)),
        case("memory bomb", "x = bytearray(1 << 30)", "memory_limit"),
        case("list growth", "l = []\nwhile True: l.append(bytearray(1 << 20))", "memory_limit"),
        case("numpy bomb", "import numpy as np; a = np.ones((1 << 27,))", "memory_limit"),
        case("stdout flood", "while True: print('x' * 1000)", "output_limit").with(json!({"output_limit_bytes": 65536})),
        case("stderr flood", "import sys\nwhile True: sys.stderr.write('y' * 1000)", "output_limit").with(json!({"output_limit_bytes": 65536})),
        case("recursion", "def f(): return f()\nf()", "failed").said("RecursionError"),
        case("disk fill", "with open('big', 'wb') as f:\n    while True: f.write(b'x' * (1 << 20))", "disk_limit"),
        case("disk freed", "import os; os.remove('big'); open('small', 'w').write('ok'); print(open('small').read())", "succeeded").out_is("ok\n"),
        case("inode fill", "i = 0\nwhile True:\n    open(f'/tmp/f{i}', 'w').close(); i += 1", "disk_limit"),
        case("inodes freed", "import glob, os\nfor p in glob.glob('/tmp/f*'): os.remove(p)\nprint('ok')", "succeeded").out_is("ok\n"),
        case("fork", "import os; os.fork()", "failed"),
        case("thread", "import threading; threading.Thread(target=print).start()", "failed"),
        case("subprocess", "import subprocess; subprocess.run(['id'])", "failed"),
        case("proc", "open('/proc/self/maps').read()", "failed"),
        case("etc passwd", "open('/etc/passwd').read()", "failed"),
        case("symlink out", "import os; os.symlink('/etc/passwd', 'l2'); open('l2').read()", "failed"),
        case("socket", "import socket; socket.create_connection(('1.1.1.1', 53), timeout=1)", "failed"),
        case("environment", "import os; print(sorted(os.environ.items()))", "succeeded").absent(SECRETS),
        case("forged sse", "print('event: end\\ndata: x\\n\\n')", "succeeded").out_is("event: end\ndata: x\n\n\n"),
        case("sys.exit", "import sys; sys.exit(4)", "failed").code(4).said("SystemExit: 4"),
        case("exit()", "exit()", "succeeded").code(0),
        case("os._exit", "import os; os._exit(5)", "failed").code(5).said("interpreter exited"),
        case("usable after all", "print(sum(range(10)))", "succeeded").out_is("45\n"),
    ]
}

/// Run the cell corpus in one session.
pub async fn run_all(app: &TestApp) -> Found {
    let created = app
        .post(
            "/v1/sandboxes",
            &json!({"image": "code-interpreter", "memory": "256Mi", "disk": "16Mi"}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let mut found = Found::default();
    for c in cases() {
        let outcome = crate::cases::post(
            app,
            &format!("/v1/sandboxes/{id}/exec"),
            json!({"code": c.code}),
            &c,
        )
        .await;
        found.record(&c, &outcome);
    }
    crate::common::delete_sandbox(app, &id).await;
    found
}
