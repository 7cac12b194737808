//! Templates from the outside: a Dockerfile and its context built by the runner's Docker, the
//! log followed, new versions, sandboxes and jobs running a version by name, a template on
//! another, a host that lacks the image building it on first use, and every refusal: bad
//! names, contexts and Dockerfiles (naming the field), a base that is no image here, a step
//! that fails, the time limit, the size cap, no network while building.

mod common;

use common::{TestApp, sh, spawn_app, spawn_app_with, sse_events, wait_job, wait_sandbox};
use serde_json::{Value, json};

/// A tar holding `files` (path, contents).
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (*p, d.as_bytes())).collect();
    sbx_limits::templates::context_of(&files).unwrap()
}

/// POST a build of `name` with `query` added and `files` as its context.
async fn build(app: &TestApp, name: &str, query: &str, files: &[(&str, &str)]) -> common::Answer {
    app.post_raw(
        &format!("/v1/templates?name={name}{query}"),
        "application/x-tar",
        tar_of(files),
    )
    .await
}

/// Follow version `version` of template `name`'s log to its end: the text and the end event.
async fn follow(app: &TestApp, name: &str, version: i64) -> (String, Value) {
    let a = app
        .get(&format!("/v1/templates/{name}/logs?version={version}"))
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let events = sse_events(&a.text);
    let text: String = events
        .iter()
        .filter(|e| e.event == "stdout")
        .map(|e| e.text())
        .collect();
    let end = events.last().expect("an end event");
    assert_eq!(end.event, "end", "{}", a.text);
    (text, end.data.clone())
}

/// Build `name` and wait for it to be ready: its view.
async fn built(app: &TestApp, name: &str, files: &[(&str, &str)]) -> Value {
    let a = build(app, name, "", files).await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let version = a.body["version"].as_i64().unwrap();
    let (log, end) = follow(app, name, version).await;
    assert_eq!(end["state"], "ready", "{log}\n{end}");
    let t = app
        .get(&format!("/v1/templates/{name}?version={version}"))
        .await;
    assert_eq!(t.body["state"], "ready", "{}", t.text);
    t.body
}

/// A running sandbox of `image`: its id.
async fn sandbox_of(app: &TestApp, image: &str) -> String {
    let a = app
        .post(
            "/v1/sandboxes",
            &json!({"image": image, "cpu": 0.5, "memory": "256Mi", "disk": "32Mi"}),
        )
        .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let id = a.body["id"].as_str().unwrap().to_owned();
    let s = wait_sandbox(app, &id, "running", 120).await;
    assert_eq!(s["image"], image, "{s}");
    id
}

#[actix_web::test]
async fn templates_build_and_sandboxes_and_jobs_run_them_by_name_and_version() {
    let app = spawn_app().await;
    let dockerfile = "FROM python\nUSER root\nCOPY hello.txt /opt/hello.txt\n\
                      RUN echo built > /opt/built.txt && ls /sys/class/net\n\
                      USER 1000\nENV GREETING=hi\n";
    let a = build(
        &app,
        "greeter",
        "",
        &[("Dockerfile", dockerfile), ("hello.txt", "one\n")],
    )
    .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(
        a.header("location"),
        Some("/v1/templates/greeter?version=1")
    );
    assert_eq!(a.body["version"], 1, "{}", a.text);
    assert_eq!(a.body["image"], "greeter:1", "{}", a.text);
    assert!(["queued", "building"].contains(&a.body["state"].as_str().unwrap()));

    // The log comes as the builder writes it, and ends with the state.
    let (log, end) = follow(&app, "greeter", 1).await;
    assert_eq!(end, json!({"state": "ready", "error": null}), "{log}");
    assert!(log.contains("[sbx: python is sbx/python:local]"), "{log}");
    assert!(log.contains(" : COPY hello.txt /opt/hello.txt\n"), "{log}");
    // No network while building: the step sees loopback alone.
    assert!(log.contains("\nlo\n") && !log.contains("eth0"), "{log}");
    let t = app.get("/v1/templates/greeter").await;
    assert_eq!(t.body["state"], "ready", "{}", t.text);
    assert!(
        t.body["size_bytes"].as_i64().unwrap() > 1 << 20,
        "{}",
        t.text
    );
    assert!(t.body["image_id"].as_str().unwrap().starts_with("sha256:"));

    // A second build of the name is version 2; the name runs the newest, name:1 the first.
    let v2 = built(
        &app,
        "greeter",
        &[("Dockerfile", dockerfile), ("hello.txt", "two\n")],
    )
    .await;
    assert_eq!(v2["version"], 2, "{v2}");
    let newest = sandbox_of(&app, "greeter").await;
    let out = sh(
        &app,
        &newest,
        "cat /opt/hello.txt /opt/built.txt; echo $GREETING",
    )
    .await;
    assert_eq!(out, "two\nbuilt\nhi\n");
    let first = sandbox_of(&app, "greeter:1").await;
    assert_eq!(sh(&app, &first, "cat /opt/hello.txt").await, "one\n");
    common::delete_sandbox(&app, &first).await;

    // A container job runs one too.
    let j = app
        .post(
            "/v1/jobs",
            &json!({"kind": "container", "image": "greeter:1", "command": ["cat", "/opt/hello.txt"],
                    "cpu": 0.5, "memory": "256Mi"}),
        )
        .await;
    assert_eq!(j.status.as_u16(), 202, "{}", j.text);
    let job = j.body["id"].as_str().unwrap().to_owned();
    let done = wait_job(&app, &job, common::ended).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let logs = app.get(&format!("/v1/jobs/{job}/logs")).await;
    assert!(
        logs.text.contains("event: stdout\ndata: \"one\\n\""),
        "{}",
        logs.text
    );

    // A template starts from another (pinned to its version when queued).
    let plus = built(
        &app,
        "greeter-plus",
        &[(
            "Dockerfile",
            "FROM greeter:1\nUSER root\nRUN cat /opt/hello.txt > /opt/plus.txt\nUSER 1000\n",
        )],
    )
    .await;
    let plus_id = sandbox_of(&app, "greeter-plus").await;
    assert_eq!(sh(&app, &plus_id, "cat /opt/plus.txt").await, "one\n");
    common::delete_sandbox(&app, &plus_id).await;

    // A host without the image builds it on first use (the same image, from the stored
    // context); it stays cached.
    let reference = format!(
        "sbx-templates/{}",
        plus["id"].as_str().unwrap().replace('-', "")
    );
    let rmi = std::process::Command::new("docker")
        .args(["rmi", "-f", &reference])
        .output()
        .unwrap();
    assert!(rmi.status.success(), "{rmi:?}");
    let again = sandbox_of(&app, "greeter-plus").await;
    assert_eq!(sh(&app, &again, "cat /opt/plus.txt").await, "one\n");
    common::delete_sandbox(&app, &again).await;
    let inspect = std::process::Command::new("docker")
        .args(["image", "inspect", &reference])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{inspect:?}");

    // Listed by name (newest version each), with every version on its own list.
    let list = app.get("/v1/templates").await;
    let names: Vec<(&str, i64)> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        names,
        [("greeter", 2), ("greeter-plus", 1)],
        "{}",
        list.text
    );
    let versions = app.get("/v1/templates/greeter/versions").await;
    assert_eq!(versions.body["data"][1]["version"], 1, "{}", versions.text);

    // Another project sees none of it.
    let other = app.other_project_key().await;
    let o = app
        .get_with_key("/v1/templates/greeter", Some(&other))
        .await;
    o.assert_problem(404, "not_found");
    let o = app.get_with_key("/v1/templates", Some(&other)).await;
    assert_eq!(o.body["data"], json!([]), "{}", o.text);
    // Nor can it run or build on one by its image id: the runner reads whose build it is.
    let image_id = t.body["image_id"].as_str().unwrap().to_owned();
    let o = app
        .post_with_key(
            "/v1/sandboxes",
            &json!({"image": image_id, "cpu": 0.5, "memory": "256Mi"}),
            Some(&other),
        )
        .await;
    assert_eq!(o.status.as_u16(), 201, "{}", o.text);
    let s = common::poll(
        &app,
        &format!("/v1/sandboxes/{}", o.body["id"].as_str().unwrap()),
        &other,
        60,
        |s| s["state"] == "failed",
    )
    .await;
    assert!(
        s["state_detail"]
            .as_str()
            .unwrap()
            .contains("not a template of this project"),
        "{s}"
    );
    let o = common::answer(
        app.client
            .post(format!("{}/v1/templates?name=thief", app.base))
            .bearer_auth(&other)
            .send_body(tar_of(&[("Dockerfile", &format!("FROM {image_id}\n"))]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(o.status.as_u16(), 201, "{}", o.text);
    let logs = common::answer(
        app.client
            .get(format!("{}/v1/templates/thief/logs", app.base))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        logs.text.contains("not a template of this project"),
        "{}",
        logs.text
    );

    // Not deleted while a template starts from it; then gone, its log too; a sandbox running
    // it runs on.
    let d = app
        .request(actix_web::http::Method::DELETE, "/v1/templates/greeter")
        .send()
        .await
        .unwrap();
    let d = common::answer(d).await;
    d.assert_problem(409, "template_in_use");
    assert!(d.text.contains("greeter-plus"), "{}", d.text);
    let d = app
        .request(
            actix_web::http::Method::DELETE,
            "/v1/templates/greeter-plus",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(d.status().as_u16(), 204);
    let d = app
        .request(actix_web::http::Method::DELETE, "/v1/templates/greeter")
        .send()
        .await
        .unwrap();
    assert_eq!(d.status().as_u16(), 204);
    app.get("/v1/templates/greeter")
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/templates/greeter/logs")
        .await
        .assert_problem(404, "not_found");
    assert_eq!(sh(&app, &newest, "cat /opt/hello.txt").await, "two\n");
}

#[actix_web::test]
async fn bad_templates_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let ok = [("Dockerfile", "FROM python\n")];
    let cases: [(&str, &str, Vec<u8>, u16, &str); 10] = [
        ("Bad_Name", "", tar_of(&ok), 422, "name"),
        ("python", "", tar_of(&ok), 422, "name"),
        ("t", "&timeout_s=0", tar_of(&ok), 422, "timeout_s"),
        (
            "t",
            "&dockerfile=build/Dockerfile",
            tar_of(&ok),
            422,
            "dockerfile",
        ),
        (
            "t",
            "",
            b"this is not a tar archive, not at all".repeat(20),
            422,
            "body",
        ),
        ("t", "", Vec::new(), 422, "body"),
        (
            "t",
            "",
            tar_of(&[("Dockerfile", "RUN true\n")]),
            422,
            "dockerfile",
        ),
        (
            "t",
            "",
            tar_of(&[("Dockerfile", "ARG B=python\nFROM ${B}\n")]),
            422,
            "dockerfile",
        ),
        (
            "t",
            "",
            tar_of(&[("Dockerfile", "FROM python\nADD https://example.com/x /x\n")]),
            422,
            "dockerfile",
        ),
        ("t", "", vec![0u8; (64 << 20) + 1], 413, "body"),
    ];
    for (name, query, body, status, field) in cases {
        let a = app
            .post_raw(
                &format!("/v1/templates?name={name}{query}"),
                "application/x-tar",
                body,
            )
            .await;
        assert_eq!(a.status.as_u16(), status, "{name}{query}: {}", a.text);
        assert_eq!(a.body["field"], field, "{name}{query}: {}", a.text);
    }
    // A path out of the context, written raw (tar writers refuse to).
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..12].copy_from_slice(b"../Dockerfil");
    h.set_size(0);
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    raw.extend_from_slice(&[0; 1024]);
    let a = app
        .post_raw("/v1/templates?name=t", "application/x-tar", raw)
        .await;
    a.assert_problem(422, "invalid_request");
    assert!(
        a.body["detail"].as_str().unwrap().contains("../Dockerfil"),
        "{}",
        a.text
    );
    let a = app
        .post_raw(
            "/v1/templates?name=t&colour=red",
            "application/x-tar",
            tar_of(&ok),
        )
        .await;
    a.assert_problem(400, "bad_request");

    // The repository of builds is sbx's: naming a build by its reference (any project's) is
    // refused, as a sandbox's image and as a base.
    let built_elsewhere = "sbx-templates/0190f1c2a3b47c8d9e0f1a2b3c4d5e6f";
    let a = app
        .post("/v1/sandboxes", &json!({"image": built_elsewhere}))
        .await;
    a.assert_problem(422, "invalid_request");
    assert_eq!(a.body["field"], "image", "{}", a.text);
    let a = build(
        &app,
        "t",
        "",
        &[(
            "Dockerfile",
            &format!("FROM python\nCOPY --from={built_elsewhere} / /x\n"),
        )],
    )
    .await;
    a.assert_problem(422, "invalid_request");
    assert_eq!(a.body["field"], "dockerfile", "{}", a.text);

    // Nothing was kept of any of them.
    assert_eq!(app.get("/v1/templates").await.body["data"], json!([]));

    // A template that failed is not run, nor built upon, by name or by version.
    let a = build(
        &app,
        "broken",
        "",
        &[("Dockerfile", "FROM python\nRUN exit 3\n")],
    )
    .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let (log, end) = follow(&app, "broken", 1).await;
    assert_eq!(end["state"], "failed", "{log}");
    assert!(
        end["error"].as_str().unwrap().contains("non-zero code: 3"),
        "{end}"
    );
    assert!(log.contains("[sbx: the build failed"), "{log}");
    for image in ["broken", "broken:1"] {
        let a = app.post("/v1/sandboxes", &json!({"image": image})).await;
        a.assert_problem(409, "template_not_ready");
    }
    let a = app
        .post("/v1/sandboxes", &json!({"image": "broken:7"}))
        .await;
    a.assert_problem(409, "template_not_ready");
    let a = build(&app, "on-broken", "", &[("Dockerfile", "FROM broken\n")]).await;
    a.assert_problem(409, "template_not_ready");
}

#[actix_web::test]
async fn builds_end_at_their_limits_with_the_reason() {
    let app = spawn_app_with(|s| s.template_max_mb = 2).await;
    // Time: the build stops at its timeout.
    let a = build(
        &app,
        "slow",
        "&timeout_s=2",
        &[("Dockerfile", "FROM python\nRUN sleep 60\n")],
    )
    .await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let started = std::time::Instant::now();
    let (_, end) = follow(&app, "slow", 1).await;
    assert_eq!(end["state"], "failed", "{end}");
    assert!(
        end["error"].as_str().unwrap().contains("timeout of 2 s"),
        "{end}"
    );
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());

    // Size: an image over the cap fails and is not kept.
    let big = "x".repeat(3 << 20);
    let a = build(
        &app,
        "big",
        "",
        &[
            ("Dockerfile", "FROM scratch\nCOPY big /big\n"),
            ("big", &big),
        ],
    )
    .await;
    let (_, end) = follow(&app, "big", 1).await;
    assert_eq!(end["state"], "failed", "{end}");
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .contains("over the cap of 2 MiB"),
        "{end}"
    );
    let reference = format!(
        "sbx-templates/{}",
        a.body["id"].as_str().unwrap().replace('-', "")
    );
    let inspect = std::process::Command::new("docker")
        .args(["image", "inspect", &reference])
        .output()
        .unwrap();
    assert!(!inspect.status.success(), "the image over the cap was kept");

    // Under the cap from scratch: fine.
    built(
        &app,
        "small",
        &[
            ("Dockerfile", "FROM scratch\nCOPY small /small\n"),
            ("small", "s"),
        ],
    )
    .await;

    // A base this host does not have is not pulled.
    build(
        &app,
        "elsewhere",
        "",
        &[("Dockerfile", "FROM registry.example.com/nothing:1\n")],
    )
    .await;
    let (_, end) = follow(&app, "elsewhere", 1).await;
    assert_eq!(end["state"], "failed", "{end}");
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .contains("this host has no such image"),
        "{end}"
    );
}

/// A `docker-registry` (Debian's, Docker's distribution) on a free loopback port, storing in a
/// folder of its own: the process and its `host:port`.
fn start_registry() -> (std::process::Child, String) {
    let addr = common::free_addr();
    let dir = std::env::temp_dir().join(format!("sbx-registry-{}", addr.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry (Debian's docker-registry package; the set-up installs it)");
    (child, addr.to_string())
}

#[actix_web::test]
async fn with_a_registry_builds_are_pushed_and_hosts_without_them_pull() {
    let (mut registry, addr) = start_registry();
    let app = spawn_app_with(|s| s.template_registry = Some(format!("{addr}/team"))).await;
    let t = built(
        &app,
        "pushed",
        &[("Dockerfile", "FROM python\nENV MADE=once\n")],
    )
    .await;
    let (log, _) = follow(&app, "pushed", 1).await;
    let hex = t["id"].as_str().unwrap().replace('-', "");
    assert!(
        log.contains(&format!("[sbx: pushed to {addr}/team/sbx-templates/{hex}]")),
        "{log}"
    );
    let tags = app
        .client
        .get(format!(
            "http://{addr}/v2/team/sbx-templates/{hex}/tags/list"
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["latest"]), "{tags}");

    // A host without it pulls the very image (a build would make another id).
    for reference in [
        format!("sbx-templates/{hex}"),
        format!("{addr}/team/sbx-templates/{hex}"),
    ] {
        let rmi = std::process::Command::new("docker")
            .args(["rmi", "-f", &reference])
            .output()
            .unwrap();
        assert!(rmi.status.success(), "{rmi:?}");
    }
    let id = sandbox_of(&app, "pushed").await;
    assert_eq!(sh(&app, &id, "echo $MADE").await, "once\n");
    let inspect = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            "-f",
            "{{.Id}}",
            &format!("sbx-templates/{hex}"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        t["image_id"].as_str().unwrap()
    );
    let _ = registry.kill();
}

#[actix_web::test]
async fn an_api_without_docker_has_templates_built_and_run_by_another_runner() {
    let (app, db) = common::spawn_api_only().await;
    let mut runner = common::start_runner(&db, 5);
    built(
        &app,
        "remote",
        &[("Dockerfile", "FROM python\nENV WHERE=runner\n")],
    )
    .await;
    let id = sandbox_of(&app, "remote").await;
    assert_eq!(sh(&app, &id, "echo $WHERE").await, "runner\n");
    common::delete_sandbox(&app, &id).await;
    runner.kill().unwrap();
    runner.wait().unwrap();
}
