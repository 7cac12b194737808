//! The file tools' work: `write_file`, `read_file` and `list_files` on a sandbox's files,
//! where they are ([`crate::files::Place`]): here, through the same operations as the HTTP
//! API, or on a container's runner, through its endpoint ([`crate::runner_endpoint::call_whole`]).

use actix_web::http::Method;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::files::path::percent_encode;
use crate::files::{GuestPath, Place, ops};

/// Most bytes `read_file` returns (a model reads them; bigger files go through the HTTP API).
pub const MAX_READ_BYTES: usize = 4 << 20;

/// Why a file tool failed: sbx refused here, or the runner answered a problem (its text).
pub enum Refusal {
    /// Refused here.
    Api(ApiError),
    /// The runner's problem, as `detail (code, HTTP status, field `f`)`.
    Relayed(String),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// The URL path of `path` in sandbox `id` below `what` (`files`, `directories`).
fn url(id: &str, what: &str, path: &GuestPath) -> String {
    let mut out = format!("/v1/sandboxes/{id}/{what}/{}", &path.tree.root()[1..]);
    for name in path.rel.iter() {
        out.push('/');
        out.push_str(&percent_encode(name.as_encoded_bytes()));
    }
    out
}

/// The runner's answer as the tool's: its JSON on success, else its problem relayed.
pub(super) fn relayed(
    whole: crate::runner_endpoint::Whole,
) -> Result<crate::runner_endpoint::Whole, Refusal> {
    if whole.status.is_success() {
        return Ok(whole);
    }
    let p: Value = serde_json::from_slice(&whole.body).unwrap_or(Value::Null);
    let field = p["field"]
        .as_str()
        .map(|f| format!(", field `{f}`"))
        .unwrap_or_default();
    Err(Refusal::Relayed(format!(
        "{} ({}, HTTP {}{field})",
        p["detail"].as_str().unwrap_or("the runner refused"),
        p["code"].as_str().unwrap_or("error"),
        whole.status.as_u16()
    )))
}

/// Write `content` to `path` in sandbox `id`: the file's entry, as `PUT …/files/{path}`
/// answers it.
pub async fn write(
    state: &AppState,
    caller: &Caller,
    id: &str,
    path: &str,
    content: bytes::Bytes,
) -> Result<Value, Refusal> {
    let path = GuestPath::parse(path, "path")?;
    match crate::routes::sandboxes::files::place(state, caller, id).await? {
        Place::Here(folders) => {
            let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(content)]);
            let (info, _) = ops::write(folders, path, body).await?;
            Ok(serde_json::to_value(info).expect("an entry serializes"))
        }
        Place::Runner { url: base, token } => {
            let at = url(id, "files", &path);
            let whole = crate::runner_endpoint::call_whole(
                Method::PUT,
                &base,
                &at,
                &token,
                Some(("application/octet-stream", content)),
                1 << 20,
            )
            .await?;
            let whole = relayed(whole)?;
            Ok(serde_json::from_slice(&whole.body).unwrap_or(Value::Null))
        }
    }
}

/// The content of the file at `path` in sandbox `id` (at most [`MAX_READ_BYTES`]), as
/// `{path, size, encoding, content}`: UTF-8 text, else base64.
pub async fn read(
    state: &AppState,
    caller: &Caller,
    id: &str,
    path: &str,
) -> Result<Value, Refusal> {
    let path = GuestPath::parse(path, "path")?;
    let too_big = |size: usize| {
        ApiError::too_large(
            "path",
            format!(
                "{} is over {MAX_READ_BYTES} bytes ({size} read), what read_file returns: download it with GET /v1/sandboxes/{{id}}/files/{{path}}",
                path.shown()
            ),
        )
    };
    let bytes = match crate::routes::sandboxes::files::place(state, caller, id).await? {
        Place::Here(folders) => {
            let file = ops::open_read(folders, path.clone()).await?;
            let shown = path.clone();
            actix_web::web::block(move || {
                use std::io::Read as _;
                let mut out = Vec::new();
                file.take(MAX_READ_BYTES as u64 + 1)
                    .read_to_end(&mut out)
                    .map(|_| out)
                    .map_err(|e| ops::io_error(e, &shown))
            })
            .await
            .map_err(|e| ApiError::Internal(format!("reading a file: {e}")))??
        }
        Place::Runner { url: base, token } => {
            let at = url(id, "files", &path);
            let whole = crate::runner_endpoint::call_whole(
                Method::GET,
                &base,
                &at,
                &token,
                None,
                MAX_READ_BYTES + 1,
            )
            .await?;
            relayed(whole)?.body.to_vec()
        }
    };
    if bytes.len() > MAX_READ_BYTES {
        return Err(too_big(bytes.len()).into());
    }
    let size = bytes.len();
    Ok(match String::from_utf8(bytes) {
        Ok(text) => {
            json!({"path": path.shown(), "size": size, "encoding": "utf-8", "content": text})
        }
        Err(e) => json!({
            "path": path.shown(), "size": size, "encoding": "base64",
            "content": base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
        }),
    })
}

/// The entries of the folder `path` in sandbox `id`, as `GET …/files` answers them.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    id: &str,
    path: &str,
    recursive: bool,
) -> Result<Value, Refusal> {
    let path = GuestPath::parse(path, "path")?;
    match crate::routes::sandboxes::files::place(state, caller, id).await? {
        Place::Here(folders) => {
            let list = ops::list(folders, path, recursive).await?;
            Ok(serde_json::to_value(list).expect("a listing serializes"))
        }
        Place::Runner { url: base, token } => {
            let at = format!(
                "/v1/sandboxes/{id}/files?path={}&recursive={recursive}",
                percent_encode(path.shown().as_bytes())
            );
            let whole =
                crate::runner_endpoint::call_whole(Method::GET, &base, &at, &token, None, 16 << 20)
                    .await?;
            let whole = relayed(whole)?;
            Ok(serde_json::from_slice(&whole.body).unwrap_or(Value::Null))
        }
    }
}
