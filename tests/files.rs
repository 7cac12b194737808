//! The files API from the outside, on both kinds of sandbox: a code-interpreter's files served
//! by the API process that holds its session, a container's by the runner that runs it (here,
//! and from a separate `sbx runner` process through its internal endpoint). Container tests
//! run on the local Docker daemon with the offline test image (`sbx/python:local`).

mod common;

use actix_web::http::Method;
use actix_web::web::Bytes;
use common::{TestApp, sh, spawn_api_only, spawn_app, start_runner};
use serde_json::{Value, json};

/// Send `method` to sandbox `id`'s `path` (below `…/files/`) with `body`; the answer.
async fn call(app: &TestApp, method: Method, id: &str, path: &str, body: Bytes) -> common::Answer {
    let req = app.request(method, &format!("/v1/sandboxes/{id}/{path}"));
    common::answer(req.send_body(body).await.expect("sending")).await
}

async fn put(app: &TestApp, id: &str, path: &str, body: impl Into<Bytes>) -> common::Answer {
    call(app, Method::PUT, id, &format!("files/{path}"), body.into()).await
}

async fn get(app: &TestApp, id: &str, path: &str) -> common::Answer {
    call(app, Method::GET, id, &format!("files/{path}"), Bytes::new()).await
}

/// The bytes of sandbox `id`'s file at `path` (below `…/files/`), at most 8 MiB.
async fn bytes_of(app: &TestApp, id: &str, path: &str) -> Bytes {
    let res = app.request(Method::GET, &format!("/v1/sandboxes/{id}/files/{path}"));
    res.send()
        .await
        .unwrap()
        .body()
        .limit(8 << 20)
        .await
        .unwrap()
}

/// A GET of sandbox `id`'s file at `path` with `header`: the answer.
async fn get_with(app: &TestApp, id: &str, path: &str, header: (&str, &str)) -> common::Answer {
    let req = app
        .request(Method::GET, &format!("/v1/sandboxes/{id}/files/{path}"))
        .insert_header(header);
    common::answer(req.send().await.unwrap()).await
}

async fn list(app: &TestApp, id: &str, query: &str) -> common::Answer {
    app.get(&format!("/v1/sandboxes/{id}/files?{query}")).await
}

/// The paths of a listing.
fn paths(a: &common::Answer) -> Vec<String> {
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect()
}

/// Watch `query` of sandbox `id` while `act` runs, reading the stream until every one of
/// `want` (event, guest path) came or 15 s passed: the (event, data) pairs seen.
async fn watched(
    app: &TestApp,
    id: &str,
    query: &str,
    act: impl std::future::Future<Output = ()>,
    want: &[(&str, &str)],
) -> Vec<(String, Value)> {
    use futures_util::StreamExt as _;
    let mut res = app
        .request(
            Method::GET,
            &format!("/v1/sandboxes/{id}/files/watch?{query}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    act.await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut text = String::new();
    loop {
        let seen: Vec<(String, Value)> = text
            .split("\n\n")
            .filter_map(|e| {
                let field = |n: &str| e.lines().find_map(|l| l.strip_prefix(n));
                Some((
                    field("event: ")?.to_owned(),
                    serde_json::from_str(field("data: ")?).ok()?,
                ))
            })
            .collect();
        let has = |(event, path): &(&str, &str)| {
            seen.iter()
                .any(|(e, d)| e == event && (path.is_empty() || d["path"] == *path))
        };
        if want.iter().all(has) {
            return seen;
        }
        match tokio::time::timeout_at(deadline, res.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("{want:?} not all seen ({other:?}): {text}"),
        }
    }
}

/// What both kinds answer alike: create and replace, ranges, ETags, HEAD, odd names and bytes,
/// folders, listing, deleting, and each bad path named.
async fn round_trip(app: &TestApp, id: &str) {
    let a = put(app, id, "workspace/data/in.txt", "first").await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(
        (&a.body["path"], &a.body["type"], &a.body["size"]),
        (&json!("/workspace/data/in.txt"), &json!("file"), &json!(5)),
        "{}",
        a.text
    );
    let a = put(app, id, "workspace/data/in.txt", "second!").await;
    assert_eq!(a.status.as_u16(), 200, "replaced: {}", a.text);
    let a = get(app, id, "workspace/data/in.txt").await;
    assert_eq!((a.status.as_u16(), a.text.as_str()), (200, "second!"));
    let etag = a.header("etag").expect("an ETag").to_owned();
    // Bytes to download, never a page a browser renders on the API's origin.
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert!(
        a.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    assert!(
        a.header("content-security-policy")
            .unwrap()
            .contains("sandbox")
    );
    assert!(a.header("last-modified").is_some());

    let ranged = get_with(app, id, "workspace/data/in.txt", ("range", "bytes=1-3")).await;
    assert_eq!((ranged.status.as_u16(), ranged.text.as_str()), (206, "eco"));
    let past = get_with(app, id, "workspace/data/in.txt", ("range", "bytes=100-")).await;
    assert_eq!(past.status.as_u16(), 416);
    let busted = get(app, id, "workspace/data/in.txt?cache-buster=1").await;
    assert_eq!(
        busted.text, "second!",
        "a query a download does not use is ignored"
    );
    let same = get_with(app, id, "workspace/data/in.txt", ("if-none-match", &etag)).await;
    assert_eq!(same.status.as_u16(), 304);
    let head = call(
        app,
        Method::HEAD,
        id,
        "files/workspace/data/in.txt",
        Bytes::new(),
    )
    .await;
    assert_eq!(
        (
            head.status.as_u16(),
            head.header("content-length"),
            head.text.as_str()
        ),
        (200, Some("7"), "")
    );

    // Any bytes, and names that need escaping in a URL.
    let binary: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let a = put(app, id, "workspace/a%20b/%C3%BC%23%3F.bin", binary.clone()).await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(a.body["path"], "/workspace/a b/ü#?.bin", "{}", a.text);
    let back = bytes_of(app, id, "workspace/a%20b/%C3%BC%23%3F.bin").await;
    assert_eq!(back.as_ref(), binary.as_slice());

    let a = call(
        app,
        Method::POST,
        id,
        "directories/workspace/x/y/z",
        Bytes::new(),
    )
    .await;
    assert_eq!(
        (a.status.as_u16(), &a.body["type"]),
        (201, &json!("directory")),
        "{}",
        a.text
    );
    let a = call(
        app,
        Method::POST,
        id,
        "directories/workspace/x/y",
        Bytes::new(),
    )
    .await;
    assert_eq!(a.status.as_u16(), 200, "already there: {}", a.text);
    let a = call(
        app,
        Method::POST,
        id,
        "directories/workspace/data/in.txt",
        Bytes::new(),
    )
    .await;
    a.assert_problem(409, "path_conflict");

    let all = paths(&list(app, id, "recursive=true").await);
    for want in [
        "/workspace/a b",
        "/workspace/a b/ü#?.bin",
        "/workspace/data",
        "/workspace/data/in.txt",
        "/workspace/x/y/z",
    ] {
        assert!(all.contains(&want.to_owned()), "{want} in {all:?}");
    }
    let top = list(app, id, "path=/workspace/data").await;
    assert_eq!(paths(&top), ["/workspace/data/in.txt"]);
    let entry = &top.body["data"][0];
    assert_eq!(
        (&entry["size"], &entry["type"]),
        (&json!(7), &json!("file")),
        "{}",
        top.text
    );
    assert!(
        entry["mode"].as_u64().unwrap() & 0o600 == 0o600,
        "{}",
        top.text
    );
    assert!(
        entry["mtime"].as_str().unwrap().starts_with("20"),
        "{}",
        top.text
    );

    // Deleting: a folder that is not empty only when asked to.
    let a = call(app, Method::DELETE, id, "files/workspace/x", Bytes::new()).await;
    a.assert_problem(409, "path_conflict");
    let a = call(
        app,
        Method::DELETE,
        id,
        "files/workspace/x?recursive=true",
        Bytes::new(),
    )
    .await;
    assert_eq!(a.status.as_u16(), 204, "{}", a.text);
    get(app, id, "workspace/x/y")
        .await
        .assert_problem(404, "not_found");
    let a = call(app, Method::DELETE, id, "files/workspace", Bytes::new()).await;
    a.assert_problem(409, "path_conflict");
    get(app, id, "workspace/data")
        .await
        .assert_problem(409, "path_conflict");
    list(app, id, "path=/workspace/data/in.txt")
        .await
        .assert_problem(409, "path_conflict");
    put(app, id, "workspace/data", "x")
        .await
        .assert_problem(409, "path_conflict");
    put(app, id, "workspace/data/in.txt/under", "x")
        .await
        .assert_problem(409, "path_conflict");

    // Bad paths, each named.
    for bad in [
        "files/etc/passwd",
        "files/workspace/../etc/passwd",
        "files/workspace/%2E%2E/etc",
        "files/workspace/a%00b",
        "files/workspace//a",
    ] {
        let a = call(app, Method::GET, id, bad, Bytes::new()).await;
        a.assert_problem(422, "invalid_path");
        assert_eq!(a.body["field"], "path", "{bad}: {}", a.text);
    }
    let long = format!("files/workspace/{}", "n".repeat(256));
    put(app, id, &long, "x")
        .await
        .assert_problem(422, "invalid_path");
    list(app, id, "path=/tmp")
        .await
        .assert_problem(422, "invalid_path");
    list(app, id, "recursive=maybe")
        .await
        .assert_problem(400, "bad_request");

    // Another project's key sees no such sandbox.
    let other = app.other_project_key().await;
    let a = app
        .client
        .get(format!(
            "{}/v1/sandboxes/{id}/files/workspace/data/in.txt",
            app.base
        ))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status().as_u16(), 404);
}

/// Two uploads to one path at once end with one of them whole; a full disk cap is a 507
/// that leaves the old file and nothing else.
async fn uploads_are_whole(app: &TestApp, id: &str) {
    let a = vec![b'a'; 3 << 20];
    let b = vec![b'b'; 3 << 20];
    let (ra, rb) = tokio::join!(
        put(app, id, "workspace/race.bin", a.clone()),
        put(app, id, "workspace/race.bin", b.clone())
    );
    assert!(
        ra.status.is_success() && rb.status.is_success(),
        "{} {}",
        ra.text,
        rb.text
    );
    let got = bytes_of(app, id, "workspace/race.bin").await;
    assert!(
        got.as_ref() == a.as_slice() || got.as_ref() == b.as_slice(),
        "a mix"
    );

    let big = vec![7u8; 40 << 20];
    put(app, id, "workspace/race.bin", big)
        .await
        .assert_problem(507, "disk_full");
    let kept = get(app, id, "workspace/race.bin").await;
    assert_eq!(kept.text.len(), 3 << 20, "the old file stays");
    let names = paths(&list(app, id, "recursive=true").await);
    assert!(
        names.iter().all(|n| !n.contains(".sbx-upload")),
        "{names:?}"
    );
    let left = call(
        app,
        Method::GET,
        id,
        "files/workspace/race.bin",
        Bytes::new(),
    )
    .await;
    assert_eq!(left.status.as_u16(), 200);
}

#[actix_web::test]
async fn a_code_interpreters_files_go_both_ways_with_its_code() {
    let app = spawn_app().await;
    let id = common::interpreters::session(&app, json!({"disk": "32Mi"})).await;
    round_trip(&app, &id).await;
    uploads_are_whole(&app, &id).await;

    // The code reads what was uploaded, and what it writes is downloaded.
    put(&app, &id, "workspace/nums.csv", "a,b\n1,2\n3,4\n").await;
    let r = common::interpreters::run(
        &app,
        &id,
        "import pandas as pd\nd = pd.read_csv('/workspace/nums.csv')\nopen('/workspace/sum.txt', 'w').write(str(int(d.values.sum())))\nprint(len(d))",
    )
    .await;
    assert_eq!(r["stdout"], "2\n", "{r}");
    assert_eq!(get(&app, &id, "workspace/sum.txt").await.text, "10");
    get(&app, &id, "outputs/x")
        .await
        .assert_problem(422, "invalid_path");

    // A cell's writes are seen as it makes them.
    let seen = watched(
        &app,
        &id,
        "path=/workspace",
        async {
            common::interpreters::run(&app, &id, "import os\nos.makedirs('/workspace/w', exist_ok=True)\nopen('/workspace/w/cell.txt', 'w').write('1')").await;
        },
        &[("created", "/workspace/w"), ("created", "/workspace/w/cell.txt")],
    )
    .await;
    assert!(
        seen.iter().any(|(e, d)| e == "created"
            && d["type"] == "directory"
            && d["path"] == "/workspace/w"),
        "{seen:?}"
    );

    // Paused by its owner: refused; resumed: the files are there.
    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    get(&app, &id, "workspace/sum.txt")
        .await
        .assert_problem(409, "sandbox_paused");
    put(&app, &id, "workspace/new", "x")
        .await
        .assert_problem(409, "sandbox_paused");
    app.sandbox_action(&id, "resume").await;
    assert_eq!(get(&app, &id, "workspace/sum.txt").await.text, "10");
    common::delete_sandbox(&app, &id).await;
    get(&app, &id, "workspace/sum.txt")
        .await
        .assert_problem(409, "sandbox_ended");
}

/// What only containers have: `/outputs`, files owned by the sandbox user, and links the guest
/// makes that lead out.
async fn container_checks(app: &TestApp, id: &str) {
    let a = put(app, id, "outputs/model/weights.bin", vec![1u8; 1000]).await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    assert_eq!(
        sh(
            app,
            id,
            "stat -c %u /outputs/model /outputs/model/weights.bin; cat /workspace/data/in.txt"
        )
        .await,
        "1000\n1000\nsecond!",
        "made by the sandbox user, uploads seen inside"
    );
    sh(app, id, "mkdir -p /workspace/made && echo from-inside > /workspace/made/f && ln -s /etc /workspace/up && ln -s ../../.. /workspace/rel").await;
    assert_eq!(get(app, id, "workspace/made/f").await.text, "from-inside\n");
    for out in ["workspace/up/passwd", "workspace/rel/etc/passwd"] {
        let a = get(app, id, out).await;
        a.assert_problem(422, "invalid_path");
        let a = put(app, id, out, "owned").await;
        assert!(matches!(a.status.as_u16(), 404 | 422), "{out}: {}", a.text);
    }
    let listing = list(app, id, "path=/workspace").await;
    let up = listing.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/workspace/up")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(up["type"], "symlink", "{}", listing.text);
    // A replaced file keeps its permission bits.
    sh(app, id, "chmod 750 /workspace/data/in.txt").await;
    put(app, id, "workspace/data/in.txt", "second!").await;
    assert_eq!(
        sh(app, id, "stat -c %a /workspace/data/in.txt").await,
        "750\n"
    );
    // A recursive delete stops short of a tree deeper than it goes.
    sh(
        app,
        id,
        "mkdir -p /workspace/deep/$(printf 'd/%.0s' $(seq 70))",
    )
    .await;
    let a = call(
        app,
        Method::DELETE,
        id,
        "files/workspace/deep?recursive=true",
        Bytes::new(),
    )
    .await;
    a.assert_problem(409, "path_conflict");
    let a = call(app, Method::DELETE, id, "files/workspace/up", Bytes::new()).await;
    assert_eq!(
        a.status.as_u16(),
        204,
        "a link is deleted, not what it points to: {}",
        a.text
    );
    assert!(std::path::Path::new("/etc/passwd").exists());
}

/// Changes made through the API and by the code, seen by a watch of `/workspace`; a watch's
/// bad paths.
async fn watches(app: &TestApp, id: &str) {
    let seen = watched(
        app,
        id,
        "path=/workspace&recursive=true",
        async {
            put(app, id, "workspace/w/a.txt", "1").await;
            sh(app, id, "echo 2 >> /workspace/w/a.txt").await;
            call(
                app,
                Method::DELETE,
                id,
                "files/workspace/w/a.txt",
                Bytes::new(),
            )
            .await;
        },
        &[
            ("created", "/workspace/w"),
            ("created", "/workspace/w/a.txt"),
            ("modified", "/workspace/w/a.txt"),
            ("deleted", "/workspace/w/a.txt"),
        ],
    )
    .await;
    assert!(
        seen.iter()
            .all(|(_, d)| !d["path"].as_str().unwrap_or("").contains(".sbx-upload")),
        "an upload's temporary file is not shown: {seen:?}"
    );
    // Only the folder itself, not below it.
    let seen = watched(
        app,
        id,
        "path=/workspace/w&recursive=false",
        async {
            sh(
                app,
                id,
                "mkdir -p /workspace/w/deep && touch /workspace/w/deep/x /workspace/w/top",
            )
            .await;
        },
        &[("created", "/workspace/w/top")],
    )
    .await;
    assert!(
        seen.iter().all(|(_, d)| d["path"] != "/workspace/w/deep/x"),
        "{seen:?}"
    );
    app.get(&format!(
        "/v1/sandboxes/{id}/files/watch?path=/workspace/missing"
    ))
    .await
    .assert_problem(404, "not_found");
    app.get(&format!(
        "/v1/sandboxes/{id}/files/watch?path=/workspace/w/top"
    ))
    .await
    .assert_problem(409, "path_conflict");
    app.get(&format!("/v1/sandboxes/{id}/files/watch?path=/etc"))
        .await
        .assert_problem(422, "invalid_path");
}

#[actix_web::test]
async fn a_containers_files_are_served_by_its_runner() {
    let app = spawn_app().await;
    let id = common::small_container(&app).await;
    round_trip(&app, &id).await;
    container_checks(&app, &id).await;
    uploads_are_whole(&app, &id).await;
    watches(&app, &id).await;
    // A pause ends a watch.
    watched(
        &app,
        &id,
        "path=/outputs",
        async {
            let a = app.sandbox_action(&id, "pause").await;
            assert_eq!(a.body["state"], "paused", "{}", a.text);
        },
        &[("end", "")],
    )
    .await;
    get(&app, &id, "workspace/data/in.txt")
        .await
        .assert_problem(409, "sandbox_paused");
    common::delete_sandbox(&app, &id).await;
}

#[actix_web::test]
async fn an_api_without_docker_reaches_a_containers_files_on_another_runner() {
    let (app, db) = spawn_api_only().await;
    let mut runner = start_runner(&db, 5);
    let id = common::small_container(&app).await;
    let big: Vec<u8> = (0..(5u32 << 20)).map(|i| (i % 251) as u8).collect();
    let a = put(&app, &id, "workspace/big.bin", big.clone()).await;
    assert_eq!(a.status.as_u16(), 201, "{}", a.text);
    let back = app
        .request(
            Method::GET,
            &format!("/v1/sandboxes/{id}/files/workspace/big.bin"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(back.headers().get("content-length").unwrap(), "5242880");
    let bytes = common::answer(back).await;
    assert!(bytes.status.is_success());
    let inside = sh(&app, &id, "wc -c < /workspace/big.bin").await;
    assert_eq!(inside.trim(), "5242880", "the runner wrote it whole");
    let got = bytes_of(&app, &id, "workspace/big.bin").await;
    assert_eq!(got.as_ref(), big.as_slice());
    round_trip(&app, &id).await;
    watches(&app, &id).await;
    // The endpoint refuses a caller without the deployment's token.
    use sbx_store::Db as _;
    let url: String = app
        .pool
        .query_one(
            "select internal_url from runners where internal_url is not null",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let refused = app
        .client
        .get(format!(
            "{url}/internal/v1/sandboxes/{id}/files?path=/workspace"
        ))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    common::delete_sandbox(&app, &id).await;
    runner.kill().unwrap();
    runner.wait().unwrap();
}
