//! The connection to an sbx server: where it is and which key to use (flags, `SBX_*`
//! variables, the config file `sbx login` writes), and the HTTP calls with problem+json
//! answers turned into [`CliError`]s.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::PathBuf;
use std::time::Duration;

use awc::http::{Method, StatusCode};
use bytes::Bytes;
use futures_util::stream::LocalBoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{CliError, CliResult};

/// The server used when no flag, variable or config file names one.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// The key file a local `scripts/run` server writes; the last fallback for the key.
pub const DEV_KEY_FILE: &str = ".data/dev-api-key";
/// Seconds an ordinary request may take; an exec adds its own time limit on top.
pub const DEFAULT_TIMEOUT_S: u64 = 60;
/// Extra attempts at a request the server turned away before doing anything (429
/// `rate_limited`/`concurrency_limit`) or, for reads and creates with an `Idempotency-Key`,
/// a 502, 503 or 504.
const MAX_RETRIES: u32 = 3;
/// Longest wait between attempts, whatever `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Largest JSON answer read, in bytes (a batch's results page, an exec with big output).
const MAX_BODY_BYTES: usize = 256 << 20;

/// What `sbx login` keeps in `config.toml`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Config {
    /// The server's base URL.
    pub url: Option<String>,
    /// The API key.
    pub api_key: Option<String>,
}

impl Config {
    /// `$XDG_CONFIG_HOME/sbx/config.toml` (or the platform's config directory); `None` when
    /// there is no home directory to find it in.
    pub fn path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("sbx").join("config.toml"))
    }

    /// The saved config; empty when there is none.
    ///
    /// # Errors
    /// [`CliError::Input`] when the file exists but cannot be read or parsed.
    pub fn load() -> CliResult<Self> {
        let Some(path) = Self::path() else {
            return Ok(Self::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| CliError::Input(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CliError::Input(format!("{}: {e}", path.display()))),
        }
    }

    /// Write the config, readable by the user only: the directory is made 0700 and the file
    /// created 0600 beside the old one, then renamed over it, so the key is never readable
    /// by others, not even for a moment. Returns the path written.
    ///
    /// # Errors
    /// [`CliError::Input`] without a home directory; [`CliError::Io`] when writing fails.
    pub fn save(&self) -> CliResult<PathBuf> {
        let path = Self::path().ok_or_else(|| {
            CliError::Input("no config directory: set HOME or XDG_CONFIG_HOME".into())
        })?;
        let dir = path.parent().expect("the config file is in a directory");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(CliError::io(format!("creating {}", dir.display())))?;
        let text = toml::to_string(self).expect("the config serializes");
        let tmp = dir.join(format!(".config.toml.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::Io {
                what: format!("writing {}", path.display()),
                source: e,
            }
        })?;
        Ok(path)
    }
}

/// Where the server is: a flag or `SBX_URL` (`given`), else the config file, else
/// [`DEFAULT_URL`]; without a trailing slash.
///
/// # Errors
/// [`CliError::Input`] for a URL that is not `http://` or `https://`.
pub fn resolve_url(given: Option<&str>, config: &Config) -> CliResult<String> {
    let url = given
        .or(config.url.as_deref())
        .unwrap_or(DEFAULT_URL)
        .trim_end_matches('/')
        .to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CliError::Input(format!(
            "the server URL must start with http:// or https://: {url:?}"
        )));
    }
    Ok(url)
}

/// Which key to use: a flag or `SBX_API_KEY` (`given`), else the config file, else
/// [`DEV_KEY_FILE`] in the current directory.
///
/// # Errors
/// [`CliError::NoKey`] when there is none.
pub fn resolve_key(given: Option<&str>, config: &Config) -> CliResult<String> {
    if let Some(k) = given.or(config.api_key.as_deref()) {
        return Ok(k.to_owned());
    }
    match std::fs::read_to_string(DEV_KEY_FILE) {
        Ok(k) if !k.trim().is_empty() => Ok(k.trim().to_owned()),
        _ => Err(CliError::NoKey),
    }
}

/// A fresh `Idempotency-Key` for a creating POST, so that a retried create makes one object.
pub fn idempotency_key() -> String {
    format!("sbx-cli-{}", uuid::Uuid::new_v4())
}

/// A response body as a stream of chunks.
pub type Body = LocalBoxStream<'static, Result<Bytes, awc::error::PayloadError>>;

/// The client of one server with one key.
pub struct Api {
    http: awc::Client,
    /// The server's base URL, without a trailing slash.
    pub url: String,
    key: String,
}

/// One request to make, possibly more than once.
pub struct Call<'a> {
    /// Its method.
    pub method: Method,
    /// Its path and query, from `/v1`.
    pub path: String,
    /// A JSON body.
    pub body: Option<&'a Value>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// How long it may take before the answer's headers come.
    pub timeout: Duration,
    /// Whether it may be sent again after a 502/503/504 (reads, idempotent creates).
    pub safe: bool,
    /// A file whose bytes are the body, streamed (read again from its start for a retry).
    pub upload: Option<&'a std::path::Path>,
    /// Bytes that are the body (`application/octet-stream`).
    pub raw: Option<Bytes>,
}

impl<'a> Call<'a> {
    /// A GET of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            body: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_S),
            safe: true,
            upload: None,
            raw: None,
        }
    }

    /// A PUT of the file at `file` to `path`, streamed (safe to repeat: the same bytes again).
    pub fn put_file(path: impl Into<String>, file: &'a std::path::Path) -> Self {
        Self {
            method: Method::PUT,
            upload: Some(file),
            ..Self::get(path)
        }
    }

    /// A POST of `body` to `path` (not repeated after a 5xx unless [`Call::idempotent`]).
    pub fn post(path: impl Into<String>, body: &'a Value) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            safe: false,
            ..Self::get(path)
        }
    }

    /// A POST of the bytes `raw` to `path` (not repeated after a 5xx).
    pub fn post_bytes(path: impl Into<String>, raw: Bytes) -> Self {
        Self {
            method: Method::POST,
            raw: Some(raw),
            safe: false,
            ..Self::get(path)
        }
    }

    /// A DELETE of `path` (safe to repeat).
    pub fn delete(path: impl Into<String>) -> Self {
        Self {
            method: Method::DELETE,
            ..Self::get(path)
        }
    }

    /// With a fresh `Idempotency-Key`: safe to repeat, the server makes one object.
    pub fn idempotent(mut self) -> Self {
        self.headers.push(("Idempotency-Key", idempotency_key()));
        self.safe = true;
        self
    }

    /// Safe to repeat (a cancel, a pause: repeating changes nothing).
    pub fn safe(mut self) -> Self {
        self.safe = true;
        self
    }

    /// With `extra` on top of the usual timeout (an exec's own time limit).
    pub fn longer(mut self, extra: Duration) -> Self {
        self.timeout += extra;
        self
    }

    /// With header `name: value`.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl Api {
    /// A WebSocket request to `path` (from `/v1`) with the key, to connect.
    pub fn ws(&self, path: &str) -> awc::ws::WebsocketsRequest {
        self.http
            .ws(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
    }

    /// A client of `url` with `key`.
    pub fn new(url: String, key: String) -> Self {
        let http = awc::Client::builder()
            .add_default_header(("User-Agent", concat!("sbx-cli/", env!("CARGO_PKG_VERSION"))))
            // Requests set their own timeouts; this is only the connector's default.
            .timeout(Duration::from_secs(DEFAULT_TIMEOUT_S))
            .finish();
        Self { http, url, key }
    }

    /// Send `call`, retrying what the server turned away as the SDK does; the 2xx answer's
    /// status, content type and body stream.
    ///
    /// # Errors
    /// [`CliError::Unreachable`], [`CliError::KeyRefused`], [`CliError::Api`] or
    /// [`CliError::BadAnswer`].
    pub async fn send(&self, call: &Call<'_>) -> CliResult<(StatusCode, String, Body)> {
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(call.method.clone(), format!("{}{}", self.url, call.path))
                .bearer_auth(&self.key)
                .timeout(call.timeout);
            for (name, value) in &call.headers {
                req = req.insert_header((*name, value.as_str()));
            }
            let sent = match (call.body, call.upload) {
                (Some(b), _) => req.send_json(b).await,
                (None, Some(file)) => {
                    let f = tokio::fs::File::open(file)
                        .await
                        .map_err(CliError::io(format!("reading {}", file.display())))?;
                    req.content_type("application/octet-stream")
                        .send_stream(file_chunks(f))
                        .await
                }
                (None, None) => match &call.raw {
                    Some(raw) => {
                        req.content_type("application/octet-stream")
                            .send_body(raw.clone())
                            .await
                    }
                    None => req.send().await,
                },
            };
            let mut res = sent.map_err(|e| CliError::Unreachable {
                url: self.url.clone(),
                reason: e.to_string(),
            })?;
            let status = res.status();
            let kind = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if status.is_success() {
                return Ok((status, kind, Box::pin(res)));
            }
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok());
            let bytes = res.body().limit(1 << 20).await.unwrap_or_default();
            let err = self.problem(status, &bytes);
            let code = match &err {
                CliError::Api { code, .. } => code.as_str(),
                _ => "",
            };
            let turned_away = status == StatusCode::TOO_MANY_REQUESTS
                && matches!(code, "rate_limited" | "concurrency_limit");
            let retryable =
                turned_away || (call.safe && matches!(status.as_u16(), 429 | 502 | 503 | 504));
            if !retryable || attempt >= MAX_RETRIES {
                return Err(err);
            }
            let wait = retry_after
                .map(|s| Duration::from_secs_f64(s.max(0.0)))
                .unwrap_or(Duration::from_millis(250 << attempt))
                .min(MAX_BACKOFF);
            actix_web::rt::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Send `call` and read its JSON answer.
    ///
    /// # Errors
    /// As [`Api::send`], and [`CliError::BadAnswer`] for a body that is not JSON.
    pub async fn json(&self, call: Call<'_>) -> CliResult<Value> {
        let (status, _, body) = self.send(&call).await?;
        let bytes = self.read_all(body, MAX_BODY_BYTES).await?;
        serde_json::from_slice(&bytes).map_err(|e| CliError::BadAnswer {
            url: self.url.clone(),
            status: status.as_u16(),
            text: format!("not JSON: {e}"),
        })
    }

    /// GET `path`'s JSON.
    ///
    /// # Errors
    /// As [`Api::json`].
    pub async fn get(&self, path: &str) -> CliResult<Value> {
        self.json(Call::get(path)).await
    }

    /// Every item of a cursor-paged list at `path` (`data` and `next_cursor`), at most `max`.
    ///
    /// # Errors
    /// As [`Api::json`].
    pub async fn pages(
        &self,
        path: &str,
        query: &[(&str, String)],
        max: usize,
    ) -> CliResult<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("limit", max.clamp(1, 200).to_string()));
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let page = self.get(&format!("{path}?{}", encode_query(&q))).await?;
            out.extend(page["data"].as_array().cloned().unwrap_or_default());
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() || out.len() >= max {
                out.truncate(max);
                return Ok(out);
            }
        }
    }

    /// The whole of `body`, at most `limit` bytes.
    ///
    /// # Errors
    /// [`CliError::Unreachable`] when the connection breaks; [`CliError::BadAnswer`] past
    /// `limit`.
    pub async fn read_all(&self, mut body: Body, limit: usize) -> CliResult<Vec<u8>> {
        use futures_util::StreamExt as _;
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.map_err(|e| self.broken(e))?);
            if out.len() > limit {
                return Err(CliError::BadAnswer {
                    url: self.url.clone(),
                    status: 200,
                    text: format!("the answer is over {limit} bytes"),
                });
            }
        }
        Ok(out)
    }

    /// The error for a body whose connection broke mid-way.
    pub fn broken(&self, e: awc::error::PayloadError) -> CliError {
        CliError::Unreachable {
            url: self.url.clone(),
            reason: format!("the answer was cut off: {e}"),
        }
    }

    /// The error for a non-2xx answer with `body`.
    fn problem(&self, status: StatusCode, body: &[u8]) -> CliError {
        let doc: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
        let Some(doc) = doc else {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let text: String = text.chars().take(200).collect();
            return CliError::BadAnswer {
                url: self.url.clone(),
                status: status.as_u16(),
                text: if text.is_empty() {
                    status.canonical_reason().unwrap_or("no body").to_owned()
                } else {
                    text
                },
            };
        };
        let detail = doc["detail"]
            .as_str()
            .or(doc["title"].as_str())
            .unwrap_or(status.canonical_reason().unwrap_or(""))
            .to_owned();
        if status == StatusCode::UNAUTHORIZED {
            return CliError::KeyRefused {
                url: self.url.clone(),
                detail,
            };
        }
        CliError::Api {
            status: status.as_u16(),
            code: doc["code"].as_str().unwrap_or("error").to_owned(),
            detail,
            field: doc["field"].as_str().map(str::to_owned),
        }
    }
}

/// The bytes of `file` as a stream of chunks of up to 256 KiB.
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = bytes::BytesMut::with_capacity(256 << 10);
        match f.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(buf.freeze()), f)),
            Err(e) => Some((Err(e), f)),
        }
    })
}

/// `pairs` as a URL query string, each value percent-encoded.
pub fn encode_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `s` with every byte outside the unreserved set percent-encoded (a path segment or a query
/// value).
pub fn percent_encode(s: &str) -> String {
    sbx_api::files::path::percent_encode(s.as_bytes())
}
