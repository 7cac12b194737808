//! Forking a sandbox, from the outside: a code-interpreter's copies have the source's
//! variables, imports and files; a container's have its `/workspace` and `/outputs` (here and
//! through a separate `sbx runner`); both go their own ways and are sandboxes like any other.

mod common;

use common::interpreters::{run, session};
use common::{TestApp, sh, small_container, spawn_api_only, spawn_app, start_runner, wait_sandbox};
use serde_json::json;

#[actix_web::test]
async fn forks_copy_the_live_state_and_then_go_their_own_ways() {
    let app = spawn_app().await;
    let source = session(&app, json!({"memory": "512Mi", "env": {"MODE": "test"}})).await;
    // A frame, 32 MiB of numbers past the runtime's own memory, files in both folders, and a
    // figure drawn (matplotlib then keeps font files open, which a fork lets go of first).
    let r = run(
        &app,
        &source,
        "import pandas as pd, numpy as np, matplotlib.pyplot as plt\n\
         df = pd.DataFrame({'a': range(100_000)})\nx = 41\n\
         big = np.arange(4_000_000, dtype='int64')\n\
         open('/workspace/note.txt', 'w').write('kept')\n\
         open('/tmp/scratch.txt', 'w').write('tmp')\n\
         plt.plot([1, 2]); plt.title('before'); plt.savefig('/workspace/a.png')",
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");

    let f = app
        .post(
            &format!("/v1/sandboxes/{source}/fork"),
            &json!({"count": 3}),
        )
        .await;
    assert_eq!(f.status.as_u16(), 201, "{}", f.text);
    let forks: Vec<String> = f.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["state"], "running", "{v}");
            assert_eq!(v["image"], "code-interpreter", "{v}");
            assert_eq!(v["memory_bytes"], 512 << 20, "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(forks.len(), 3);
    assert!(!forks.contains(&source));

    // Each has what the source had; changes stay where they are made.
    let r = run(
        &app,
        &forks[0],
        "x = 0\nbig[:] = 0\nopen('/tmp/scratch.txt', 'w').write('0')",
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let check = "x += 1\nimport os\n\
                 print(x, int(df.a.sum()), int(big.sum()), int(big[-1]), os.environ['MODE'],\n\
                 open('/workspace/note.txt').read(), open('/tmp/scratch.txt').read())";
    for id in &forks[1..] {
        let r = run(&app, id, check).await;
        assert_eq!(
            r["stdout"], "42 4999950000 7999998000000 3999999 test kept tmp\n",
            "{r}"
        );
        // matplotlib opens its fonts again in the copy.
        let r = run(
            &app,
            id,
            "plt.figure(); plt.plot([3]); plt.title('after'); plt.savefig('/workspace/b.png')",
        )
        .await;
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    let r = run(
        &app,
        &source,
        "print(x, int(big.sum()), open('/tmp/scratch.txt').read())",
    )
    .await;
    assert_eq!(r["stdout"], "41 7999998000000 tmp\n", "{r}");
    let r = run(&app, &forks[0], "print(x, int(big.sum()))").await;
    assert_eq!(r["stdout"], "0 0\n", "{r}");

    // A fork is a sandbox like any other: listed, paused, forked again, deleted.
    let a = app.sandbox_action(&forks[0], "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    let again = app
        .post(&format!("/v1/sandboxes/{}/fork", forks[1]), &json!({}))
        .await;
    assert_eq!(again.status.as_u16(), 201, "{}", again.text);
    let grandchild = again.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = run(&app, &grandchild, "print(x)").await;
    assert_eq!(r["stdout"], "42\n", "{r}");
    let list = app.get("/v1/sandboxes?limit=10").await;
    assert_eq!(
        list.body["data"].as_array().unwrap().len(),
        5,
        "{}",
        list.text
    );
}

#[actix_web::test]
async fn what_cannot_be_forked_is_refused_saying_why() {
    let app = spawn_app().await;
    let id = session(&app, json!({})).await;
    let fork = |id: String, body: serde_json::Value| {
        let app = &app;
        async move { app.post(&format!("/v1/sandboxes/{id}/fork"), &body).await }
    };
    for count in [0, 17] {
        let r = fork(id.clone(), json!({"count": count})).await;
        r.assert_problem(422, "invalid_request");
        assert_eq!(r.body["field"], "count", "{}", r.text);
    }
    fork(id.clone(), json!({"count": 1, "extra": true}))
        .await
        .assert_problem(422, "invalid_request");
    let other = app.other_project_key().await;
    let r = app
        .post_with_key(
            &format!("/v1/sandboxes/{id}/fork"),
            &json!({}),
            Some(&other),
        )
        .await;
    r.assert_problem(404, "not_found");
    app.sandbox_action(&id, "pause").await;
    fork(id.clone(), json!({}))
        .await
        .assert_problem(409, "sandbox_not_running");
    common::delete_sandbox(&app, &id).await;
    fork(id.clone(), json!({}))
        .await
        .assert_problem(409, "sandbox_ended");
    // Nothing was made by the refusals.
    let list = app.get("/v1/sandboxes").await;
    assert_eq!(
        list.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
}

/// Fork container sandbox `source` of `app` into two and check the copies: its files (written
/// by [`fork_containers`]), not its processes, then their own ways; a copy pauses and resumes
/// with its files.
async fn fork_two(app: &TestApp, source: &str) -> Vec<String> {
    let f = app
        .post(
            &format!("/v1/sandboxes/{source}/fork"),
            &json!({"count": 2}),
        )
        .await;
    assert_eq!(f.status.as_u16(), 201, "{}", f.text);
    let copies: Vec<String> = f.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["state"], "running", "{v}");
            assert_eq!(v["image"], "python", "{v}");
            assert_eq!(v["memory_bytes"], 256 << 20, "{v}");
            assert_eq!(v["disk_bytes"], 32 << 20, "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(copies.len(), 2);
    let check = "cat /workspace/note.txt /outputs/r/x; md5sum < /workspace/blob";
    let expected = sh(app, source, check).await;
    assert!(expected.starts_with("kept\nout\n"), "{expected}");
    for id in &copies {
        assert_eq!(sh(app, id, check).await, expected);
        let ps = app.get(&format!("/v1/sandboxes/{id}/processes")).await;
        assert_eq!(ps.body["processes"], json!([]), "{}", ps.text);
    }
    // Each goes its own way; the source still writes (its disk was thawed).
    sh(app, &copies[0], "echo changed > /workspace/note.txt").await;
    sh(app, source, "echo more >> /workspace/note.txt").await;
    assert_eq!(
        sh(app, &copies[1], "cat /workspace/note.txt").await,
        "kept\n"
    );
    assert_eq!(
        sh(app, source, "cat /workspace/note.txt").await,
        "kept\nmore\n"
    );
    let a = app.sandbox_action(&copies[0], "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    app.sandbox_action(&copies[0], "resume").await;
    wait_sandbox(app, &copies[0], "running", 60).await;
    assert_eq!(
        sh(app, &copies[0], "cat /workspace/note.txt").await,
        "changed\n"
    );
    copies
}

/// A container sandbox with files in both folders and a process running.
async fn source(app: &TestApp) -> String {
    let id = small_container(app).await;
    sh(
        app,
        &id,
        "echo kept > /workspace/note.txt && mkdir -p /outputs/r && echo out > /outputs/r/x \
         && head -c 3000000 /dev/urandom > /workspace/blob",
    )
    .await;
    let p = app
        .post(
            &format!("/v1/sandboxes/{id}/processes"),
            &json!({"command": ["sleep", "300"]}),
        )
        .await;
    assert_eq!(p.status.as_u16(), 201, "{}", p.text);
    id
}

#[actix_web::test]
async fn a_containers_files_are_forked_and_then_go_their_own_ways() {
    let app = spawn_app().await;
    let id = source(&app).await;
    let copies = fork_two(&app, &id).await;
    // Bad counts are named; refused with the source's state: paused, ended.
    for count in [0, 17] {
        let r = app
            .post(
                &format!("/v1/sandboxes/{id}/fork"),
                &json!({"count": count}),
            )
            .await;
        r.assert_problem(422, "invalid_request");
        assert_eq!(r.body["field"], "count", "{}", r.text);
    }
    app.sandbox_action(&id, "pause").await;
    app.post(&format!("/v1/sandboxes/{id}/fork"), &json!({}))
        .await
        .assert_problem(409, "sandbox_paused");
    common::delete_sandbox(&app, &id).await;
    app.post(&format!("/v1/sandboxes/{id}/fork"), &json!({}))
        .await
        .assert_problem(409, "sandbox_ended");
    for c in copies {
        common::delete_sandbox(&app, &c).await;
    }
}

#[actix_web::test]
async fn an_api_without_docker_forks_a_container_on_another_runner() {
    let (app, db) = spawn_api_only().await;
    let mut runner = start_runner(&db, 5);
    let id = source(&app).await;
    for c in fork_two(&app, &id).await {
        common::delete_sandbox(&app, &c).await;
    }
    common::delete_sandbox(&app, &id).await;
    runner.kill().unwrap();
    runner.wait().unwrap();
}
