//! People signed in to the dashboard, for tests: a person with a password, signing in, and
//! requests made with their session cookie and CSRF token.

#![allow(dead_code)]

use actix_web::http::Method;
use serde_json::{Value, json};

use super::{Answer, TestApp, answer};

/// The password every [`person`] has.
pub const PASSWORD: &str = "a long enough password";

/// A person with `PASSWORD`, a member of the app's project.
pub async fn person(app: &TestApp, email: &str) -> sbx_core::ids::UserId {
    let user = sbx_store::users::upsert(&app.pool, email).await.unwrap();
    let hash = sbx_api::accounts::hash_password(PASSWORD);
    sbx_store::users::set_password(&app.pool, email, &hash)
        .await
        .unwrap();
    sbx_store::members::add(&app.pool, user.user_id, app.project_id, "member")
        .await
        .unwrap();
    user.user_id
}

/// `POST /auth/login` with `email` and `password`.
pub async fn login(app: &TestApp, email: &str, password: &str) -> Answer {
    login_with_headers(app, email, password, &[]).await
}

/// `POST /auth/login` with `email`, `password` and extra `headers` (`X-Forwarded-For`, …).
pub async fn login_with_headers(
    app: &TestApp,
    email: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = app.client.post(format!("{}/auth/login", app.base));
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    answer(
        req.send_json(&json!({"email": email, "password": password}))
            .await
            .unwrap(),
    )
    .await
}

/// A signed-in person's cookie and CSRF token.
pub struct Session {
    /// `sbx_session=…`.
    pub cookie: String,
    /// The session's CSRF token.
    pub csrf: String,
}

pub async fn signed_in(app: &TestApp, email: &str) -> Session {
    let r = login(app, email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let set = r.header("set-cookie").unwrap();
    Session {
        cookie: set.split(';').next().unwrap().to_owned(),
        csrf: r.body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

/// A request with `s`'s cookie (no API key), and its CSRF token when `csrf`.
pub async fn call(
    app: &TestApp,
    s: &Session,
    method: Method,
    path: &str,
    csrf: bool,
    extra: &[(&str, String)],
    body: Option<Value>,
) -> Answer {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.base))
        .insert_header(("cookie", s.cookie.clone()));
    if csrf {
        req = req.insert_header(("x-csrf-token", s.csrf.clone()));
    }
    for (k, v) in extra {
        req = req.insert_header((*k, v.clone()));
    }
    let res = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    };
    answer(res.unwrap()).await
}
