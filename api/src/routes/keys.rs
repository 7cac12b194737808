//! `GET /v1/keys`, `POST /v1/keys`, `DELETE /v1/keys/{id}`: the project's API keys, and
//! `GET /v1/webhook-secret`: the secret its webhooks are signed with. A key's secret is shown
//! once, when it is made; only its SHA-256 is kept. Only the project's owners, signed in to the
//! dashboard, manage them: not a plain member, and not a program with a key (a leaked key could
//! otherwise mint keys that outlive its own revocation): 403 `not_an_owner`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};

/// Longest key name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// An API key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// The id.
    pub id: String,
    /// Its label.
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// Whether it was revoked (it then authenticates nothing).
    pub revoked: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl From<sbx_store::keys::KeyInfo> for KeyView {
    fn from(k: sbx_store::keys::KeyInfo) -> Self {
        Self {
            id: k.api_key_id.to_string(),
            name: k.name,
            prefix: k.prefix,
            revoked: k.revoked,
            created_at: k.created_at,
        }
    }
}

/// The project's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Oldest first, revoked ones included.
    pub data: Vec<KeyView>,
}

/// A key to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A label, 1 to 100 characters.
    #[schema(example = "ci", min_length = 1, max_length = 100)]
    pub name: String,
}

/// A new key, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key as listed.
    #[serde(flatten)]
    pub key: KeyView,
    /// The secret to send as `Authorization: Bearer <key>`. It is not kept: it cannot be shown
    /// again.
    pub key_secret: String,
}

/// The project's webhook signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    /// `whsec_…`: receivers of the project's `callback_url`s check the `webhook-signature`
    /// header with it (Standard Webhooks).
    pub secret: String,
}

fn owner(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.manages {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        code: Code::NotAnOwner,
        detail: "only the project's owners, signed in, manage its keys and secrets".into(),
    })
}

/// The project's API keys.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("api_key" = [])),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 403, description = "Not an owner signed in: a plain member, or a program with a key (`not_an_owner`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_keys(Ctx { state, caller }: Ctx) -> Reply {
    owner(&caller)?;
    let keys = sbx_store::keys::list(&state.pool, caller.0.project_id).await?;
    Ok(HttpResponse::Ok().json(KeyList {
        data: keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Make an API key for the project; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", security(("api_key" = [])),
    request_body = NewKey,
    responses(
        (status = 201, description = "Made: the key and its secret, shown once", body = CreatedKey),
        (status = 403, description = "Not an owner signed in: a plain member, or a program with a key (`not_an_owner`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_key(Ctx { state, caller }: Ctx, body: crate::body::Json<NewKey>) -> Reply {
    owner(&caller)?;
    let name = body.0.name.trim().to_owned();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "name",
            format!(
                "name must be 1 to {MAX_NAME_CHARS} characters, none of them control characters"
            ),
        ));
    }
    let (key, secret) = sbx_store::keys::make(&state.pool, caller.0.project_id, &name).await?;
    Ok(HttpResponse::Created().json(CreatedKey {
        key: key.into(),
        key_secret: secret,
    }))
}

/// Revoke one of the project's API keys (at once: it authenticates nothing after).
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", security(("api_key" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "Revoked (or already): the key", body = KeyView),
        (status = 403, description = "Not an owner signed in: a plain member, or a program with a key (`not_an_owner`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key in this project", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_key(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    owner(&caller)?;
    if sbx_core::ids::ApiKeyId::parse(&id).is_none() {
        return Err(ApiError::NotFound("no such key".into()));
    }
    let key = sbx_store::keys::revoke(&state.pool, &id, Some(caller.0.project_id))
        .await
        .map_err(|e| match e {
            sbx_store::StoreError::NotFound(_) => ApiError::NotFound("no such key".into()),
            e => e.into(),
        })?;
    Ok(HttpResponse::Ok().json(KeyView::from(key)))
}

/// The secret the project's webhooks are signed with.
#[utoipa::path(get, path = "/v1/webhook-secret", tag = "keys", security(("api_key" = [])),
    responses(
        (status = 200, description = "The secret", body = WebhookSecret),
        (status = 403, description = "Not an owner signed in: a plain member, or a program with a key (`not_an_owner`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn webhook_secret(Ctx { state, caller }: Ctx) -> Reply {
    owner(&caller)?;
    let secret = sbx_store::webhooks::secret(&state.pool, caller.0.project_id).await?;
    Ok(HttpResponse::Ok().json(WebhookSecret { secret }))
}
