//! Identity checks from the outside: a person's submission, an operator's decision, a
//! provider's signed webhook, and `SBX_KYC_REQUIRED` deciding which sandboxes need them.

mod common;

use actix_web::http::Method;
use base64::Engine as _;
use common::people::{Session, call, person, signed_in};
use common::{TestApp, answer, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n a passport scan";

fn submission() -> Value {
    json!({
        "legal_name": "Ada Lovelace",
        "country": "GB",
        "date_of_birth": "1990-12-10",
        "document": {
            "name": "passport.png",
            "content_type": "image/png",
            "content_b64": base64::engine::general_purpose::STANDARD.encode(PNG),
        },
    })
}

async fn submit(app: &TestApp, s: &Session, body: Value) -> common::Answer {
    call(app, s, Method::POST, "/auth/kyc", true, &[], Some(body)).await
}

async fn status(app: &TestApp, s: &Session) -> String {
    let r = call(app, s, Method::GET, "/auth/session", false, &[], None).await;
    r.body["user"]["kyc_status"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_submission_makes_the_person_pending_and_an_operator_decides_it() {
    let app = spawn_app().await;
    person(&app, "ada@example.com").await;
    let ada = signed_in(&app, "ada@example.com").await;

    let cases = [
        ("/country", json!("gb"), "country"),
        ("/date_of_birth", json!("2020-01-01"), "date_of_birth"),
        ("/date_of_birth", json!("10/12/1990"), "date_of_birth"),
        ("/legal_name", json!(" "), "legal_name"),
        (
            "/document/content_type",
            json!("text/plain"),
            "document.content_type",
        ),
        (
            "/document/content_b64",
            json!("***"),
            "document.content_b64",
        ),
        // Not a PNG, whatever it says.
        (
            "/document/content_b64",
            json!("aGVsbG8="),
            "document.content_b64",
        ),
        ("/document/name", json!("a\rb.png"), "document.name"),
    ];
    for (pointer, value, field) in cases {
        let mut body = submission();
        *body.pointer_mut(pointer).unwrap() = value;
        let r = submit(&app, &ada, body).await;
        assert_eq!(r.status, 422, "{pointer}: {}", r.text);
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    assert_eq!(
        status(&app, &ada).await,
        "unverified",
        "a refusal changes nothing"
    );
    let r = call(
        &app,
        &ada,
        Method::POST,
        "/auth/kyc",
        false,
        &[],
        Some(submission()),
    )
    .await;
    r.assert_problem(403, "csrf_failed");

    assert_eq!(submit(&app, &ada, submission()).await.status, 202);
    assert_eq!(status(&app, &ada).await, "pending");
    // A second submission supersedes the first: one pending check per person.
    assert_eq!(submit(&app, &ada, submission()).await.status, 202);

    // Not an operator: no Admin page.
    call(&app, &ada, Method::GET, "/admin/kyc", false, &[], None)
        .await
        .assert_problem(403, "not_an_operator");
    person(&app, "op@example.com").await;
    sbx_store::users::set_operator(&app.pool, "op@example.com", true)
        .await
        .unwrap();
    let op = signed_in(&app, "op@example.com").await;
    let list = |query: &'static str| {
        let (app, op) = (&app, &op);
        async move {
            let path = format!("/admin/kyc{query}");
            call(app, op, Method::GET, &path, false, &[], None).await
        }
    };
    let r = list("").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.text);
    let item = &r.body["data"][0];
    assert_eq!(item["email"], "ada@example.com");
    assert_eq!(item["country"], "GB");
    assert_eq!(item["status"], "pending");
    let id = item["id"].as_str().unwrap().to_owned();
    assert!(
        !r.text.contains("content_b64"),
        "the list carries no document"
    );

    let mut res = app
        .client
        .get(format!("{}/admin/kyc/{id}/document", app.base))
        .insert_header(("cookie", op.cookie.clone()))
        .send()
        .await
        .unwrap();
    let header = |n: &str| res.headers().get(n).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-disposition").contains(&format!("submission-{id}.png")));
    let doc = res.body().await.unwrap();
    assert_eq!(&doc[..], PNG, "the document comes back as uploaded");
    let stored: Vec<u8> = sbx_store::kyc::document(&app.pool, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .2;
    assert!(
        !stored.windows(PNG.len()).any(|w| w == PNG),
        "the database keeps it sealed"
    );

    let decide = |id: String, how: &'static str, body: Value| {
        let (app, op) = (&app, &op);
        async move {
            let path = format!("/admin/kyc/{id}/{how}");
            call(app, op, Method::POST, &path, true, &[], Some(body)).await
        }
    };
    let path = format!("/admin/kyc/{id}/verify");
    call(&app, &op, Method::POST, &path, false, &[], Some(json!({})))
        .await
        .assert_problem(403, "csrf_failed");
    let r = decide(id.clone(), "verify", json!({})).await;
    assert_eq!(r.body["status"], "verified", "{}", r.text);
    assert_eq!(status(&app, &ada).await, "verified");
    decide(id, "verify", json!({}))
        .await
        .assert_problem(404, "not_found");
    submit(&app, &ada, submission())
        .await
        .assert_problem(409, "conflict");

    // No operator decides their own check.
    assert_eq!(submit(&app, &op, submission()).await.status, 202);
    let own = list("").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    decide(own, "verify", json!({}))
        .await
        .assert_problem(403, "not_an_operator");

    // A rejection, with its reason.
    person(&app, "bo@example.com").await;
    let bo = signed_in(&app, "bo@example.com").await;
    assert_eq!(submit(&app, &bo, submission()).await.status, 202);
    let pending = list("").await;
    let bos = pending.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "bo@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = decide(bos, "reject", json!({"reason": "the scan is unreadable"})).await;
    assert_eq!(
        r.body["decision_note"], "the scan is unreadable",
        "{}",
        r.text
    );
    assert_eq!(status(&app, &bo).await, "rejected");
    // Ada's two (one superseded), the operator's own, Bo's.
    let all = list("?status=all").await;
    assert_eq!(
        all.body["data"].as_array().unwrap().len(),
        4,
        "{}",
        all.text
    );
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn hook(
    app: &TestApp,
    id: &str,
    body: &Value,
    timestamp: i64,
    secret: &str,
) -> common::Answer {
    let bytes = serde_json::to_vec(body).unwrap();
    let sig = sbx_api::webhooks::sign(secret, id, timestamp, &bytes).unwrap();
    let req = app
        .client
        .post(format!("{}/v1/kyc/webhook", app.base))
        .insert_header(("content-type", "application/json"))
        .insert_header(("webhook-id", id))
        .insert_header(("webhook-timestamp", timestamp.to_string()))
        .insert_header(("webhook-signature", sig));
    answer(req.send_body(bytes).await.unwrap()).await
}

#[actix_web::test]
async fn a_provider_decides_through_a_signed_webhook() {
    let app = spawn_app_with(|s| s.kyc_webhook_secret = Some(SECRET.into())).await;
    person(&app, "cy@example.com").await;
    let cy = signed_in(&app, "cy@example.com").await;
    assert_eq!(submit(&app, &cy, submission()).await.status, 202);
    let now = chrono::Utc::now().timestamp();
    let body =
        json!({"type": "kyc.verified", "data": {"email": "cy@example.com", "reference": "chk_42"}});

    hook(&app, "msg_1", &body, now, "whsec_c29tZXRoaW5nIGVsc2U=")
        .await
        .assert_problem(401, "invalid_signature");
    hook(&app, "msg_1", &body, now - 3600, SECRET)
        .await
        .assert_problem(401, "invalid_signature");
    let unsigned = answer(
        app.client
            .post(format!("{}/v1/kyc/webhook", app.base))
            .send_json(&body)
            .await
            .unwrap(),
    )
    .await;
    unsigned.assert_problem(401, "invalid_signature");
    assert_eq!(status(&app, &cy).await, "pending");

    let r = hook(&app, "msg_1", &body, now, SECRET).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(status(&app, &cy).await, "verified");
    // A later decision, then the first one replayed (its signature still fresh): the replay is
    // acknowledged and not applied again.
    let rejected =
        json!({"type": "kyc.rejected", "data": {"email": "cy@example.com", "reference": "chk_43"}});
    let r = hook(&app, "msg_2", &rejected, now, SECRET).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(status(&app, &cy).await, "rejected");
    let r = hook(&app, "msg_1", &body, now, SECRET).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(status(&app, &cy).await, "rejected");

    let nobody = json!({"type": "kyc.rejected", "data": {"email": "nobody@example.com"}});
    hook(&app, "msg_3", &nobody, now, SECRET)
        .await
        .assert_problem(404, "not_found");

    // Without a provider configured, there is no such endpoint.
    let plain = spawn_app().await;
    hook(&plain, "msg_1", &body, now, SECRET)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn the_kyc_rule_decides_which_sandboxes_need_a_verified_owner() {
    use sbx::settings::KycRequired;
    let interpreter = json!({"image": "code-interpreter"});
    let gpu = json!({"image": "python", "gpu": {"type": "H100 80GB", "fraction": 0.25}});

    let all = spawn_app_with(|s| s.kyc_required = KycRequired::All).await;
    let r = all.post("/v1/sandboxes", &interpreter).await;
    r.assert_problem(403, "kyc_required");
    let owner = sbx_store::users::upsert(&all.pool, "owner@example.com")
        .await
        .unwrap();
    sbx_store::projects::adopt(&all.pool, all.project_id, owner.user_id)
        .await
        .unwrap();
    sbx_store::users::set_kyc(&all.pool, "owner@example.com", "verified")
        .await
        .unwrap();
    let r = all.post("/v1/sandboxes", &interpreter).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let default = spawn_app_with(|s| s.gpus = Some("H100 80GB".into())).await;
    assert_eq!(
        default.post("/v1/sandboxes", &interpreter).await.status,
        201
    );
    default
        .post("/v1/sandboxes", &gpu)
        .await
        .assert_problem(403, "kyc_required");

    let none = spawn_app_with(|s| {
        s.kyc_required = KycRequired::None;
        s.gpus = Some("H100 80GB".into());
    })
    .await;
    let r = none.post("/v1/sandboxes", &gpu).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    none.request(Method::DELETE, &format!("/v1/sandboxes/{id}"))
        .send()
        .await
        .unwrap();
}
