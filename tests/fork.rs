//! Forking a code-interpreter sandbox, from the outside: the copies have the source's
//! variables, imports and files, go their own ways, and are sandboxes like any other.

mod common;

use common::interpreters::{run, session};
use common::spawn_app;
use serde_json::json;

#[actix_web::test]
async fn forks_copy_the_live_state_and_then_go_their_own_ways() {
    let app = spawn_app().await;
    let source = session(&app, json!({"memory": "512Mi"})).await;
    let r = run(
        &app,
        &source,
        "import pandas as pd\ndf = pd.DataFrame({'a': range(100_000)})\nx = 41\n\
         open('/workspace/note.txt', 'w').write('kept')",
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
    run(&app, &forks[0], "x = 0").await;
    for id in &forks[1..] {
        let r = run(
            &app,
            id,
            "x += 1\nprint(x, int(df.a.sum()), open('/workspace/note.txt').read())",
        )
        .await;
        assert_eq!(r["stdout"], "42 4999950000 kept\n", "{r}");
    }
    let r = run(&app, &source, "print(x)").await;
    assert_eq!(r["stdout"], "41\n", "{r}");
    let r = run(&app, &forks[0], "print(x)").await;
    assert_eq!(r["stdout"], "0\n", "{r}");

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
        .assert_problem(409, "sandbox_not_running");
    // Nothing was made by the refusals.
    let list = app.get("/v1/sandboxes").await;
    assert_eq!(
        list.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
}
