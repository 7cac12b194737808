//! The API's edges from the outside: authentication, isolation between projects, rate and
//! concurrency limits, every kind of bad input, and the operations endpoints.

mod common;

use common::{spawn_app, spawn_app_with};
use serde_json::json;

#[actix_web::test]
async fn keys_are_required_and_checked() {
    let app = spawn_app().await;
    let body = json!({"language": "python", "code": "print(1)"});
    app.post_with_key("/v1/exec", &body, None)
        .await
        .assert_problem(401, "missing_api_key");
    let wrong = app
        .post_with_key(
            "/v1/exec",
            &body,
            Some("sbx_0000000000000000000000000000000000000000000000"),
        )
        .await;
    wrong.assert_problem(401, "invalid_api_key");
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Bearer realm=\"sbx\"")
    );
    app.post_with_key("/v1/exec", &body, Some("not-even-a-key"))
        .await
        .assert_problem(401, "invalid_api_key");
    app.get_with_key("/v1/jobs", None)
        .await
        .assert_problem(401, "missing_api_key");

    // A revoked key stops working at once.
    let (key_id, key) = sbx_store::keys::create(&app.pool, app.project_id, "short-lived")
        .await
        .unwrap();
    assert_eq!(
        app.post_with_key("/v1/exec", &body, Some(&key))
            .await
            .status
            .as_u16(),
        200
    );
    sbx_store::keys::revoke(&app.pool, &key_id.to_string(), None)
        .await
        .unwrap();
    app.post_with_key("/v1/exec", &body, Some(&key))
        .await
        .assert_problem(401, "invalid_api_key");
}

#[actix_web::test]
async fn another_projects_job_is_not_found() {
    let app = spawn_app().await;
    let r = app.python("print('mine')").await;
    let id = r["id"].as_str().unwrap();
    let other_key = app.other_project_key().await;
    let theirs = app
        .get_with_key(&format!("/v1/jobs/{id}"), Some(&other_key))
        .await;
    theirs.assert_problem(404, "not_found");
    let missing = app.get(&format!("/v1/jobs/{}", uuid::Uuid::now_v7())).await;
    missing.assert_problem(404, "not_found");
    assert_eq!(
        theirs.body["title"], missing.body["title"],
        "another project's job looks like no job at all"
    );
    app.get("/v1/jobs/not-a-uuid")
        .await
        .assert_problem(404, "not_found");
    let list = app.get_with_key("/v1/jobs", Some(&other_key)).await;
    assert_eq!(list.body["data"], json!([]));
}

#[actix_web::test]
async fn bad_input_gets_a_problem_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let big_code = "#".repeat((1 << 20) + 1);
    // A Python exec of `x`, with `extra`'s fields.
    let py = |extra: serde_json::Value| {
        let mut body = json!({"language": "python", "code": "x"});
        let fields = extra.as_object().expect("an object").clone();
        body.as_object_mut().expect("an object").extend(fields);
        body
    };
    let cases: Vec<(serde_json::Value, u16, &str)> = vec![
        (
            json!({"language": "cobol", "code": "x"}),
            422,
            "unsupported_language",
        ),
        (json!({"code": "print(1)"}), 422, "invalid_request"),
        (json!({"language": "python"}), 422, "invalid_request"),
        (
            json!({"language": "python", "code": 5}),
            422,
            "invalid_request",
        ),
        (py(json!({"args": "a"})), 422, "invalid_request"),
        (py(json!({"env": ["A"]})), 422, "invalid_request"),
        (py(json!({"surprise": 1})), 422, "invalid_request"),
        (
            json!({"language": "python", "code": big_code}),
            413,
            "payload_too_large",
        ),
        (
            json!({"language": "python", "code": "a\u{0}b"}),
            422,
            "invalid_request",
        ),
        (py(json!({"timeout_ms": -1})), 422, "invalid_request"),
        (py(json!({"timeout_ms": 0})), 422, "invalid_limit"),
        (py(json!({"timeout_ms": 1e30})), 422, "invalid_request"),
        (
            py(json!({"timeout_ms": 100_000_000u64})),
            422,
            "invalid_limit",
        ),
        (py(json!({"memory_mb": 1})), 422, "invalid_limit"),
        (py(json!({"memory_mb": 1_000_000})), 422, "invalid_limit"),
        (py(json!({"output_limit_bytes": 0})), 422, "invalid_limit"),
        (
            py(json!({"output_limit_bytes": 1u64 << 40})),
            422,
            "invalid_limit",
        ),
        (json!({"language": "wasi"}), 422, "invalid_request"),
        (
            json!({"language": "wasi", "module_b64": "***"}),
            422,
            "invalid_base64",
        ),
        (py(json!({"module_b64": "AA=="})), 422, "invalid_request"),
        (
            py(json!({"files": [{"path": "../x", "content": ""}]})),
            422,
            "invalid_path",
        ),
        (
            py(json!({"files": [{"path": "/etc/passwd", "content": ""}]})),
            422,
            "invalid_path",
        ),
        (
            json!({"language": "python", "code": "x", "files": [{"path": "a", "content_b64": "%%"}]}),
            422,
            "invalid_base64",
        ),
        (
            py(json!({"files": [{"path": "a"}]})),
            422,
            "invalid_request",
        ),
        (
            py(json!({"files": [{"path": "a", "content": ""}, {"path": "./a", "content": ""}]})),
            422,
            "invalid_path",
        ),
        (py(json!({"env": {"A=B": "c"}})), 422, "invalid_request"),
        (json!([1, 2]), 422, "invalid_request"),
    ];
    for (body, status, code) in &cases {
        let a = app.post("/v1/exec", body).await;
        let shown = body.to_string();
        assert_eq!(
            (a.status.as_u16(), a.body["code"].as_str()),
            (*status, Some(*code)),
            "{:.200}: {}",
            shown,
            a.text
        );
        a.assert_problem(*status, code);
    }
    let field = app
        .post(
            "/v1/exec",
            &json!({"language": "python", "code": "x", "memory_mb": 1}),
        )
        .await;
    assert_eq!(field.body["field"], "memory_mb");

    let huge = vec![b' '; sbx_limits::exec::MAX_BODY_BYTES + 1];
    for (content_type, body, status, code) in [
        (
            "application/json",
            b"{not json".to_vec(),
            400,
            "malformed_json",
        ),
        ("application/json", vec![], 400, "malformed_json"),
        (
            "text/plain",
            b"print(1)".to_vec(),
            415,
            "unsupported_media_type",
        ),
        ("application/json", huge, 413, "payload_too_large"),
    ] {
        let a = app.post_raw("/v1/exec", content_type, body).await;
        a.assert_problem(status, code);
    }
    for (path, status, code) in [
        ("/v1/exec", 405, "method_not_allowed"),
        ("/v1/nothing-here", 404, "not_found"),
        ("/nothing-here", 404, "not_found"),
        ("/v1/jobs?limit=0", 400, "bad_request"),
        ("/v1/jobs?cursor=zzz", 400, "bad_request"),
        ("/v1/jobs?limit=abc", 400, "bad_request"),
        ("/v1/jobs?status=nope", 400, "bad_request"),
        // A NUL, which PostgreSQL text cannot hold: once a 500 (found by schemathesis).
        ("/v1/jobs?status=a%00b", 400, "bad_request"),
    ] {
        app.get(path).await.assert_problem(status, code);
    }
    // A 405 says which methods the route takes (RFC 9110).
    let wrong_method = app.get("/v1/exec").await;
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    let wrong_method = app
        .request(actix_web::http::Method::DELETE, "/v1/jobs")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(
        wrong_method
            .headers()
            .get("allow")
            .unwrap()
            .to_str()
            .unwrap(),
        "GET, POST"
    );

    // Nothing above ran or broke anything.
    assert_eq!(
        app.python("print('still here')").await["stdout"],
        "still here\n"
    );
    let jobs = app.get("/v1/jobs").await;
    assert_eq!(
        jobs.body["data"].as_array().unwrap().len(),
        1,
        "rejected requests leave no jobs"
    );
}

/// JSON Schema (and so the OpenAPI document) counts `3.0` as an integer: such a number is
/// taken where an integer is, and a number with a fraction is not.
#[actix_web::test]
async fn integral_numbers_with_a_fraction_part_are_integers() {
    let app = spawn_app().await;
    let ran = app
        .exec(json!({"language": "python", "code": "print(1+1)", "timeout_ms": 5000.0, "memory_mb": 2.56e2}))
        .await;
    assert_eq!(
        (&ran["status"], &ran["stdout"]),
        (&json!("succeeded"), &json!("2\n"))
    );
    let refused = app
        .post(
            "/v1/exec",
            &json!({"language": "python", "code": "print(1)", "timeout_ms": 2.5}),
        )
        .await;
    refused.assert_problem(422, "invalid_request");
    assert_eq!(refused.body["field"], "timeout_ms");
}

#[actix_web::test]
async fn rate_limit_obeyed_and_violated() {
    let app = spawn_app_with(|s| {
        s.rate_per_second = 1;
        s.rate_burst = 3;
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let a = app.get("/v1/jobs").await;
        assert_eq!(a.status.as_u16(), 200, "{}", a.text);
        assert_eq!(a.header("ratelimit-remaining"), Some(remaining));
        assert_eq!(a.header("ratelimit-limit"), Some("3"));
        assert_eq!(a.header("ratelimit-policy"), Some("\"default\";q=3;w=3"));
        assert!(
            a.header("ratelimit")
                .unwrap()
                .starts_with(&format!("\"default\";r={remaining};t="))
        );
    }
    let refused = app.get("/v1/jobs").await;
    refused.assert_problem(429, "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    // Another key of the same project has its own bucket.
    let (_, other) = sbx_store::keys::create(&app.pool, app.project_id, "second")
        .await
        .unwrap();
    assert_eq!(
        app.get_with_key("/v1/jobs", Some(&other))
            .await
            .status
            .as_u16(),
        200
    );
    // And the bucket refills.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get("/v1/jobs").await.status.as_u16(), 200);
}

#[actix_web::test]
async fn concurrency_cap_obeyed_and_violated() {
    let app = spawn_app().await;
    let limits = sbx_limits::ProjectLimits {
        max_concurrent_execs: 2,
        ..Default::default()
    };
    sbx_store::projects::set_limits(&app.pool, app.project_id, &limits)
        .await
        .unwrap();
    let slow = json!({"language": "python", "code": "import time; time.sleep(1); print('ok')"});
    let calls = (0..3).map(|_| app.post("/v1/exec", &slow));
    let answers = futures_util::future::join_all(calls).await;
    let ok = answers.iter().filter(|a| a.status.as_u16() == 200).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.status.as_u16() == 429)
        .collect();
    assert_eq!((ok, refused.len()), (2, 1), "two run, the third is refused");
    refused[0].assert_problem(429, "concurrency_limit");
    assert_eq!(refused[0].header("retry-after"), Some("1"));
    // Once they end, there is room again.
    assert_eq!(app.python("print(1)").await["status"], "succeeded");
}

#[actix_web::test]
async fn project_ceilings_apply() {
    let app = spawn_app().await;
    let limits = sbx_limits::ProjectLimits {
        max_timeout_ms: 1000,
        ..Default::default()
    };
    sbx_store::projects::set_limits(&app.pool, app.project_id, &limits)
        .await
        .unwrap();
    let over = app
        .post(
            "/v1/exec",
            &json!({"language": "python", "code": "x", "timeout_ms": 1001}),
        )
        .await;
    over.assert_problem(422, "invalid_limit");
    assert!(
        over.body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 1000")
    );
    let r = app
        .exec(json!({"language": "python", "code": "while True: pass"}))
        .await;
    assert_eq!(
        r["status"], "timeout",
        "the default is clamped to the ceiling: {r}"
    );
}

#[actix_web::test]
async fn operations_endpoints() {
    let app = spawn_app().await;
    let h = app.get_with_key("/healthz", None).await;
    assert_eq!(
        (h.status.as_u16(), h.body["status"].as_str()),
        (200, Some("ok"))
    );
    let r = app.get_with_key("/readyz", None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (200, Some("ready"))
    );

    app.python("print(1)").await;
    let m = app.get_with_key("/metrics", None).await;
    assert_eq!(m.status.as_u16(), 200);
    common::assert_contains(
        &m.text,
        &[
            "sbx_http_requests_total",
            "sbx_execs_total{status=\"succeeded\"}",
            "sbx_exec_duration_seconds_bucket",
        ],
    );

    let spec = app.get_with_key("/openapi.json", None).await;
    assert_eq!(spec.status.as_u16(), 200);
    assert_eq!(spec.body["info"]["title"], "sbx");
    assert!(spec.body["paths"]["/v1/exec"]["post"].is_object());
    assert!(spec.body["components"]["securitySchemes"]["api_key"].is_object());
    let operation_ids: Vec<&str> = spec.body["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let mut links = 0;
    for (path, item) in spec.body["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (code, res) in op["responses"].as_object().unwrap() {
                assert!(
                    res["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {code} has no description"
                );
                for (name, link) in res["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().unwrap_or_default();
                    assert!(
                        operation_ids.contains(&target),
                        "{method} {path} {code} links {name} to {target}, no operation"
                    );
                    links += 1;
                }
            }
            // Every /v1 operation documents the refused key and the rate limit.
            if path.starts_with("/v1/") {
                for code in ["401", "429"] {
                    assert!(
                        op["responses"][code].is_object(),
                        "{method} {path} does not document {code}"
                    );
                }
            }
        }
    }
    assert!(links >= 20, "the creates link to their uses: {links} links");
    // Query parameters are in the query, optional, and never null.
    let limit = &spec.body["paths"]["/v1/jobs"]["get"]["parameters"][1];
    assert_eq!(
        (&limit["name"], &limit["in"], &limit["required"]),
        (&"limit".into(), &"query".into(), &false.into())
    );
    assert_eq!(limit["schema"]["type"], "integer");
    let docs = app.get_with_key("/docs/", None).await;
    assert_eq!(docs.status.as_u16(), 200);
    assert!(
        docs.text.contains("swagger"),
        "Swagger UI is served offline"
    );
}

#[actix_web::test]
async fn prices_are_the_configured_rates_per_resource_second() {
    let app = spawn_app_with(|s| {
        s.prices = r#"{"cpu_core_second": 0.00002, "gpu_second": {"A100 80GB": 0.0008}}"#.into();
    })
    .await;
    let p = app.get("/v1/prices").await;
    assert_eq!(p.status.as_u16(), 200, "{}", p.text);
    assert_eq!(p.body["currency"], "USD", "{}", p.text);
    assert_eq!(p.body["cpu_core_second"], 0.00002, "{}", p.text);
    assert_eq!(p.body["gpu_second"]["A100 80GB"], 0.0008, "{}", p.text);
    // What was not overridden keeps its default.
    assert_eq!(
        p.body["memory_gib_second"],
        sbx_limits::billing::DEFAULT_MEMORY_GIB_SECOND,
        "{}",
        p.text
    );
    let anonymous = app.get_with_key("/v1/prices", None).await;
    anonymous.assert_problem(401, "missing_api_key");
}
