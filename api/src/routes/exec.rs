//! `POST /v1/exec`: run code now and answer with its result. The request is checked in full
//! before anything runs; a limit the code hits is a 200 with that status, not an error.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use actix_web::HttpResponse;
use base64::Engine as _;
use chrono::Utc;
use sbx_core::exec::{ExecOutcome, ExecSpec, InputFile, Program};
use sbx_core::ids::JobId;
use sbx_limits::exec::{
    MAX_ARGS, MAX_CODE_BYTES, MAX_INPUT_FILES, MAX_INPUT_FILES_BYTES, MAX_MODULE_BYTES,
    MAX_PATH_BYTES, MAX_STDIN_BYTES,
};
use sbx_limits::{ExecLimits, RequestedLimits};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};

/// A file handed to the program. Exactly one of `content` and `content_b64` (the other absent
/// or `null`); its schema says so with a `oneOf` ([`FileIn::schema`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIn {
    /// Where the file goes: relative to `/workspace`, or an absolute path under it.
    pub path: String,
    /// The content as UTF-8 text.
    pub content: Option<String>,
    /// The content in base64.
    pub content_b64: Option<String>,
}

impl utoipa::PartialSchema for FileIn {
    /// An object of `path`, `content` and `content_b64`, all of `oneOf` two: `content` a
    /// string, or `content_b64` a string (a derived schema cannot say "exactly one").
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, AllOfBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type,
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let optional = |description: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some(description))
        };
        let given = |field: &str| {
            ObjectBuilder::new()
                .property(field, string())
                .required(field)
        };
        AllOfBuilder::new()
            .description(Some(
                "A file handed to the program. Exactly one of `content` and `content_b64`.",
            ))
            .item(
                ObjectBuilder::new()
                    .property(
                        "path",
                        string()
                            .description(Some(
                                "Where the file goes: relative to `/workspace`, or an absolute \
                                 path under it.",
                            ))
                            .examples(["data/input.csv"]),
                    )
                    .required("path")
                    .property("content", optional("The content as UTF-8 text."))
                    .property("content_b64", optional("The content in base64."))
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            )
            .item(
                OneOfBuilder::new()
                    .item(given("content"))
                    .item(given("content_b64")),
            )
            .into()
    }
}

impl ToSchema for FileIn {}

/// What to run, with what, under which limits.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// `python` (CPython 3.15 with numpy and pandas) or `wasi` (a WASI preview-1 command module).
    #[schema(example = "python")]
    pub language: String,
    /// Python source, for `python`.
    #[schema(example = "print(1+1)")]
    pub code: Option<String>,
    /// A WASI command module in base64 (binary or text format), for `wasi`.
    pub module_b64: Option<String>,
    /// Arguments (`sys.argv[1:]`).
    #[serde(default)]
    pub args: Vec<String>,
    /// Standard input.
    pub stdin: Option<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Files placed under `/workspace`, the working directory.
    #[serde(default)]
    pub files: Vec<FileIn>,
    /// Wall-time limit in ms; default 10 000, at most the project's ceiling.
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    /// Memory limit in MiB; default 512, at least 128, at most the project's ceiling.
    #[schema(minimum = 128)]
    pub memory_mb: Option<u64>,
    /// Cap per output stream in bytes; default 1 MiB.
    #[schema(minimum = 1)]
    pub output_limit_bytes: Option<u64>,
    /// Disk cap in MiB of `/workspace` and `/tmp` together (the files handed in count), and
    /// one file per 16 KiB of it; default 128, at least 1, at most the project's ceiling
    /// (10 240 unless set). A write past it fails inside the program with `ENOSPC`; a
    /// program that fails with its disk full ends `disk_limit`.
    #[schema(minimum = 1)]
    pub disk_mb: Option<u64>,
    /// `POST /v1/jobs` only: an `http` or `https` URL that is sent the job when it ends, signed
    /// with the project's webhook secret (Standard Webhooks headers), retried with backoff
    /// until it answers 2xx.
    #[schema(example = "https://example.com/hooks/sbx")]
    pub callback_url: Option<String>,
}

/// The result of an exec; also recorded as job `id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecResponse {
    /// The job recording this exec (`GET /v1/jobs/{id}`).
    pub id: JobId,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: ExecOutcome,
}

/// The request checked and turned into what the runner takes, plus what the job row keeps.
pub struct Checked {
    /// For the runner.
    pub spec: ExecSpec,
    /// Resolved limits.
    pub limits: ExecLimits,
    /// The request as recorded: file contents and module bytes left out.
    pub recorded: serde_json::Value,
    /// Where to announce the job's end.
    pub callback_url: Option<String>,
}

/// Longest `callback_url` accepted.
const MAX_CALLBACK_URL_BYTES: usize = 2048;

/// `url` if it is an absolute `http` or `https` URL a webhook can be sent to.
pub fn callback_url(url: String) -> Result<String, ApiError> {
    webhook_url("callback_url", url)
}

/// `url` if it is an absolute `http` or `https` URL of at most 2048 bytes that a webhook can
/// be sent to. Errors: 422 `invalid_callback_url` naming `field`.
pub fn webhook_url(field: &str, url: String) -> Result<String, ApiError> {
    let bad = |why: String| ApiError::invalid(Code::InvalidCallbackUrl, field, why);
    if url.len() > MAX_CALLBACK_URL_BYTES {
        return Err(bad(format!("{field} is at most 2048 bytes")));
    }
    let uri: actix_web::http::Uri = url
        .parse()
        .map_err(|_| bad(format!("{field} is not a URL")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err(bad(format!(
            "{field} must be an absolute http or https URL"
        )));
    }
    Ok(url)
}

fn no_nul(field: &str, s: &str) -> Result<(), ApiError> {
    if s.contains('\0') {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            field,
            format!("{field} may not contain NUL characters"),
        ));
    }
    Ok(())
}

fn decode_b64(field: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| {
            ApiError::invalid(
                Code::InvalidBase64,
                field,
                format!("{field} is not valid base64: {e}"),
            )
        })
}

/// A file path under `/workspace`, normalised to a relative path; `None` if it may not be used.
fn workspace_path(path: &str) -> Option<String> {
    let rel = match path.strip_prefix("/workspace/") {
        Some(rel) => rel,
        None if path.starts_with('/') => return None,
        None => path,
    };
    let parts: Vec<&str> = rel
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") || rel.contains('\0') || rel.contains('\\') {
        return None;
    }
    Some(parts.join("/"))
}

/// Environment variables checked: how many, names, no NUL characters.
pub fn check_env(env: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if env.len() > MAX_ARGS {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "env",
            format!("at most {MAX_ARGS} environment variables"),
        ));
    }
    for (k, v) in env {
        if k.is_empty() || k.contains('=') {
            return Err(ApiError::invalid(
                Code::InvalidRequest,
                "env",
                format!("environment variable name {k:?} is empty or contains '='"),
            ));
        }
        no_nul("env", k)?;
        no_nul("env", v)?;
    }
    Ok(())
}

/// A container's command (argv) checked: 1 to [`MAX_ARGS`] arguments, no NUL characters.
pub fn check_command(command: &[String]) -> Result<(), ApiError> {
    if command.is_empty() || command.len() > MAX_ARGS || command.iter().any(|a| a.contains('\0')) {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "command",
            format!("command must have 1 to {MAX_ARGS} arguments without NUL characters"),
        ));
    }
    Ok(())
}

/// `files_in` checked (paths under `/workspace`, caps, encodings) and decoded; with how the
/// request records them (path and size).
pub fn input_files(
    files_in: Vec<FileIn>,
) -> Result<(Vec<InputFile>, Vec<serde_json::Value>), ApiError> {
    if files_in.len() > MAX_INPUT_FILES {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "files",
            format!("at most {MAX_INPUT_FILES} files"),
        ));
    }
    let mut files = Vec::with_capacity(files_in.len());
    let mut seen = HashSet::new();
    let mut total = 0usize;
    let mut recorded_files = Vec::with_capacity(files_in.len());
    for (i, f) in files_in.into_iter().enumerate() {
        let field = format!("files[{i}]");
        if f.path.len() > MAX_PATH_BYTES {
            return Err(ApiError::invalid(
                Code::InvalidPath,
                format!("{field}.path"),
                format!("paths are at most {MAX_PATH_BYTES} bytes"),
            ));
        }
        let path = workspace_path(&f.path).ok_or_else(|| {
            ApiError::invalid(
                Code::InvalidPath,
                format!("{field}.path"),
                format!("{:?} is not a path under /workspace", f.path),
            )
        })?;
        if !seen.insert(path.clone()) {
            return Err(ApiError::invalid(
                Code::InvalidPath,
                format!("{field}.path"),
                format!("{path:?} is given twice"),
            ));
        }
        let content = match (f.content, f.content_b64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => decode_b64(&format!("{field}.content_b64"), &b64)?,
            _ => {
                return Err(ApiError::invalid(
                    Code::InvalidRequest,
                    field,
                    "give exactly one of content and content_b64",
                ));
            }
        };
        total += content.len();
        if total > MAX_INPUT_FILES_BYTES {
            return Err(ApiError::too_large(
                "files",
                format!("files hold over {MAX_INPUT_FILES_BYTES} bytes together"),
            ));
        }
        recorded_files.push(serde_json::json!({"path": path, "size": content.len()}));
        files.push(InputFile { path, content });
    }
    Ok((files, recorded_files))
}

/// Check `req` in full against the caller's project.
pub fn check(req: ExecRequest, caller: &Caller) -> Result<Checked, ApiError> {
    let program = match req.language.as_str() {
        "python" => {
            if req.module_b64.is_some() {
                return Err(ApiError::invalid(
                    Code::InvalidRequest,
                    "module_b64",
                    "module_b64 is for language `wasi`; send Python as `code`",
                ));
            }
            let code = req.code.ok_or_else(|| {
                ApiError::invalid(
                    Code::InvalidRequest,
                    "code",
                    "language `python` needs `code`",
                )
            })?;
            if code.len() > MAX_CODE_BYTES {
                return Err(ApiError::too_large(
                    "code",
                    format!(
                        "code is {} bytes; at most {MAX_CODE_BYTES} are accepted",
                        code.len()
                    ),
                ));
            }
            no_nul("code", &code)?;
            Program::Python { code }
        }
        "wasi" => {
            if req.code.is_some() {
                return Err(ApiError::invalid(
                    Code::InvalidRequest,
                    "code",
                    "language `wasi` runs `module_b64`, not `code`",
                ));
            }
            let b64 = req.module_b64.ok_or_else(|| {
                ApiError::invalid(
                    Code::InvalidRequest,
                    "module_b64",
                    "language `wasi` needs `module_b64`",
                )
            })?;
            if b64.len() > MAX_MODULE_BYTES.div_ceil(3) * 4 + 4 {
                return Err(ApiError::too_large(
                    "module_b64",
                    format!("the module is over {MAX_MODULE_BYTES} bytes"),
                ));
            }
            Program::Wasi {
                module: Arc::from(decode_b64("module_b64", &b64)?),
            }
        }
        other => {
            return Err(ApiError::invalid(
                Code::UnsupportedLanguage,
                "language",
                format!("language {other:?} is not supported; use \"python\" or \"wasi\""),
            ));
        }
    };
    if req.args.len() > MAX_ARGS {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "args",
            format!("at most {MAX_ARGS} args"),
        ));
    }
    for a in &req.args {
        no_nul("args", a)?;
    }
    check_env(&req.env)?;
    let stdin = req.stdin.unwrap_or_default();
    if stdin.len() > MAX_STDIN_BYTES {
        return Err(ApiError::too_large(
            "stdin",
            format!("stdin is over {MAX_STDIN_BYTES} bytes"),
        ));
    }
    let (files, recorded_files) = input_files(req.files)?;
    let requested = RequestedLimits {
        timeout_ms: req.timeout_ms,
        memory_mb: req.memory_mb,
        output_limit_bytes: req.output_limit_bytes,
        disk_mb: req.disk_mb,
    };
    let limits = ExecLimits::resolve(requested, &caller.0.limits)?;
    let handed_in: u64 = files.iter().map(|f| f.content.len() as u64).sum();
    if handed_in > limits.disk_bytes {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "disk_mb",
            format!(
                "the files handed in hold {handed_in} bytes, more than the disk cap of {} MiB",
                limits.disk_bytes >> 20
            ),
        ));
    }
    let callback_url = req.callback_url.map(callback_url).transpose()?;
    let mut recorded = serde_json::json!({
        "language": program.language(),
        "code": match &program { Program::Python { code } => Some(code.as_str()), Program::Wasi { .. } => None },
        "module_bytes": match &program { Program::Wasi { module } => Some(module.len()), Program::Python { .. } => None },
        "args": req.args,
        "stdin_bytes": stdin.len(),
        "env": req.env.keys().collect::<Vec<_>>(),
        "files": recorded_files,
        "timeout_ms": limits.timeout_ms,
        "memory_mb": limits.memory_bytes >> 20,
        "output_limit_bytes": limits.output_limit_bytes,
        "disk_mb": limits.disk_bytes >> 20,
    });
    if let Some(url) = &callback_url {
        recorded["callback_url"] = url.as_str().into();
    }
    Ok(Checked {
        spec: ExecSpec {
            program,
            args: req.args,
            stdin: stdin.into_bytes(),
            env: req.env.into_iter().collect(),
            files,
        },
        limits,
        recorded,
        callback_url,
    })
}

/// Run code now and answer with the result.
#[utoipa::path(
    post,
    path = "/v1/exec",
    tag = "exec",
    request_body = ExecRequest,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The code ran (or hit a limit: see `status`)", body = ExecResponse),
        crate::responses::NotJson,
        crate::responses::Unauthorized,
        (status = 413, description = "Code, module, files or body over their cap", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Invalid,
        (status = 429, description = "Rate or concurrency limit; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or runner is unavailable; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exec(Ctx { state, caller }: Ctx, body: crate::body::Json<ExecRequest>) -> Reply {
    // A client that hangs up cancels its exec: dropping this handler drops the guard.
    let cancel = CancellationToken::new();
    let _cancel_on_drop = cancel.clone().drop_guard();
    Ok(HttpResponse::Ok().json(run(&state, &caller, body.0, cancel).await?))
}

/// Check `req`, run it for `caller` (admitted against the project's exec concurrency), and
/// record it as a finished job: what `POST /v1/exec` answers and the MCP tool `run_python`
/// returns. `cancel` stops the program (`cancelled`). Errors: every 4xx of `check`,
/// `callback_url` given (422), the project's concurrency cap (429), the backend failing (503).
pub async fn run(
    state: &AppState,
    caller: &Caller,
    req: ExecRequest,
    cancel: CancellationToken,
) -> Result<ExecResponse, ApiError> {
    crate::budget::within_budget(caller)?;
    let checked = check(req, caller)?;
    if checked.callback_url.is_some() {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "callback_url",
            "callback_url is for POST /v1/jobs: an exec answers with its result",
        ));
    }
    let _slot = state
        .admission
        .try_acquire(caller.0.project_id, caller.0.limits.max_concurrent_execs)?;
    // Someone waits on this answer: queued work on this host steps aside until it is sent.
    let _interactive = state.backend.interactive();
    let job_id = JobId::new();
    let started_at = Utc::now();
    let language = checked.spec.program.language();
    let control = sbx_core::Control {
        cancel,
        ..sbx_core::Control::default()
    };
    let outcome = state
        .backend
        .run(checked.spec, checked.limits, control)
        .await?;
    metrics::counter!("sbx_execs_total", "status" => outcome.status.as_str()).increment(1);
    metrics::histogram!("sbx_exec_duration_seconds").record(outcome.duration_ms / 1e3);
    let record = sbx_store::jobs::FinishedExec {
        job_id,
        project_id: caller.0.project_id,
        api_key_id: caller.0.api_key_id,
        language,
        request: &checked.recorded,
        outcome: &outcome,
        started_at,
    };
    if let Err(e) = sbx_store::jobs::insert_finished_exec(&state.pool, record).await {
        // The code ran and its result is in hand: answer with it, and say loudly that the
        // record is missing.
        metrics::counter!("sbx_job_record_failures_total").increment(1);
        tracing::error!(job_id = %job_id, error = %e, "could not record a finished exec");
    }
    Ok(ExecResponse {
        id: job_id,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::workspace_path;

    #[test]
    fn paths_stay_under_the_workspace() {
        let cases = [
            ("a.txt", Some("a.txt")),
            ("/workspace/d/a.txt", Some("d/a.txt")),
            ("./d//a.txt", Some("d/a.txt")),
            ("/etc/passwd", None),
            ("../x", None),
            ("d/../../x", None),
            ("", None),
            ("/workspace/", None),
            ("a\\b", None),
        ];
        for (given, want) in cases {
            assert_eq!(workspace_path(given).as_deref(), want, "{given:?}");
        }
    }
}
