//! People signing in to the dashboard, from the outside: passwords, the session cookie, CSRF,
//! projects by membership, lockout, signing out, and the dashboard's files at `/`.

mod common;

use actix_web::http::Method;
use common::people::{PASSWORD, Session, call, login, login_with_headers, person, signed_in};
use common::{answer, spawn_app, spawn_app_with};
use serde_json::json;

#[actix_web::test]
async fn a_person_signs_in_and_works_in_their_project_with_the_cookie() {
    let app = spawn_app().await;
    person(&app, "ada@example.com").await;

    let r = login(&app, "Ada@Example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let set = r.header("set-cookie").unwrap().to_owned();
    for attribute in ["sbx_session=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "no Secure over http: {set}");
    assert_eq!(r.body["user"]["email"], "ada@example.com");
    assert_eq!(r.body["user"]["kyc_status"], "unverified");
    assert_eq!(r.body["projects"][0]["id"], app.project_id.to_string());
    assert_eq!(r.body["projects"][0]["role"], "member");

    let s = signed_in(&app, "ada@example.com").await;
    let r = call(&app, &s, Method::GET, "/auth/session", false, &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["csrf_token"], s.csrf.as_str());

    // Reading needs no CSRF token; the only project needs no header.
    let r = call(&app, &s, Method::GET, "/v1/sandboxes", false, &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A change needs the CSRF token.
    let body = json!({"image": "code-interpreter"});
    let r = call(
        &app,
        &s,
        Method::POST,
        "/v1/sandboxes",
        false,
        &[],
        Some(body.clone()),
    )
    .await;
    r.assert_problem(403, "csrf_failed");
    let wrong = Session {
        cookie: s.cookie.clone(),
        csrf: "not-it".into(),
    };
    let r = call(
        &app,
        &wrong,
        Method::POST,
        "/v1/sandboxes",
        true,
        &[],
        Some(body.clone()),
    )
    .await;
    r.assert_problem(403, "csrf_failed");
    let r = call(
        &app,
        &s,
        Method::POST,
        "/v1/sandboxes",
        true,
        &[],
        Some(body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // What the person made is the project's: its key sees it.
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/sandboxes/{id}")).await.status, 200);
    let r = call(
        &app,
        &s,
        Method::DELETE,
        &format!("/v1/sandboxes/{id}"),
        true,
        &[],
        None,
    )
    .await;
    assert_eq!(r.body["state"], "terminated", "{}", r.text);
}

#[actix_web::test]
async fn the_project_is_chosen_by_header_among_the_persons_memberships() {
    let app = spawn_app().await;
    let user = person(&app, "bo@example.com").await;
    let s = signed_in(&app, "bo@example.com").await;
    let other = sbx_store::projects::create(&app.pool, "other", None)
        .await
        .unwrap();

    let not_member = [("x-sbx-project", other.project_id.to_string())];
    let r = call(
        &app,
        &s,
        Method::GET,
        "/v1/sandboxes",
        false,
        &not_member,
        None,
    )
    .await;
    r.assert_problem(403, "not_a_member");
    let bad = [("x-sbx-project", "nope".to_owned())];
    let r = call(&app, &s, Method::GET, "/v1/sandboxes", false, &bad, None).await;
    r.assert_problem(400, "bad_request");

    sbx_store::members::add(&app.pool, user, other.project_id, "owner")
        .await
        .unwrap();
    let r = call(&app, &s, Method::GET, "/v1/sandboxes", false, &[], None).await;
    r.assert_problem(400, "bad_request");
    assert!(r.text.contains("X-Sbx-Project"), "{}", r.text);
    let r = call(
        &app,
        &s,
        Method::GET,
        "/v1/sandboxes",
        false,
        &not_member,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = call(&app, &s, Method::GET, "/auth/session", false, &[], None).await;
    assert_eq!(r.body["projects"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn wrong_passwords_are_refused_and_lock_the_account() {
    let app = spawn_app().await;
    person(&app, "cy@example.com").await;
    // An email no account has locks alike: a lock tells nothing of who has an account.
    for _ in 0..sbx_api::accounts::MAX_FAILURES {
        login(&app, "nobody@example.com", PASSWORD)
            .await
            .assert_problem(401, "invalid_login");
    }
    login(&app, "nobody@example.com", PASSWORD)
        .await
        .assert_problem(429, "login_locked");
    for _ in 0..sbx_api::accounts::MAX_FAILURES - 1 {
        login(&app, "cy@example.com", "wrong password")
            .await
            .assert_problem(401, "invalid_login");
    }
    let r = login(&app, "cy@example.com", "wrong password").await;
    r.assert_problem(429, "login_locked");
    // Locked: the right password does not get in either, until the lock ends.
    let r = login(&app, "cy@example.com", PASSWORD).await;
    r.assert_problem(429, "login_locked");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "{wait}");
    // Bad bodies are the caller's fault.
    let r = answer(
        app.client
            .post(format!("{}/auth/login", app.base))
            .send_json(&json!({"email": "x"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
}

#[actix_web::test]
async fn sign_in_attempts_from_one_address_are_rate_limited() {
    // The allowance refills one attempt every 3 s: on a slow machine a few more get through
    // before the first refusal, never fewer than the burst.
    let app = spawn_app().await;
    let burst = sbx_api::accounts::LOGIN_ATTEMPTS_PER_MINUTE as usize;
    let mut allowed = 0;
    for i in 0..3 * burst {
        let r = login(&app, &format!("n{i}@example.com"), "whatever password").await;
        if r.status == 429 {
            r.assert_problem(429, "rate_limited");
            assert!(r.header("retry-after").is_some());
            assert!(allowed >= burst, "refused after {allowed}");
            return;
        }
        r.assert_problem(401, "invalid_login");
        allowed += 1;
    }
    panic!("{allowed} attempts were all allowed");
}

/// Sign-in attempts from `from` (an `X-Forwarded-For`) with unknown emails until one is
/// refused for the address; how many were let through.
async fn attempts_until_limited(app: &common::TestApp, from: &str) -> usize {
    let burst = sbx_api::accounts::LOGIN_ATTEMPTS_PER_MINUTE as usize;
    for i in 0..3 * burst {
        let email = format!("{from}-{i}@example.com");
        let r = login_with_headers(
            app,
            &email,
            "whatever password",
            &[("x-forwarded-for", from)],
        )
        .await;
        if r.status == 429 {
            r.assert_problem(429, "rate_limited");
            return i;
        }
        r.assert_problem(401, "invalid_login");
    }
    panic!("{from}: every attempt was allowed");
}

#[actix_web::test]
async fn forwarding_headers_count_only_from_trusted_proxies() {
    let https = [("x-forwarded-proto", "https")];
    // Behind a trusted proxy (the test client's own address): each forwarded client has its
    // own allowance, and the cookie is Secure when the proxy says the client used https.
    let proxied =
        spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    assert!(attempts_until_limited(&proxied, "203.0.113.7").await >= 1);
    login_with_headers(
        &proxied,
        "x@example.com",
        "whatever password",
        &[("x-forwarded-for", "203.0.113.8")],
    )
    .await
    .assert_problem(401, "invalid_login");
    person(&proxied, "ev@example.com").await;
    let r = login_with_headers(&proxied, "ev@example.com", PASSWORD, &https).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("set-cookie").unwrap().contains("Secure"),
        "{:?}",
        r.header("set-cookie")
    );

    // Without one, the headers are the client's own words: ignored.
    let direct = spawn_app().await;
    attempts_until_limited(&direct, "203.0.113.7").await;
    login_with_headers(
        &direct,
        "x@example.com",
        "whatever password",
        &[("x-forwarded-for", "203.0.113.8")],
    )
    .await
    .assert_problem(429, "rate_limited");
    let direct = spawn_app().await;
    person(&direct, "ev@example.com").await;
    let r = login_with_headers(&direct, "ev@example.com", PASSWORD, &https).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        !r.header("set-cookie").unwrap().contains("Secure"),
        "{:?}",
        r.header("set-cookie")
    );
}

#[actix_web::test]
async fn expired_sessions_are_refused_and_purged() {
    let app = spawn_app().await;
    person(&app, "fa@example.com").await;
    let old = signed_in(&app, "fa@example.com").await;
    let live = signed_in(&app, "fa@example.com").await;
    let hash = |s: &Session| sbx_api::accounts::token_hash(s.cookie.split_once('=').unwrap().1);
    let client = app.pool.get().await.unwrap();
    client
        .execute(
            "update sessions set expires_at = now() - interval '1 second' where token_hash = $1",
            &[&hash(&old)],
        )
        .await
        .unwrap();
    call(&app, &old, Method::GET, "/auth/session", false, &[], None)
        .await
        .assert_problem(401, "not_signed_in");
    assert!(sbx_store::sessions::purge_expired(&app.pool).await.unwrap() >= 1);
    let left: i64 = client
        .query_one(
            "select count(*) from sessions where token_hash = $1",
            &[&hash(&old)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let r = call(&app, &live, Method::GET, "/auth/session", false, &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[actix_web::test]
async fn signing_out_ends_this_session_or_every_one() {
    let app = spawn_app().await;
    person(&app, "di@example.com").await;
    let a = signed_in(&app, "di@example.com").await;
    let b = signed_in(&app, "di@example.com").await;
    let c = signed_in(&app, "di@example.com").await;

    let r = call(&app, &a, Method::POST, "/auth/logout", false, &[], None).await;
    r.assert_problem(403, "csrf_failed");
    let r = call(&app, &a, Method::POST, "/auth/logout", true, &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let r = call(&app, &a, Method::GET, "/v1/sandboxes", false, &[], None).await;
    r.assert_problem(401, "not_signed_in");
    assert_eq!(
        call(&app, &b, Method::GET, "/auth/session", false, &[], None)
            .await
            .status,
        200
    );

    let r = call(&app, &b, Method::POST, "/auth/logout-all", true, &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    for s in [&b, &c] {
        call(&app, s, Method::GET, "/auth/session", false, &[], None)
            .await
            .assert_problem(401, "not_signed_in");
    }
    // No cookie at all.
    let r = answer(
        app.client
            .get(format!("{}/auth/session", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(401, "not_signed_in");
}

#[actix_web::test]
async fn the_dev_login_is_made_once_and_signs_in() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("sbx-dev-login-{}", uuid::Uuid::now_v7()));
    let path = dir.join("login");
    let first = sbx::app::ensure_dev_login(&app.pool, &path).await.unwrap();
    let again = sbx::app::ensure_dev_login(&app.pool, &path).await.unwrap();
    assert_eq!(first, again);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let r = login(&app, &first.0, &first.1).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["projects"][0]["name"], "dev");
    assert_eq!(r.body["projects"][0]["role"], "owner");
    std::fs::remove_dir_all(dir).unwrap();
}

#[actix_web::test]
async fn the_dashboard_is_served_at_the_root_and_the_api_keeps_its_404() {
    let dir = std::env::temp_dir().join(format!("sbx-dashboard-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>sbx</title>").unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log(1)").unwrap();
    let d = dir.clone();
    let app = spawn_app_with(move |s| {
        s.dashboard = sbx::settings::Toggle::On;
        s.dashboard_dir = d;
    })
    .await;
    let get = |path: &'static str| {
        let req = app.client.get(format!("{}{path}", app.base));
        async move { answer(req.send().await.unwrap()).await }
    };
    for path in ["/", "/sandboxes", "/sandboxes/abc"] {
        let r = get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text.contains("<title>sbx</title>"), "{path}: {}", r.text);
    }
    let r = get("/assets/app.js").await;
    assert_eq!(r.text, "console.log(1)");
    app.get("/v1/nope").await.assert_problem(404, "not_found");
    get("/auth/nope").await.assert_problem(404, "not_found");
    assert_eq!(get("/healthz").await.status, 200);
    let off = spawn_app_with(|s| s.dashboard = sbx::settings::Toggle::Off).await;
    let r = answer(
        off.client
            .get(format!("{}/", off.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(404, "not_found");
    std::fs::remove_dir_all(dir).unwrap();
}

#[actix_web::test]
async fn keys_are_made_listed_and_revoked_by_signed_in_owners_only() {
    let app = spawn_app().await;
    // Not with a key (a leaked key must not mint others), not as a plain member.
    for path in ["/v1/keys", "/v1/webhook-secret"] {
        app.get(path).await.assert_problem(403, "not_an_owner");
    }
    app.post("/v1/keys", &json!({"name": "ci"}))
        .await
        .assert_problem(403, "not_an_owner");
    let user = person(&app, "ed@example.com").await;
    let s = signed_in(&app, "ed@example.com").await;
    let get = |path: &'static str| call(&app, &s, Method::GET, path, false, &[], None);
    get("/v1/keys").await.assert_problem(403, "not_an_owner");
    sbx_store::members::add(&app.pool, user, app.project_id, "owner")
        .await
        .unwrap();

    let make =
        |body: serde_json::Value| call(&app, &s, Method::POST, "/v1/keys", true, &[], Some(body));
    let r = make(json!({"name": "ci"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["key_secret"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(r.body["prefix"].as_str().unwrap()));
    assert_eq!(
        app.get_with_key("/v1/sandboxes", Some(&secret))
            .await
            .status,
        200
    );
    let listed = get("/v1/keys").await;
    let names: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["test", "ci"]);
    assert!(
        !listed.text.contains(&secret),
        "a listing never shows a secret"
    );
    for bad in [json!({"name": ""}), json!({"name": "x".repeat(101)})] {
        make(bad).await.assert_problem(422, "invalid_request");
    }
    let r = get("/v1/webhook-secret").await;
    assert!(
        r.body["secret"].as_str().unwrap().starts_with("whsec_"),
        "{}",
        r.text
    );

    let revoke = |id: String| {
        let (app, s) = (&app, &s);
        async move {
            let path = format!("/v1/keys/{id}");
            call(app, s, Method::DELETE, &path, true, &[], None).await
        }
    };
    let r = revoke(id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["revoked"], true);
    app.get_with_key("/v1/sandboxes", Some(&secret))
        .await
        .assert_problem(401, "invalid_api_key");
    // Another project's key is not this project's to revoke.
    let other = sbx_store::projects::create(&app.pool, "other", None)
        .await
        .unwrap();
    let (their_id, their_key) = sbx_store::keys::create(&app.pool, other.project_id, "theirs")
        .await
        .unwrap();
    revoke(their_id.to_string())
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get_with_key("/v1/sandboxes", Some(&their_key))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn batches_are_listed_newest_first_with_paging() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let item = json!({"id": "a", "code": format!("print({n})")});
        let r = app.post("/v1/batches", &json!({"items": [item]})).await;
        assert_eq!(r.status, 202, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let first = app.get("/v1/batches?limit=2").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let page: Vec<&str> = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, ids[..2]);
    assert_eq!(first.body["data"][0]["total"], 1);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/batches?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest.body["data"][0]["id"], ids[2].as_str());
    assert!(rest.body["next_cursor"].is_null());
    let other = app.other_project_key().await;
    let theirs = app.get_with_key("/v1/batches", Some(&other)).await;
    assert_eq!(theirs.body["data"], json!([]));
    app.get("/v1/batches?limit=0")
        .await
        .assert_problem(400, "bad_request");
}
