//! The table of the API's error codes: each [`Code`] once, with its stable snake_case name (the
//! problem's `code`, and the last segment of its `type`), its HTTP status and its title. Call
//! sites name a code by variant; nothing else spells one.

use actix_web::http::StatusCode;

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = ($name:tt, $status:ident, $title:tt), )+) => {
        /// A stable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )+
        }

        impl Code {
            /// Every code, in the table's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            /// The stable snake_case name clients match on.
            pub const fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)+ }
            }

            /// The HTTP status it is answered with.
            pub const fn status(self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status,)+ }
            }

            /// A short summary of the problem type.
            pub const fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)+ }
            }
        }
    };
}

codes! {
    /// The body is not JSON.
    MalformedJson = ("malformed_json", BAD_REQUEST, "Malformed JSON"),
    /// A query parameter or header is not understood.
    BadRequest = ("bad_request", BAD_REQUEST, "Bad request"),
    /// No `Authorization: Bearer` header.
    MissingApiKey = ("missing_api_key", UNAUTHORIZED, "Unauthorized"),
    /// The key is unknown or revoked.
    InvalidApiKey = ("invalid_api_key", UNAUTHORIZED, "Unauthorized"),
    /// The email or password is wrong.
    InvalidLogin = ("invalid_login", UNAUTHORIZED, "Unauthorized"),
    /// No session cookie, or an ended session.
    NotSignedIn = ("not_signed_in", UNAUTHORIZED, "Unauthorized"),
    /// A change made with a session cookie without the session's `X-CSRF-Token`.
    CsrfFailed = ("csrf_failed", FORBIDDEN, "Forbidden"),
    /// A webhook without a valid, recent signature.
    InvalidSignature = ("invalid_signature", UNAUTHORIZED, "Unauthorized"),
    /// Someone who is not an operator asked for an operator's page.
    NotAnOperator = ("not_an_operator", FORBIDDEN, "Forbidden"),
    /// A plain member asked to manage the project's keys or secrets.
    NotAnOwner = ("not_an_owner", FORBIDDEN, "Forbidden"),
    /// A dashboard session asked for what only an API key may do (a sandbox's ports).
    SessionNotAllowed = ("session_not_allowed", FORBIDDEN, "Forbidden"),
    /// A signed-in person asked for a project they are not a member of.
    NotAMember = ("not_a_member", FORBIDDEN, "Forbidden"),
    /// GPU work without a KYC-verified project owner.
    KycRequired = ("kyc_required", FORBIDDEN, "Forbidden"),
    /// No such object in the caller's project, or no such route.
    NotFound = ("not_found", NOT_FOUND, "Not found"),
    /// The route does not take this method.
    MethodNotAllowed = ("method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed"),
    /// The body, code, module or files are over their cap.
    PayloadTooLarge = ("payload_too_large", PAYLOAD_TOO_LARGE, "Payload too large"),
    /// The body is not `application/json`.
    UnsupportedMediaType = ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
    /// Well-formed JSON that asks for something invalid.
    InvalidRequest = ("invalid_request", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// A limit that is not a number of its unit, zero, or over the project's ceiling.
    InvalidLimit = ("invalid_limit", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// A file path that is absolute, climbs out (`..`), or crosses a link.
    InvalidPath = ("invalid_path", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// Content that is not valid base64.
    InvalidBase64 = ("invalid_base64", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// A module that is not valid WebAssembly.
    InvalidModule = ("invalid_module", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// A callback URL that is not http(s) or points nowhere allowed.
    InvalidCallbackUrl = ("invalid_callback_url", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// A language this server does not run.
    UnsupportedLanguage = ("unsupported_language", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// An Idempotency-Key used before with another body.
    IdempotencyKeyReused = ("idempotency_key_reused", UNPROCESSABLE_ENTITY, "Invalid request"),
    /// Another request with this Idempotency-Key is still being made.
    Conflict = ("conflict", CONFLICT, "Conflict"),
    /// The sandbox has ended.
    SandboxEnded = ("sandbox_ended", CONFLICT, "Sandbox state conflict"),
    /// The sandbox was paused by its owner.
    SandboxPaused = ("sandbox_paused", CONFLICT, "Sandbox state conflict"),
    /// The sandbox is still starting.
    SandboxPending = ("sandbox_pending", CONFLICT, "Sandbox state conflict"),
    /// The container sandbox is not running (paused, pending or ended).
    SandboxNotRunning = ("sandbox_not_running", CONFLICT, "Sandbox state conflict"),
    /// A container-only action on a code-interpreter sandbox.
    NotAContainer = ("not_a_container", CONFLICT, "Sandbox state conflict"),
    /// What only a code-interpreter sandbox does (fork) was asked of a container.
    NotAnInterpreter = ("not_an_interpreter", CONFLICT, "Sandbox state conflict"),
    /// The sandbox's snapshot cannot be restored.
    SnapshotCorrupt = ("snapshot_corrupt", CONFLICT, "Sandbox state conflict"),
    /// The sandbox's snapshot is gone.
    SnapshotMissing = ("snapshot_missing", CONFLICT, "Sandbox state conflict"),
    /// The session's state is over what a pause can keep.
    SnapshotTooLarge = ("snapshot_too_large", CONFLICT, "Sandbox state conflict"),
    /// A path names something other than what the operation needs (a folder for a file, a
    /// folder that is not empty, a tree's root).
    PathConflict = ("path_conflict", CONFLICT, "Path conflict"),
    /// The process has exited: it takes no input or signal.
    ProcessExited = ("process_exited", CONFLICT, "Process state conflict"),
    /// The process's standard input is not open (started without `stdin: true`, or closed).
    StdinClosed = ("stdin_closed", CONFLICT, "Process state conflict"),
    /// As many processes as a sandbox may keep are running in it.
    TooManyProcesses = ("too_many_processes", CONFLICT, "Process state conflict"),
    /// The template (or the pinned version) named has no ready build: queued, building or
    /// failed.
    TemplateNotReady = ("template_not_ready", CONFLICT, "Template state conflict"),
    /// Other templates of the project start from this one: it cannot be deleted before them.
    TemplateInUse = ("template_in_use", CONFLICT, "Template state conflict"),
    /// The project keeps as many template versions as it may.
    TooManyTemplates = ("too_many_templates", CONFLICT, "Template quota reached"),
    /// The sandbox's disk cap is full: nothing more can be written.
    DiskFull = ("disk_full", INSUFFICIENT_STORAGE, "Disk full"),
    /// The project's queue is at its cap.
    ProjectQueueFull = ("project_queue_full", TOO_MANY_REQUESTS, "Queue full"),
    /// The project spent its monthly budget: no new work until it is raised or the month ends.
    BudgetExceeded = ("budget_exceeded", PAYMENT_REQUIRED, "Budget exceeded"),
    /// Too many wrong passwords in a row: the account is locked for a while.
    LoginLocked = ("login_locked", TOO_MANY_REQUESTS, "Too many sign-in attempts"),
    /// The key's request rate is over its policy.
    RateLimited = ("rate_limited", TOO_MANY_REQUESTS, "Rate limited"),
    /// The project already runs as many execs as it may.
    ConcurrencyLimit = ("concurrency_limit", TOO_MANY_REQUESTS, "Concurrency limit reached"),
    /// The whole queue is at its cap.
    QueueFull = ("queue_full", SERVICE_UNAVAILABLE, "Queue full"),
    /// A preview URL past its expiry.
    PreviewExpired = ("preview_expired", GONE, "Preview URL expired"),
    /// Nothing listens on the sandbox's port that a request was sent to.
    PortClosed = ("port_closed", BAD_GATEWAY, "Port closed"),
    /// The server on a sandbox's port did not answer in HTTP.
    BadGateway = ("bad_gateway", BAD_GATEWAY, "Bad gateway"),
    /// A dependency (the database, the runner) is down or saturated.
    Unavailable = ("unavailable", SERVICE_UNAVAILABLE, "Service unavailable"),
    /// Our fault; the cause is logged, not shown.
    Internal = ("internal", INTERNAL_SERVER_ERROR, "Internal error"),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_named_once_in_snake_case_with_an_error_status() {
        let mut seen = std::collections::HashSet::new();
        for &c in Code::ALL {
            assert!(seen.insert(c.name()), "{} twice", c.name());
            assert!(
                c.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                c.name()
            );
            assert!(c.status().is_client_error() || c.status().is_server_error());
            assert!(!c.title().is_empty());
        }
    }
}
