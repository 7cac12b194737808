//! A hostile corpus: programs written as an attacker would, each with the outcome it must
//! have, run against a real server for the wasm backend (execs and code-interpreter cells) and
//! for container sandboxes. After the corpus the server must still serve, another project's
//! execs must be as fast as before it (p50 within 2×), and nothing outside the workloads'
//! folders may have changed on the host.
//!
//! - [`cases`]: what an expectation says and how it is checked.
//! - [`wasm`], [`cells`], [`containers`]: the programs.
//! - [`host`]: what of the host is compared before and after.

#[path = "../common/mod.rs"]
mod common;

mod cases;
mod cells;
mod containers;
mod host;
mod wasm;

use std::time::{Duration, Instant};

use serde_json::json;

/// The median wall time of `n` `print(1)` execs of the project of `key`, over HTTP.
async fn exec_p50(app: &common::TestApp, key: &str, n: usize) -> Duration {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let a = app
            .post_with_key(
                "/v1/exec",
                &json!({"language": "python", "code": "print(1)"}),
                Some(key),
            )
            .await;
        took.push(started.elapsed());
        assert_eq!(a.body["status"], "succeeded", "{}", a.text);
    }
    took.sort();
    took[n / 2]
}

#[actix_web::test]
async fn the_hostile_corpus_gets_its_outcomes_and_leaves_the_host_as_it_was() {
    let app = common::spawn_app().await;
    let other = app.other_project_key().await;
    let before = host::Snapshot::take();
    let idle = exec_p50(&app, &other, 30).await;

    let mut wrong = Vec::new();
    let mut ran = 0;
    for (kind, found) in [
        ("exec", wasm::run_all(&app).await),
        ("cell", cells::run_all(&app).await),
        ("container", containers::run_all(&app).await),
    ] {
        ran += found.ran;
        wrong.extend(found.wrong.into_iter().map(|w| format!("{kind} {w}")));
    }
    assert!(ran >= 120, "only {ran} programs in the corpus");

    let health = app.get("/healthz").await;
    assert_eq!(health.status.as_u16(), 200, "{}", health.text);
    let after = exec_p50(&app, &other, 30).await;
    assert!(
        after <= idle * 2 + Duration::from_millis(2),
        "another project's exec p50 went from {idle:?} idle to {after:?} after the corpus"
    );
    let changed = before.changes(&host::Snapshot::take());
    assert!(changed.is_empty(), "the host changed: {changed:#?}");
    assert!(
        wrong.is_empty(),
        "{} of {ran} outcomes were not as expected:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
