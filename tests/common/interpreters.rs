//! Code-interpreter sandboxes for tests: make one, run a cell in it.

#![allow(dead_code)]

use serde_json::{Value, json};

use super::TestApp;

/// Create a code-interpreter sandbox with `extra` fields; its id.
pub async fn session(app: &TestApp, extra: Value) -> String {
    let mut body = json!({"image": "code-interpreter"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let a = app.post("/v1/sandboxes", &body).await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(a.body["state"], "running", "{}", a.text);
    a.body["id"].as_str().unwrap().to_owned()
}

/// Run `code` in sandbox `id`; assert HTTP 200; the outcome.
pub async fn run(app: &TestApp, id: &str, code: &str) -> Value {
    let a = app
        .post(&format!("/v1/sandboxes/{id}/exec"), &json!({"code": code}))
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    a.body
}
