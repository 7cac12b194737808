//! Preview URLs: a container sandbox's port opened in a browser, on an origin of its own.
//!
//! `POST /v1/sandboxes/{id}/previews` signs a URL such as
//! `http://0f3c…e9.preview.localhost:8080/`: its first DNS label holds the sandbox, the port and
//! an expiry, with an HMAC-SHA256 tag (60 hex characters, under DNS's 63). Any request whose
//! `Host` is a label under the preview domain ([`PreviewSite`]) is not an API call: the label is
//! checked (forged or malformed: 404; past its expiry: 410 `preview_expired`), and the request,
//! whatever its path, goes to the server on that port in the sandbox, cookies and
//! `Authorization` included (they belong to the sandbox's origin, never to sbx's). No API key
//! or session is needed: the URL is the credential, until it expires or the sandbox ends.
//!
//! Why an origin of its own: what a sandbox's server answers runs in the browser as a page of
//! the origin it came from. Under the API's origin it could call the API with the person's
//! dashboard session; under `<label>.preview.<domain>` it cannot (the session cookie is
//! host-only, and the API's CSRF check refuses another `Origin`). Deployments should put the
//! preview domain under a registrable domain of its own (`*.sbx-preview.example`), as the
//! hosted sandboxes do, and list it on the Public Suffix List (as `github.io` is): otherwise a
//! preview may set a cookie for the whole preview domain, which every other preview gets.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpRequest, guard, web};
use hmac::{Hmac, Mac as _};
use sbx_core::ids::SandboxId;
use sha2::Sha256;

use crate::AppState;
use crate::auth::Reply;
use crate::error::{ApiError, Code};

/// The label the preview key is derived under, from the deployment's secret key.
const KEY_LABEL: &str = "sbx preview url v1";
/// Bytes of a label: sandbox (16), port (2), expiry in Unix seconds (4), tag (8).
const LABEL_BYTES: usize = 30;
/// Bytes of the tag: 64 bits; a forgery is a guess of one in 2^64 per request.
const TAG_BYTES: usize = 8;

/// Where preview URLs live: `scheme://<label>.<domain>[:port]/`. Parsed from `SBX_PREVIEW_URL`
/// (`http://preview.localhost:8080` by default, where `*.localhost` reaches this machine in
/// browsers and curl).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewSite {
    /// `http` or `https`.
    pub scheme: String,
    /// The domain labels are put under, lowercase (`preview.localhost`).
    pub domain: String,
    /// The port in the URL, if not the scheme's own.
    pub port: Option<u16>,
}

impl PreviewSite {
    /// Parse `http(s)://domain[:port]` (no path, no credentials).
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(url: &str) -> Result<Self, String> {
        let u = url::Url::parse(url).map_err(|e| format!("SBX_PREVIEW_URL {url:?}: {e}"))?;
        let domain = match u.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            _ => {
                return Err(format!(
                    "SBX_PREVIEW_URL {url:?} needs a domain name (labels go under it)"
                ));
            }
        };
        if !matches!(u.scheme(), "http" | "https")
            || u.path() != "/"
            || !u.username().is_empty()
            || u.password().is_some()
            || u.query().is_some()
            || u.fragment().is_some()
        {
            return Err(format!(
                "SBX_PREVIEW_URL {url:?} is http(s)://domain[:port], nothing more"
            ));
        }
        Ok(Self {
            scheme: u.scheme().to_owned(),
            domain,
            port: u.port(),
        })
    }

    /// The URL of `label`.
    fn url(&self, label: &str) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{label}.{}{port}/", self.scheme, self.domain)
    }

    /// What `host` (a `Host` header) is to this site: none if it is not the domain or under
    /// it; else the label, if it is one label under it (`Some("")` for the domain itself or
    /// anything deeper, which open nothing). A trailing dot and the port are ignored.
    fn label_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.eq_ignore_ascii_case(&self.domain) {
            return Some("");
        }
        let cut = name.len().checked_sub(self.domain.len() + 1)?;
        let (label, rest) = (name.get(..cut)?, name.get(cut..)?);
        if !rest.starts_with('.') || !rest[1..].eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        Some(if label.contains('.') { "" } else { label })
    }
}

/// What a preview URL opens: a port of a sandbox, until a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preview {
    /// The sandbox.
    pub sandbox: SandboxId,
    /// The port, 1 to 65535.
    pub port: u16,
    /// When it stops working, Unix seconds.
    pub expires: u32,
}

/// Why a label opens nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum LabelError {
    /// Not a label this deployment signed.
    Invalid,
    /// Signed, but past its expiry.
    Expired,
}

/// The tag of `body` under the deployment's key.
fn tag(sealer: &sbx_store::seal::Sealer, body: &[u8]) -> [u8; TAG_BYTES] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&sealer.derive(KEY_LABEL)).expect("any key length");
    mac.update(body);
    let full = mac.finalize().into_bytes();
    let mut out = [0; TAG_BYTES];
    out.copy_from_slice(&full[..TAG_BYTES]);
    out
}

impl Preview {
    /// Its label: 60 lowercase hex characters.
    pub fn label(&self, sealer: &sbx_store::seal::Sealer) -> String {
        let mut bytes = Vec::with_capacity(LABEL_BYTES);
        bytes.extend_from_slice(self.sandbox.0.as_bytes());
        bytes.extend_from_slice(&self.port.to_be_bytes());
        bytes.extend_from_slice(&self.expires.to_be_bytes());
        let t = tag(sealer, &bytes);
        bytes.extend_from_slice(&t);
        hex::encode(bytes)
    }

    /// The preview `label` opens at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`LabelError::Invalid`] for anything this deployment did not sign;
    /// [`LabelError::Expired`] past its expiry.
    pub fn open(
        sealer: &sbx_store::seal::Sealer,
        label: &str,
        now: u64,
    ) -> Result<Self, LabelError> {
        let bytes = hex::decode(label.to_ascii_lowercase()).map_err(|_| LabelError::Invalid)?;
        if bytes.len() != LABEL_BYTES {
            return Err(LabelError::Invalid);
        }
        let (body, given) = bytes.split_at(LABEL_BYTES - TAG_BYTES);
        use subtle::ConstantTimeEq as _;
        if !bool::from(tag(sealer, body).ct_eq(given)) {
            return Err(LabelError::Invalid);
        }
        let preview = Self {
            sandbox: SandboxId(
                uuid::Uuid::from_slice(&body[..16]).map_err(|_| LabelError::Invalid)?,
            ),
            port: u16::from_be_bytes([body[16], body[17]]),
            expires: u32::from_be_bytes([body[18], body[19], body[20], body[21]]),
        };
        if u64::from(preview.expires) <= now {
            return Err(LabelError::Expired);
        }
        Ok(preview)
    }

    /// Its URL under `site`.
    pub fn url(&self, site: &PreviewSite, sealer: &sbx_store::seal::Sealer) -> String {
        site.url(&self.label(sealer))
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Route every request whose `Host` is `site`'s domain or under it to [`serve`] (one that is
/// not a preview's label is a 404 there: the API and the dashboard are never served on the
/// preview domain); mount it before the API's routes.
pub fn configure(site: PreviewSite) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope("")
                .guard(guard::fn_guard(move |ctx| {
                    ctx.head()
                        .headers()
                        .get(actix_web::http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .is_some_and(|h| site.label_of(h).is_some())
                }))
                .default_service(web::to(serve)),
        );
    }
}

/// A request to a preview URL: checked, then passed to the sandbox's port through the runner
/// that runs it. Refusals (the body drained first): 404 for a label this deployment did not
/// sign or a sandbox that is gone, 410 `preview_expired`, and the ports' own (409 paused or
/// ended, 502 `port_closed`, 503).
async fn serve(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> Reply {
    let found = async {
        let host = req
            .headers()
            .get(actix_web::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let label = state.preview_site.label_of(host).unwrap_or_default();
        if label.is_empty() {
            return Err(ApiError::NotFound("no such preview URL".into()));
        }
        let preview = Preview::open(&state.sealer, label, unix_now()).map_err(|e| match e {
            LabelError::Invalid => ApiError::NotFound("no such preview URL".into()),
            LabelError::Expired => ApiError::State {
                code: Code::PreviewExpired,
                detail: "this preview URL has expired: ask for a new one (POST /v1/sandboxes/{id}/previews)".into(),
            },
        })?;
        let project = sbx_store::sandboxes::project_of(&state.pool, preview.sandbox)
            .await?
            .ok_or_else(|| ApiError::NotFound("the sandbox of this preview URL is gone".into()))?;
        let (url, token) =
            crate::routes::sandboxes::files::runner_of(&state, project, preview.sandbox).await?;
        Ok::<_, ApiError>((preview, url, token))
    }
    .await;
    match found {
        Ok((preview, base, token)) => {
            let url = format!(
                "{base}/internal/v1/sandboxes/{}/ports/{}{}",
                preview.sandbox,
                preview.port,
                req.uri().path_and_query().map_or("/", |p| p.as_str())
            );
            crate::runner_endpoint::forward_preview(&req, body, &url, &token).await
        }
        Err(e) => {
            crate::body::drain(body.into_inner()).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> sbx_store::seal::Sealer {
        sbx_store::seal::Sealer::new([7; 32])
    }

    #[test]
    fn a_label_opens_what_it_was_signed_for_until_it_expires() {
        let p = Preview {
            sandbox: SandboxId(uuid::Uuid::new_v4()),
            port: 8000,
            expires: 2_000_000_000,
        };
        let label = p.label(&sealer());
        assert_eq!(label.len(), 60, "{label}");
        assert_eq!(Preview::open(&sealer(), &label, 1_999_999_999), Ok(p));
        assert_eq!(
            Preview::open(&sealer(), &label.to_uppercase(), 1_999_999_999),
            Ok(p)
        );
        assert_eq!(
            Preview::open(&sealer(), &label, 2_000_000_000),
            Err(LabelError::Expired)
        );
        // Another key, a changed port, a cut label, not hex: not ours.
        let other = sbx_store::seal::Sealer::new([8; 32]);
        assert_eq!(Preview::open(&other, &label, 0), Err(LabelError::Invalid));
        let mut changed = label.clone().into_bytes();
        changed[35] = if changed[35] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).unwrap();
        assert_eq!(
            Preview::open(&sealer(), &changed, 0),
            Err(LabelError::Invalid)
        );
        assert_eq!(
            Preview::open(&sealer(), &label[..58], 0),
            Err(LabelError::Invalid)
        );
        assert_eq!(Preview::open(&sealer(), "zz", 0), Err(LabelError::Invalid));
    }

    #[test]
    fn a_site_finds_labels_under_its_domain_only() {
        let site = PreviewSite::parse("http://preview.localhost:8080").unwrap();
        assert_eq!(site.port, Some(8080));
        assert_eq!(site.url("ab"), "http://ab.preview.localhost:8080/");
        assert_eq!(site.label_of("ab.preview.localhost:8080"), Some("ab"));
        assert_eq!(site.label_of("AB.Preview.LOCALHOST"), Some("AB"));
        assert_eq!(site.label_of("ab.preview.localhost.:8080"), Some("ab"));
        // The domain itself and other names under it are the site's, and open nothing.
        for host in [
            "preview.localhost:8080",
            "a.b.preview.localhost",
            "preview.localhost.",
            ".preview.localhost",
        ] {
            assert_eq!(site.label_of(host), Some(""), "{host}");
        }
        for host in [
            "abpreview.localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "ab.preview.localhost.evil",
        ] {
            assert_eq!(site.label_of(host), None, "{host}");
        }
        let https = PreviewSite::parse("https://sbx-preview.example").unwrap();
        assert_eq!(https.url("ab"), "https://ab.sbx-preview.example/");
        for bad in [
            "ftp://a.example",
            "http://127.0.0.1:8080",
            "http://a.example/x",
            "http://u@a.example",
            "http://:p@a.example",
            "http://a.example/?q",
            "http://a.example/#f",
            "nope",
        ] {
            assert!(PreviewSite::parse(bad).is_err(), "{bad}");
        }
    }
}
