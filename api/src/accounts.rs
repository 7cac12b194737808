//! People signing in to the dashboard: `POST /auth/login`, `GET /auth/session`,
//! `POST /auth/logout` and `POST /auth/logout-all`. Passwords are argon2id hashes; a session
//! is a random secret in an HttpOnly, SameSite=Lax cookie (Secure over https) whose SHA-256 is
//! kept in `sessions`, with a CSRF token the dashboard sends back as `X-CSRF-Token` on every
//! change ([`crate::auth::guard`] checks it on `/v1`). Sign-in is rate-limited per client
//! address, and [`MAX_FAILURES`] wrong passwords in a row lock the account for [`LOCK_S`].
//! API keys stay for programs.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::OnceLock;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use governor::{Quota, RateLimiter};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Reply;
use crate::error::{ApiError, Code};

/// The session cookie's name.
pub const COOKIE: &str = "sbx_session";
/// The header a signed-in change must carry, holding the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The header naming the project a signed-in request works in.
pub const PROJECT_HEADER: &str = "x-sbx-project";
/// How long a session lasts, in seconds (an absolute end: 7 days).
pub const SESSION_TTL_S: i64 = 7 * 24 * 3600;
/// Wrong passwords in a row that lock an account.
pub const MAX_FAILURES: i32 = 5;
/// How long a locked account stays locked, in seconds.
pub const LOCK_S: f64 = 15.0 * 60.0;
/// Sign-in attempts one client address may make per minute (and in a burst).
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 20;
/// Longest password accepted, in bytes (argon2 takes any length; this bounds the work).
const MAX_PASSWORD_BYTES: usize = 1024;
/// Largest sign-in body, in bytes (read before anything is checked, from anyone).
pub const MAX_LOGIN_BODY_BYTES: usize = 16 << 10;
/// Shortest password `sbx admin` sets.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Sign-in attempts per client address (IPv6 addresses by their /64), and attempts at emails
/// no account has, which lock as an account does.
pub struct LoginLimiter {
    by_address: governor::DefaultKeyedRateLimiter<IpAddr>,
    unknown: governor::DefaultKeyedRateLimiter<String>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        let n = NonZeroU32::new(LOGIN_ATTEMPTS_PER_MINUTE).expect("non-zero");
        let max = NonZeroU32::new(MAX_FAILURES as u32).expect("non-zero");
        let refill = std::time::Duration::from_secs_f64(LOCK_S / f64::from(MAX_FAILURES));
        Self {
            by_address: RateLimiter::keyed(Quota::per_minute(n)),
            unknown: RateLimiter::keyed(
                Quota::with_period(refill)
                    .expect("a non-zero period")
                    .allow_burst(max),
            ),
        }
    }
}

/// The key an address is limited by: itself, or for IPv6 its /64 (one host's usual share).
fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl LoginLimiter {
    /// Take one attempt from `addr`'s allowance, or the seconds before it may try again.
    fn check(&self, addr: IpAddr) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        self.by_address
            .check_key(&address_key(addr))
            .map_err(|n| n.wait_time_from(DefaultClock::default().now()).as_secs() + 1)
    }

    /// Take one attempt at `email`, which no account has, or the seconds before another.
    fn unknown_email(&self, email: &str) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        self.unknown
            .check_key(&email.to_owned())
            .map_err(|n| n.wait_time_from(DefaultClock::default().now()).as_secs() + 1)
    }

    /// Forget addresses and emails whose allowance is full again.
    pub fn retain_recent(&self) {
        self.by_address.retain_recent();
        self.unknown.retain_recent();
    }
}

/// The argon2id hash (PHC string) of `password`, with a fresh salt. Takes tens of
/// milliseconds of CPU: call it off the async threads.
pub fn hash_password(password: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes make a salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password with default parameters")
        .to_string()
}

/// Whether `password` matches PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches, checked for unknown emails so that they take as long as
/// known ones.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("no account has this password"))
}

/// The SHA-256 a session's secret is kept as.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The person's email (case does not matter).
    #[schema(example = "dev@sbx.local", max_length = 320)]
    pub email: String,
    /// Their password.
    #[schema(max_length = 1024)]
    pub password: String,
}

/// A signed-in person.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The id.
    pub id: String,
    /// Their email.
    pub email: String,
    /// `unverified`, `pending`, `verified` or `rejected`: GPU work needs `verified`.
    pub kyc_status: String,
    /// Whether they operate this deployment.
    pub operator: bool,
}

/// A project the person belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    /// The project's id: send it as `X-Sbx-Project`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `owner` or `member`.
    pub role: String,
}

/// The signed-in session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Who is signed in.
    pub user: UserView,
    /// Their projects, oldest first.
    pub projects: Vec<MembershipView>,
    /// Send it as `X-CSRF-Token` on every change made with this session.
    pub csrf_token: String,
}

async fn session_view(
    state: &AppState,
    user: sbx_store::users::User,
    csrf_token: String,
) -> Result<SessionView, ApiError> {
    let projects = sbx_store::members::projects(&state.pool, user.user_id).await?;
    Ok(SessionView {
        user: UserView {
            id: user.user_id.to_string(),
            email: user.email,
            kyc_status: user.kyc_status,
            operator: user.operator,
        },
        projects: projects
            .into_iter()
            .map(|m| MembershipView {
                id: m.project_id.to_string(),
                name: m.name,
                role: m.role,
            })
            .collect(),
        csrf_token,
    })
}

fn cookie(state: &AppState, req: &HttpRequest, value: &str, max_age_s: i64) -> Cookie<'static> {
    Cookie::build(COOKIE, value.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.proxies.is_https(req))
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_s))
        .finish()
}

/// Sign in: a session cookie and the session.
#[utoipa::path(post, path = "/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in: the session, and its cookie in `Set-Cookie`", body = SessionView),
        (status = 401, description = "No such person, or the wrong password (`invalid_login`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address (`rate_limited`), or the account is locked after too many wrong passwords (`login_locked`); see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: crate::body::Json<LoginRequest>,
) -> Reply {
    let LoginRequest { email, password } = body.0;
    if let Some(addr) = state.proxies.client_ip(&req)
        && let Err(retry_after_s) = state.logins.check(addr)
    {
        return Err(ApiError::RateLimited { retry_after_s });
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::InvalidLogin);
    }
    let email = email.trim().to_lowercase();
    let found = sbx_store::users::credentials(&state.pool, &email).await?;
    let now = chrono::Utc::now();
    let locked = |until: chrono::DateTime<chrono::Utc>| ApiError::LoginLocked {
        retry_after_s: (until - now).num_seconds().max(1) as u64,
    };
    // Counted before the (slow) check, so that attempts made at once cannot outrun the lock;
    // unknown emails are counted too, in memory, and lock alike: a lock says nothing of
    // whether an account exists.
    let lock_set = match &found {
        Some(c) => {
            sbx_store::users::begin_attempt(&state.pool, c.user.user_id, MAX_FAILURES, LOCK_S)
                .await?
                .map_err(locked)?
        }
        None => {
            state
                .logins
                .unknown_email(&email)
                .map_err(|wait_s| ApiError::LoginLocked {
                    retry_after_s: wait_s,
                })?;
            None
        }
    };
    let hash = found.as_ref().and_then(|c| c.password_hash.clone());
    let matches = web::block(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => verify_password(&password, decoy_hash()),
    })
    .await
    .map_err(|e| ApiError::Internal(format!("verifying a password: {e}")))?;
    let found = match found {
        Some(c) if matches && c.password_hash.is_some() => c,
        _ => {
            return Err(lock_set
                .filter(|u| *u > now)
                .map_or(ApiError::InvalidLogin, locked));
        }
    };
    sbx_store::users::login_succeeded(&state.pool, found.user.user_id).await?;
    let token = random_token();
    let csrf = random_token();
    let agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|a| a.chars().take(256).collect::<String>());
    sbx_store::sessions::create(
        &state.pool,
        found.user.user_id,
        &token_hash(&token),
        &csrf,
        agent.as_deref(),
        SESSION_TTL_S as f64,
    )
    .await?;
    let view = session_view(&state, found.user, csrf).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie(&state, &req, &token, SESSION_TTL_S))
        .json(view))
}

/// The session a request's cookie names, checked for its CSRF token when `change`.
pub(crate) async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    change: bool,
) -> Result<sbx_store::sessions::SignedIn, ApiError> {
    let token = req.cookie(COOKIE).ok_or(ApiError::NotSignedIn)?;
    let session = sbx_store::sessions::find(&state.pool, &token_hash(token.value()))
        .await?
        .ok_or(ApiError::NotSignedIn)?;
    if change {
        check_csrf(req.headers(), &session.csrf_token)?;
    }
    Ok(session)
}

/// `headers` carry `X-CSRF-Token: <expected>` (compared in constant time).
pub fn check_csrf(
    headers: &actix_web::http::header::HeaderMap,
    expected: &str,
) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq as _;
    let given = headers.get(CSRF_HEADER).map(|v| v.as_bytes());
    if given.is_some_and(|g| bool::from(g.ct_eq(expected.as_bytes()))) {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        code: Code::CsrfFailed,
        detail: "a change made with a session cookie needs the session's X-CSRF-Token header"
            .into(),
    })
}

/// Who is signed in.
#[utoipa::path(get, path = "/auth/session", tag = "accounts",
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 401, description = "Not signed in (`not_signed_in`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn session(state: web::Data<AppState>, req: HttpRequest) -> Reply {
    let s = signed_in(&state, &req, false).await?;
    Ok(HttpResponse::Ok().json(session_view(&state, s.user, s.csrf_token).await?))
}

fn signed_out(state: &AppState, req: &HttpRequest) -> HttpResponse {
    HttpResponse::NoContent()
        .cookie(cookie(state, req, "", 0))
        .finish()
}

/// Sign out of this session.
#[utoipa::path(post, path = "/auth/logout", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "Not signed in (`not_signed_in`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "No or a wrong X-CSRF-Token (`csrf_failed`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Reply {
    let s = signed_in(&state, &req, true).await?;
    sbx_store::sessions::delete(&state.pool, s.session_id).await?;
    Ok(signed_out(&state, &req))
}

/// Sign out of every session of the signed-in person, on every device.
#[utoipa::path(post, path = "/auth/logout-all", tag = "accounts",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Every session ended; the cookie is cleared"),
        (status = 401, description = "Not signed in (`not_signed_in`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "No or a wrong X-CSRF-Token (`csrf_failed`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout_all(state: web::Data<AppState>, req: HttpRequest) -> Reply {
    let s = signed_in(&state, &req, true).await?;
    sbx_store::sessions::delete_all(&state.pool, s.user.user_id).await?;
    Ok(signed_out(&state, &req))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_verify_against_their_own_hash_only() {
        let h = super::hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify_password("correct horse battery", &h));
        assert!(!super::verify_password("correct horse batterz", &h));
        assert!(!super::verify_password("x", "not a hash"));
    }
}
