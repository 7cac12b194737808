//! `POST /v1/exec` from the outside: what code sees, what it gets back, and every limit obeyed
//! and violated.

mod common;

use base64::Engine as _;
use common::spawn_app;
use serde_json::json;

#[actix_web::test]
async fn output_and_exit_codes() {
    let app = spawn_app().await;
    let r = app.python("print(1+1)").await;
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["stdout"], "2\n");
    assert_eq!(r["stderr"], "");
    assert_eq!(r["truncated"], json!([]));
    assert!(r["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(r["usage"]["memory_peak_bytes"].as_u64().unwrap() > 0);
    assert!(r["id"].is_string());

    let r = app
        .python("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(7)")
        .await;
    assert_eq!(
        (r["status"].as_str(), r["exit_code"].as_i64()),
        (Some("failed"), Some(7))
    );
    assert_eq!(
        (r["stdout"].as_str(), r["stderr"].as_str()),
        (Some("out\n"), Some("err\n"))
    );

    let r = app.python("raise ValueError('boom')").await;
    assert_eq!(
        (r["status"].as_str(), r["exit_code"].as_i64()),
        (Some("failed"), Some(1))
    );
    let stderr = r["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("ValueError: boom") && stderr.contains("Traceback"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("_reactor") && !stderr.contains("chdir"),
        "the prelude shows in tracebacks: {stderr}"
    );

    let r = app.python("def f(:\n  pass").await;
    assert_eq!(r["status"], "failed");
    assert!(r["stderr"].as_str().unwrap().contains("SyntaxError"), "{r}");
}

#[actix_web::test]
async fn stdin_args_env_and_files() {
    let app = spawn_app().await;
    let r = app
        .exec(json!({
            "language": "python",
            "code": "import sys, os\nprint(sys.stdin.read().upper())\nprint(sys.argv[1:])\nprint(os.environ['GREETING'])",
            "stdin": "hello",
            "args": ["a", "b c"],
            "env": {"GREETING": "bonjour"},
        }))
        .await;
    assert_eq!(r["stdout"], "HELLO\n['a', 'b c']\nbonjour\n", "{r}");

    let png = [0x89u8, b'P', b'N', b'G', 0, 1, 2, 0xff];
    let r = app
        .exec(json!({
            "language": "python",
            "code": concat!(
                "import os\n",
                "print(os.getcwd())\n",
                "print(open('data/in.csv').read().strip())\n",
                "print(len(open('/workspace/img.bin','rb').read()))\n",
                "open('out.txt','w').write('result')\n",
                "os.makedirs('sub', exist_ok=True)\n",
                "open('sub/raw.bin','wb').write(bytes([0, 255]))\n",
                "open('data/in.csv','a').write('3,4\\n')\n",
            ),
            "files": [
                {"path": "data/in.csv", "content": "1,2\n"},
                {"path": "/workspace/img.bin", "content_b64": base64::engine::general_purpose::STANDARD.encode(png)},
                {"path": "unchanged.txt", "content": "same"},
            ],
        }))
        .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["stdout"], "/workspace\n1,2\n8\n");
    let files = r["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["data/in.csv", "out.txt", "sub/raw.bin"],
        "only new or changed files come back"
    );
    assert_eq!(files[0]["content"], "1,2\n3,4\n");
    assert_eq!(files[1]["content"], "result");
    assert_eq!(files[2]["content_b64"], "AP8=");
    assert_eq!(files[2]["size"], 2);
}

#[actix_web::test]
async fn numpy_and_pandas_work() {
    let app = spawn_app().await;
    for (code, stdout) in [
        (
            "import numpy as np\nprint(np.arange(10).reshape(2,5).sum(axis=1).tolist())",
            "[10, 35]\n",
        ),
        (
            "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})\nprint(int(df.a.sum()))",
            "6\n",
        ),
    ] {
        let r = app.python(code).await;
        assert_eq!(
            (r["status"].as_str(), r["stdout"].as_str()),
            (Some("succeeded"), Some(stdout)),
            "{r}"
        );
    }
    // A plot comes back as a PNG file, fonts (read from matplotlib's data) and all.
    let r = app
        .python("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nplt.savefig('plot.png')")
        .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            r["files"][0]["content_b64"]
                .as_str()
                .expect("a binary file"),
        )
        .unwrap();
    assert_eq!(r["files"][0]["path"], "plot.png");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{} bytes",
        png.len()
    );
}

#[actix_web::test]
async fn nothing_leaks_between_execs() {
    let app = spawn_app().await;
    let r = app.python("import builtins\nbuiltins.LEAK = 1\nopen('/tmp/leak','w').write('x')\nopen('left.txt','w').write('x')").await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let r = app
        .python("import builtins, os\nprint(hasattr(builtins, 'LEAK'), os.path.exists('/tmp/leak'), os.listdir('.'))")
        .await;
    assert_eq!(r["stdout"], "False False []\n", "{r}");
    // Nothing random is frozen into the runtime's snapshot: each source differs between two
    // fresh execs, field by field.
    let code = "import random, os, uuid, numpy as np\n\
        print(random.random(), os.urandom(8).hex(), uuid.uuid4(), np.random.rand(), \
        np.random.default_rng().integers(1 << 62))";
    let a = app.python(code).await;
    let b = app.python(code).await;
    assert_eq!(
        (a["status"].as_str(), b["status"].as_str()),
        (Some("succeeded"), Some("succeeded")),
        "{a} {b}"
    );
    let fields = |r: &serde_json::Value| -> Vec<String> {
        r["stdout"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let (a, b) = (fields(&a), fields(&b));
    assert_eq!(a.len(), 5, "{a:?}");
    for (x, y) in a.iter().zip(&b) {
        assert_ne!(x, y, "the same value in two fresh execs: {a:?} {b:?}");
    }
    // Clocks are read live, not from the snapshot's time.
    let r = app
        .python("import time, datetime\nprint(int(time.time()), datetime.datetime.now().year)")
        .await;
    let out: Vec<i64> = r["stdout"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (out[0] - now).abs() <= 5,
        "guest time {} against host time {now}",
        out[0]
    );
}

#[actix_web::test]
async fn eval_items_run_as_fresh_programs() {
    let app = spawn_app().await;
    // A HumanEval-style item: a solution followed by its checks.
    let check = "\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n\ncheck(add)\n";
    let pass = app
        .python(&format!("def add(a, b):\n    return a + b{check}"))
        .await;
    assert_eq!(
        (
            pass["status"].as_str(),
            pass["exit_code"].as_i64(),
            pass["stderr"].as_str()
        ),
        (Some("succeeded"), Some(0), Some("")),
        "{pass}"
    );
    let fail = app
        .python(&format!("def add(a, b):\n    return a - b{check}"))
        .await;
    assert_eq!(
        (fail["status"].as_str(), fail["exit_code"].as_i64()),
        (Some("failed"), Some(1)),
        "{fail}"
    );
    assert!(
        fail["stderr"].as_str().unwrap().contains("AssertionError"),
        "{fail}"
    );
    // Each program starts in an empty `__main__`, whatever the runtime imported before it.
    let r = app
        .python("print(__name__, sorted(k for k in globals() if not k.startswith('__')))")
        .await;
    assert_eq!(r["stdout"], "__main__ []\n", "{r}");
    let r = app.python("import sys; print(sys.argv)").await;
    assert_eq!(r["stdout"], "['-c']\n", "{r}");
}

#[actix_web::test]
async fn wall_time_limit_obeyed_and_violated() {
    let app = spawn_app().await;
    let ok = app.exec(json!({"language": "python", "code": "import time; time.sleep(0.2); print('done')", "timeout_ms": 5000})).await;
    assert_eq!(
        (ok["status"].as_str(), ok["stdout"].as_str()),
        (Some("succeeded"), Some("done\n")),
        "{ok}"
    );

    let busy = app
        .exec(json!({"language": "python", "code": "while True: pass", "timeout_ms": 500}))
        .await;
    assert_eq!(busy["status"], "timeout", "{busy}");
    assert!(busy["exit_code"].is_null());
    let ms = busy["duration_ms"].as_f64().unwrap();
    assert!(
        (500.0..1500.0).contains(&ms),
        "a busy loop is stopped near its limit: {ms} ms"
    );

    // The stock WASI poll_oneoff blocks through a sleep; ours must not.
    let sleeper = app
        .exec(json!({"language": "python", "code": "import time\nprint('before', flush=True)\ntime.sleep(60)", "timeout_ms": 500}))
        .await;
    assert_eq!(sleeper["status"], "timeout", "{sleeper}");
    let ms = sleeper["duration_ms"].as_f64().unwrap();
    assert!(ms < 1500.0, "a sleep is interrupted at the limit: {ms} ms");
    assert_eq!(
        sleeper["stdout"], "before\n",
        "output before the timeout is kept"
    );
    assert!(sleeper["message"].as_str().unwrap().contains("500 ms"));
}

#[actix_web::test]
async fn memory_limit_obeyed_and_violated() {
    let app = spawn_app().await;
    let ok = app.exec(json!({"language": "python", "code": "x = bytearray(100 << 20); print(len(x))", "memory_mb": 256})).await;
    assert_eq!(
        (ok["status"].as_str(), ok["stdout"].as_str()),
        (Some("succeeded"), Some("104857600\n")),
        "{ok}"
    );

    let big = app.exec(json!({"language": "python", "code": "x = bytearray(1 << 30); print('allocated')", "memory_mb": 256})).await;
    assert_eq!(big["status"], "memory_limit", "{big}");
    assert_eq!(big["stdout"], "");
    assert!(big["usage"]["memory_peak_bytes"].as_u64().unwrap() <= 256 << 20);

    let grow = app.exec(json!({"language": "python", "code": "l = []\nwhile True: l.append(bytearray(10 << 20))", "memory_mb": 128})).await;
    assert_eq!(grow["status"], "memory_limit", "{grow}");

    // Code that catches MemoryError and carries on has not failed.
    let caught = app
        .exec(json!({"language": "python", "code": "try:\n  x = bytearray(1 << 30)\nexcept MemoryError:\n  print('caught')", "memory_mb": 128}))
        .await;
    assert_eq!(
        (caught["status"].as_str(), caught["stdout"].as_str()),
        (Some("succeeded"), Some("caught\n")),
        "{caught}"
    );
}

#[actix_web::test]
async fn output_limit_obeyed_and_violated() {
    let app = spawn_app().await;
    let ok = app
        .exec(json!({"language": "python", "code": "print('x' * 999)", "output_limit_bytes": 1000}))
        .await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    assert_eq!(ok["stdout"].as_str().unwrap().len(), 1000);

    let big = app
        .exec(json!({"language": "python", "code": "print('x' * 20_000_000)"}))
        .await;
    assert_eq!(big["status"], "output_limit", "{big}");
    assert_eq!(big["truncated"], json!(["stdout"]));
    assert_eq!(
        big["stdout"].as_str().unwrap().len(),
        1 << 20,
        "the default cap is 1 MiB"
    );

    let looped = app
        .exec(json!({"language": "python", "code": "import sys\nwhile True: sys.stderr.write('y' * 100)", "output_limit_bytes": 5000}))
        .await;
    assert_eq!(looped["status"], "output_limit", "{looped}");
    assert_eq!(looped["truncated"], json!(["stderr"]));
    assert_eq!(looped["stderr"].as_str().unwrap().len(), 5000);
}

#[actix_web::test]
async fn deep_recursion_is_a_clean_failure() {
    let app = spawn_app().await;
    let r = app.python("def f(n): return f(n + 1)\nf(0)").await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(
        r["stderr"].as_str().unwrap().contains("RecursionError"),
        "{r}"
    );
    // Past CPython's guard, recursion exhausts the wasm stack or the memory limit, whichever
    // comes first: either way a clean result, never a crash.
    let r = app
        .python("import sys\nsys.setrecursionlimit(10**7)\ndef f(n): return f(n + 1)\nf(0)")
        .await;
    assert!(
        ["failed", "memory_limit"].contains(&r["status"].as_str().unwrap()),
        "{r}"
    );
    assert!(r["message"].as_str().unwrap().contains("stack"), "{r}");
    // The server is still fine afterwards.
    assert_eq!(app.python("print('alive')").await["stdout"], "alive\n");
}

#[actix_web::test]
async fn the_guest_sees_only_what_it_was_given() {
    let app = spawn_app().await;
    let r = app.python("open('/etc/passwd').read()").await;
    assert_eq!(r["status"], "failed");
    assert!(r["stderr"].as_str().unwrap().contains("Error"), "{r}");
    // `/` itself is not granted: only the three folders below it exist for the guest.
    let r = app
        .python("import os; print(sorted(os.listdir('/')))")
        .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(
        r["stderr"].as_str().unwrap().contains("FileNotFoundError"),
        "{r}"
    );
    let r = app.python("import os; print([os.path.isdir(d) for d in ('/workspace', '/tmp', '/usr/local/lib', '/etc', '/root', '/proc')])").await;
    assert_eq!(
        r["stdout"], "[True, True, True, False, False, False]\n",
        "{r}"
    );
    let r = app
        .python("import os; print(os.listdir('/usr/local/lib'))")
        .await;
    assert_eq!(r["stdout"], "['python315.zip']\n", "{r}");
    let r = app
        .python("open('/usr/local/lib/python315.zip', 'ab')")
        .await;
    assert_eq!(r["status"], "failed", "the stdlib is read-only: {r}");
    let r = app.python("open('../../etc/passwd').read()").await;
    assert_eq!(r["status"], "failed", "{r}");
    let r = app
        .python("import os; os.symlink('/etc/passwd', 'p'); print(open('p').read())")
        .await;
    assert_eq!(r["status"], "failed", "a link cannot lead out: {r}");
    let r = app
        .python("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 80))")
        .await;
    assert_eq!(r["status"], "failed", "{r}");
    let r = app
        .python("import urllib.request\nurllib.request.urlopen('http://127.0.0.1/')")
        .await;
    assert_eq!(r["status"], "failed", "{r}");
    let r = app
        .python("import subprocess\nsubprocess.run(['ls'])")
        .await;
    assert_eq!(r["status"], "failed", "{r}");
}

#[actix_web::test]
async fn twenty_concurrent_execs_all_answer() {
    let app = spawn_app().await;
    let calls = (0..20).map(|i| {
        let app = &app;
        async move {
            (
                i,
                app.python(&format!("import time\ntime.sleep(0.05)\nprint({i} * {i})"))
                    .await,
            )
        }
    });
    for (i, r) in futures_util::future::join_all(calls).await {
        assert_eq!(r["status"], "succeeded", "{r}");
        assert_eq!(r["stdout"], format!("{}\n", i * i));
    }
}

#[actix_web::test]
async fn wasi_modules_run() {
    let app = spawn_app().await;
    // A WASI command in the text format: writes "hi\n" to stdout and exits 3.
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "hi\n")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 3))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $exit (i32.const 3))))"#;
    let b64 = base64::engine::general_purpose::STANDARD.encode(wat);
    let r = app
        .exec(json!({"language": "wasi", "module_b64": b64}))
        .await;
    assert_eq!(
        (
            r["status"].as_str(),
            r["exit_code"].as_i64(),
            r["stdout"].as_str()
        ),
        (Some("failed"), Some(3), Some("hi\n")),
        "{r}"
    );

    let spin = base64::engine::general_purpose::STANDARD
        .encode(r#"(module (func (export "_start") (loop (br 0))))"#);
    let r = app
        .exec(json!({"language": "wasi", "module_b64": spin, "timeout_ms": 300}))
        .await;
    assert_eq!(r["status"], "timeout", "{r}");

    let bad = app.post("/v1/exec", &json!({"language": "wasi", "module_b64": base64::engine::general_purpose::STANDARD.encode("not wasm")})).await;
    bad.assert_problem(422, "invalid_module");
}

#[actix_web::test]
async fn every_exec_is_a_job() {
    let app = spawn_app().await;
    let r = app.exec(json!({"language": "python", "code": "print(42)", "files": [{"path": "a.txt", "content": "secret"}]})).await;
    let id = r["id"].as_str().unwrap();
    let job = app.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(job.status.as_u16(), 200, "{}", job.text);
    assert_eq!(job.body["status"], "succeeded");
    assert_eq!(job.body["kind"], "exec");
    assert_eq!(job.body["result"]["stdout"], "42\n");
    assert_eq!(job.body["request"]["code"], "print(42)");
    assert_eq!(
        job.body["request"]["files"],
        json!([{"path": "a.txt", "size": 6}]),
        "file contents are not kept"
    );
    assert!(job.body["result"]["usage"]["wall_ms"].as_f64().unwrap() > 0.0);
    assert!(job.body["finished_at"].is_string());

    app.python("print(1)").await;
    let page = app.get("/v1/jobs?limit=1").await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let next = app.get(&format!("/v1/jobs?limit=1&cursor={cursor}")).await;
    assert_eq!(next.body["data"][0]["id"], id);
    assert!(next.body["next_cursor"].is_null());
    let failed = app.get("/v1/jobs?status=failed").await;
    assert_eq!(failed.body["data"], json!([]));
}

/// The disk cap holds from inside: a program writing as fast as it can stops at its cap (to the
/// byte: the kernel's tmpfs), `/workspace` and `/tmp` share it, files are capped too, a
/// program that copes with `ENOSPC` succeeds, one that does not ends `disk_limit`, and the
/// next exec in the same folder starts empty with its own cap.
#[actix_web::test]
async fn disk_cap_obeyed_and_violated() {
    let app = spawn_app().await;
    let fill = "import errno\nn = 0\nchunk = b'x' * 65536\ntry:\n    with open(PATH, 'wb') as f:\n        while True:\n            f.write(chunk); f.flush(); n += len(chunk)\nexcept OSError as e:\n    print(e.errno == errno.ENOSPC, n)";
    for (path, cap_mb) in [("'/workspace/big'", 8u64), ("'/tmp/big'", 4)] {
        let r = app
            .exec(json!({"language": "python", "code": fill.replace("PATH", path), "disk_mb": cap_mb}))
            .await;
        assert_eq!(r["status"], "succeeded", "{r}");
        let out = r["stdout"].as_str().unwrap().trim();
        let (enospc, written) = out.split_once(' ').unwrap();
        assert_eq!(enospc, "True", "{r}");
        let written: u64 = written.parse().unwrap();
        let cap = cap_mb << 20;
        assert!(
            written <= cap && written + (1 << 20).max(cap / 100) >= cap,
            "{written} bytes written under a cap of {cap}: {r}"
        );
    }
    // Both folders together: 3 MiB in each does not fit in 4.
    let both = app
        .exec(json!({"language": "python", "disk_mb": 4,
            "code": "open('/workspace/a', 'wb').write(b'a' * (3 << 20))\nopen('/tmp/b', 'wb').write(b'b' * (3 << 20))"}))
        .await;
    assert_eq!(both["status"], "disk_limit", "{both}");
    let message = both["message"].as_str().unwrap();
    assert!(message.contains("disk cap of 4 MiB"), "{both}");
    assert!(
        both["stderr"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{both}"
    );

    // Files: 1 MiB allows 1024.
    let many = app
        .exec(json!({"language": "python", "disk_mb": 1,
            "code": "import errno\nn = 0\ntry:\n    while True:\n        open(f'f{n}', 'w').close(); n += 1\nexcept OSError as e:\n    print(e.errno == errno.ENOSPC, n)"}))
        .await;
    assert_eq!(many["status"], "succeeded", "{many}");
    let (errno, made) = many["stdout"]
        .as_str()
        .unwrap()
        .trim()
        .split_once(' ')
        .unwrap();
    assert_eq!(errno, "True", "ENOSPC: {many}");
    let made: u64 = made.parse().unwrap();
    assert!(
        (1000..=1024).contains(&made),
        "{made} files under a cap of 1024: {many}"
    );
    let uncaught = app
        .exec(json!({"language": "python", "disk_mb": 1,
            "code": "for n in range(5000):\n    open(f'f{n}', 'w').close()"}))
        .await;
    assert_eq!(uncaught["status"], "disk_limit", "{uncaught}");
    assert_eq!(uncaught["exit_code"], 1, "{uncaught}");

    // The next exec starts empty, with the default cap (128 MiB).
    let next = app
        .exec(json!({"language": "python",
            "code": "import os\nprint(os.listdir('/workspace'), os.listdir('/tmp'))\nopen('/tmp/x', 'wb').write(b'x' * (100 << 20))\nprint('ok')"}))
        .await;
    assert_eq!(next["stdout"], "[] []\nok\n", "{next}");

    // A batch item has the same field.
    let batch = app
        .post(
            "/v1/batches",
            &json!({"items": [{"id": "a", "disk_mb": 2,
                "code": "open('x', 'wb').write(b'x' * (3 << 20))"}]}),
        )
        .await;
    assert_eq!(batch.status.as_u16(), 202, "{}", batch.text);
    let id = batch.body["id"].as_str().unwrap();
    let results = common::poll(
        &app,
        &format!("/v1/batches/{id}/results"),
        &app.key,
        60,
        |b| b["data"][0]["verdict"].is_string(),
    )
    .await;
    assert_eq!(results["data"][0]["verdict"], "disk_limit", "{results}");
}

#[actix_web::test]
async fn bad_disk_caps_are_refused_naming_the_field() {
    let app = spawn_app().await;
    for (disk, code) in [
        (json!(0), "invalid_limit"),
        (json!(10241), "invalid_limit"),
        (json!(-1), "invalid_request"),
        (json!("64Mi"), "invalid_request"),
        (json!(1.5), "invalid_request"),
    ] {
        let r = app
            .post(
                "/v1/exec",
                &json!({"language": "python", "code": "1", "disk_mb": disk}),
            )
            .await;
        r.assert_problem(422, code);
        assert!(r.text.contains("disk_mb"), "{disk}: {}", r.text);
    }
    // Files handed in count against the cap.
    let r = app
        .post(
            "/v1/exec",
            &json!({"language": "python", "code": "1", "disk_mb": 1,
                    "files": [{"path": "big.txt", "content": "x".repeat(2 << 20)}]}),
        )
        .await;
    r.assert_problem(422, "invalid_request");
    assert_eq!(r.body["field"], "disk_mb", "{}", r.text);
    let jobs = app.get("/v1/jobs").await;
    assert_eq!(
        jobs.body["data"],
        json!([]),
        "nothing was created: {}",
        jobs.text
    );
}
