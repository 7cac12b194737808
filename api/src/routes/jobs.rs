//! Jobs: every exec is one. `POST /v1/jobs` queues one and answers at once; `GET` lists and
//! reads them; `…/cancel` stops one; `…/logs` streams its output as Server-Sent Events.
//! Another project's job is a 404, exactly as one that does not exist.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sbx_core::ids::JobId;
use sbx_store::exec::QueuedExec;
use sbx_store::queue::{NewJob, Priority};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::routes::paging;
use crate::sse::{Tail, follow_log, had_the_end, last_event_id, sse_event, sse_response};

/// Jobs a page holds when the caller does not say.
const DEFAULT_PAGE: i64 = 50;
/// Most jobs a page may hold.
const MAX_PAGE: i64 = 200;

/// A job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// The id.
    pub id: JobId,
    /// `exec`.
    pub kind: String,
    /// `queued`, `running`, or how it ended (an exec status).
    pub status: String,
    /// `python` or `wasi`.
    pub language: String,
    /// The request as recorded (file contents and module bytes left out).
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    /// The outcome, once finished: the same fields as `POST /v1/exec` answers.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Start time.
    pub started_at: Option<DateTime<Utc>>,
    /// End time.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<sbx_store::jobs::Job> for JobView {
    fn from(j: sbx_store::jobs::Job) -> Self {
        Self {
            id: j.job_id,
            kind: j.kind,
            status: j.status,
            language: j.language,
            request: j.request,
            result: j.result,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    /// The jobs.
    pub data: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Filters and paging of `GET /v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only jobs with this status: `queued`, `running`, or how a job ended.
    #[param(schema_with = job_status_schema)]
    pub status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// Every status a job can have: `queued`, `running`, then an exec status.
fn job_statuses() -> impl Iterator<Item = &'static str> {
    ["queued", "running"]
        .into_iter()
        .chain(sbx_core::exec::ExecStatus::ALL.iter().map(|s| s.as_str()))
}

/// The `status` filter's schema: one of [`job_statuses`].
fn job_status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "Only jobs with this status: `queued`, `running`, or how a job ended.",
        ))
        .enum_values(Some(job_statuses()))
        .build()
}

/// One job of the caller's project.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", security(("api_key" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        crate::responses::Unauthorized,
        crate::responses::NoSuchJob,
    ))]
pub async fn get_job(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    let job = own_job(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(JobView::from(job)))
}

/// The caller's project's job `id`: a malformed id, another project's job and a job that does
/// not exist are the same 404.
async fn own_job(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<sbx_store::jobs::Job, ApiError> {
    let not_found = || ApiError::NotFound(format!("no job {id} in this project"));
    let job_id = JobId::parse(id).ok_or_else(not_found)?;
    sbx_store::jobs::get(&state.pool, caller.0.project_id, job_id)
        .await?
        .ok_or_else(not_found)
}

/// The caller's project's jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", security(("api_key" = [])), params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
    ))]
pub async fn list_jobs(Ctx { state, caller }: Ctx, query: web::Query<ListQuery>) -> Reply {
    let q = query.into_inner();
    let limit = paging::limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let before = paging::cursor(q.cursor.as_deref())?;
    if let Some(status) = q.status.as_deref()
        && !job_statuses().any(|s| s == status)
    {
        let names: Vec<&str> = job_statuses().collect();
        return Err(ApiError::BadRequest(format!(
            "status must be one of {}",
            names.join(", ")
        )));
    }
    let jobs = sbx_store::jobs::list(
        &state.pool,
        caller.0.project_id,
        q.status.as_deref(),
        before,
        limit + 1,
    )
    .await?;
    let (data, next_cursor) = paging::page(jobs, limit, JobView::from, |j| j.id);
    Ok(HttpResponse::Ok().json(JobPage { data, next_cursor }))
}

/// Queue code to run now or soon; answer at once with the job.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", security(("api_key" = [])),
    request_body = crate::routes::exec::ExecRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body: the same job; another body: 422. 1 to 255 visible ASCII characters, spaces allowed inside", min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$")),
    responses(
        (status = 202, description = "Queued", body = JobView),
        (status = 200, description = "An earlier request with this Idempotency-Key made this job", body = JobView),
        crate::responses::NotJson,
        crate::responses::Unauthorized,
        (status = 413, description = "Code, module or files over their cap", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The request asks for something invalid, or reuses an Idempotency-Key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "A rate limit or the project's queue cap; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The queue is full or the database down; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_job(Ctx { state, caller }: Ctx, req: HttpRequest, body: web::Bytes) -> Reply {
    let idempotency = crate::body::idempotency(&req, &body)?;
    if let Some((key, hash)) = &idempotency
        && let Some(existing) = replay(&state, &caller, key, hash).await?
    {
        return Ok(existing);
    }
    crate::budget::within_budget(&caller)?;
    let value: serde_json::Value = crate::body::json(&req, &body)?;
    let checked = match job_request(
        &state.sealer,
        state.kyc,
        &caller,
        value,
        idempotency.clone(),
    )? {
        JobRequest::Exec(checked) => checked,
        JobRequest::Container(job) => {
            return create_container_job(&state, &caller, *job, idempotency).await;
        }
    };
    crate::admission::queue_room(&state, &caller, 1).await?;
    let job_id = JobId::new();
    let new = NewJob {
        job_id,
        spec: QueuedExec::new(&checked.spec, checked.limits),
        recorded: checked.recorded,
        priority: Priority::Async,
        batch: None,
        idempotency: idempotency.clone(),
        callback_url: checked.callback_url,
    };
    // The connection goes back to the pool before any other is asked for: a request holding
    // one while it waits for a second deadlocks the pool once as many arrive at once.
    let inserted: Result<(), sbx_store::StoreError> = async {
        let mut client = state.pool.get().await?;
        let tx = client.transaction().await?;
        sbx_store::queue::enqueue(
            &tx,
            caller.0.project_id,
            caller.0.api_key_id,
            std::slice::from_ref(&new),
        )
        .await?;
        Ok(tx.commit().await?)
    }
    .await;
    match inserted {
        Ok(()) => {}
        Err(sbx_store::StoreError::Duplicate { .. }) => {
            // Another request with the same Idempotency-Key won the race.
            let (key, hash) = idempotency
                .as_ref()
                .expect("only idempotency keys are unique");
            return replay(&state, &caller, key, hash)
                .await?
                .ok_or_else(crate::idempotency::in_flight);
        }
        Err(e) => return Err(e.into()),
    }
    metrics::counter!("sbx_jobs_queued_total").increment(1);
    let job = sbx_store::jobs::get(&state.pool, caller.0.project_id, job_id)
        .await?
        .ok_or_else(|| ApiError::Internal("a job vanished after its insert".into()))?;
    Ok(HttpResponse::Accepted().json(JobView::from(job)))
}

/// What a `POST /v1/jobs` body asks for, checked against the caller's project.
pub enum JobRequest {
    /// Python code or a WASI module (`kind` absent or `exec`).
    Exec(Box<crate::routes::exec::Checked>),
    /// A command in an image (`kind: container`).
    Container(Box<ContainerJob>),
}

/// A container job, checked.
pub struct ContainerJob {
    /// The sandbox it runs in, as inserted.
    pub sandbox: sbx_store::sandboxes::NewSandbox,
    /// The request as the job records it (environment values left out).
    pub recorded: serde_json::Value,
    /// Where its end is posted.
    pub callback_url: Option<String>,
}

/// Job request `value` checked against the caller's project, without the database: every
/// refusal is the request's fault (4xx, naming the field).
pub fn job_request(
    sealer: &sbx_store::seal::Sealer,
    kyc: sbx_limits::sandbox::KycRule,
    caller: &Caller,
    mut value: serde_json::Value,
    idempotency: Option<(String, Vec<u8>)>,
) -> Result<JobRequest, ApiError> {
    match value.get("kind").map(|k| k.as_str()) {
        None | Some(Some("exec")) => {}
        Some(Some("container")) => {
            return Ok(JobRequest::Container(Box::new(container_job(
                sealer,
                kyc,
                caller,
                value,
                idempotency,
            )?)));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                Code::InvalidRequest,
                "kind",
                "kind is `exec` (the default) or `container`",
            ));
        }
    }
    if let Some(o) = value.as_object_mut() {
        o.remove("kind");
    }
    let request: crate::routes::exec::ExecRequest = crate::body::from_value(value)?;
    Ok(JobRequest::Exec(Box::new(crate::routes::exec::check(
        request, caller,
    )?)))
}

/// A container job request (`kind: container`): an image, a command, resources and a timeout.
fn container_job(
    sealer: &sbx_store::seal::Sealer,
    kyc: sbx_limits::sandbox::KycRule,
    caller: &Caller,
    mut value: serde_json::Value,
    idempotency: Option<(String, Vec<u8>)>,
) -> Result<ContainerJob, ApiError> {
    let o = value.as_object_mut().ok_or_else(|| {
        ApiError::invalid(Code::InvalidRequest, "body", "the body is a JSON object")
    })?;
    o.remove("kind");
    let callback_url = match o.remove("callback_url") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(u)) => Some(crate::routes::exec::callback_url(u)?),
        Some(_) => {
            return Err(ApiError::invalid(
                Code::InvalidCallbackUrl,
                "callback_url",
                "callback_url is a URL string",
            ));
        }
    };
    let r: crate::routes::sandboxes::create::CreateSandbox = crate::body::from_value(value)?;
    if r.image == crate::routes::sandboxes::CODE_INTERPRETER {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "image",
            "Python code runs as an exec job: send `language` and `code` without `kind`",
        ));
    }
    if r.command.is_none() {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "command",
            "a container job needs a `command` to run to completion",
        ));
    }
    let mut recorded = serde_json::json!({
        "kind": "container",
        "image": r.image,
        "command": r.command,
        "cpu": r.cpu,
        "memory": r.memory,
        "disk": r.disk,
        "gpu": r.gpu,
        "timeout_s": r.timeout_s,
        "env": r.env.keys().collect::<Vec<_>>(),
        "network": r.network.clone().unwrap_or(super::sandboxes::network::Network::Enabled(false)),
    });
    if let Some(url) = &callback_url {
        recorded["callback_url"] = url.as_str().into();
    }
    let sandbox =
        crate::routes::sandboxes::create::container_sandbox(sealer, kyc, caller, r, idempotency)?;
    Ok(ContainerJob {
        sandbox,
        recorded,
        callback_url,
    })
}

/// Queue a container job: it runs to completion in a container sandbox of its own.
async fn create_container_job(
    state: &AppState,
    caller: &Caller,
    job: ContainerJob,
    idempotency: Option<(String, Vec<u8>)>,
) -> Result<HttpResponse, ApiError> {
    let ContainerJob {
        mut sandbox,
        recorded,
        callback_url,
    } = job;
    crate::routes::templates::resolve(&state.pool, &mut sandbox).await?;
    state.sandboxes.open_room(caller.0.project_id).await?;
    crate::admission::queue_room(state, caller, 1).await?;
    let job_id = JobId::new();
    let job = sbx_store::container_jobs::NewContainerJob {
        job_id,
        request: &recorded,
        callback_url: callback_url.as_deref(),
        sandbox: &sandbox,
    };
    match sbx_store::container_jobs::create(
        &state.pool,
        caller.0.project_id,
        caller.0.api_key_id,
        &job,
    )
    .await
    {
        Ok(()) => {}
        Err(sbx_store::StoreError::Duplicate { .. }) => {
            let (key, hash) = idempotency
                .as_ref()
                .expect("only idempotency keys are unique");
            return replay(state, caller, key, hash)
                .await?
                .ok_or_else(crate::idempotency::in_flight);
        }
        Err(e) => return Err(e.into()),
    }
    sbx_store::placement::announce_pending(&state.pool, sandbox.sandbox_id).await?;
    metrics::counter!("sbx_jobs_queued_total").increment(1);
    let job = sbx_store::jobs::get(&state.pool, caller.0.project_id, job_id)
        .await?
        .ok_or_else(|| ApiError::Internal("a job vanished after its insert".into()))?;
    Ok(HttpResponse::Accepted().json(JobView::from(job)))
}

/// The answer to a repeated request with `key`: the job it made if `hash` matches, a 422 if the
/// body differs, `None` if the key is new.
async fn replay(
    state: &AppState,
    caller: &Caller,
    key: &str,
    hash: &[u8],
) -> Result<Option<HttpResponse>, ApiError> {
    let found = sbx_store::jobs::by_idempotency_key(&state.pool, caller.0.project_id, key).await?;
    crate::idempotency::replay(found, hash, |job| {
        HttpResponse::Ok().json(JobView::from(job))
    })
}

/// Cancel a job: a queued job ends now; a running one is stopped within milliseconds.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", security(("api_key" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 202, description = "Cancelled, or being stopped; the job as it is now", body = JobView),
        crate::responses::Unauthorized,
        crate::responses::NoSuchJob,
    ))]
pub async fn cancel_job(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    let job_id = own_job(&state, &caller, &id).await?.job_id;
    match sbx_store::container_jobs::sandbox_of(&state.pool, caller.0.project_id, job_id).await? {
        // A container job ends when its sandbox does: the runner records it `cancelled`.
        Some(sandbox) => {
            state
                .sandboxes
                .terminate(caller.0.project_id, sandbox)
                .await?;
        }
        None => {
            sbx_store::queue::cancel(&state.pool, caller.0.project_id, job_id).await?;
        }
    }
    let job = own_job(&state, &caller, &id).await?;
    Ok(HttpResponse::Accepted().json(JobView::from(job)))
}

/// Whether a job status is final.
fn ended(status: &str) -> bool {
    !matches!(status, "queued" | "running")
}

/// A job's output as Server-Sent Events: `stdout`/`stderr` chunks as the program writes them
/// (event ids count them; `Last-Event-ID` resumes after one), then one `status` event with the
/// job's result, then the stream ends. A job that ends within its first 100 ms writes no live
/// chunks: its output comes as one `stdout` and one `stderr` chunk from its result, just
/// before the `status` event. Each event's `data` is one line of JSON: a chunk is a JSON
/// string, so parsing each and joining a stream's chunks gives exactly what the program wrote;
/// the `status` event's is an object (`status`, `result`).
#[utoipa::path(get, path = "/v1/jobs/{id}/logs", tag = "jobs", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The job id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
    ),
    responses(
        (status = 200, description = "An event stream: `stdout` and `stderr` events whose `data` is the chunk as a JSON string, then `status` whose `data` is a JSON object", content_type = "text/event-stream"),
        (status = 204, description = "The reader already had the `end` event (`Last-Event-ID: end`): no more to come"),
        crate::responses::Unauthorized,
        crate::responses::NoSuchJob,
    ))]
pub async fn job_logs(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
) -> Reply {
    let job_id = own_job(&state, &caller, &id).await?.job_id;
    if had_the_end(&req) {
        return Ok(HttpResponse::NoContent().finish());
    }
    let after = last_event_id(&req);
    let project = caller.0.project_id;
    let stream = follow_log(state, job_id.into(), after, move |state, seq| async move {
        let job = match sbx_store::jobs::get(&state.pool, project, job_id).await {
            Ok(Some(j)) => j,
            _ => return Tail::Gone,
        };
        if !ended(&job.status) {
            return Tail::Open;
        }
        let mut out = Vec::new();
        // A job that ended before its first live write kept its output in its result only:
        // replay it as the chunks it would have been.
        if seq == 0 || after > 0 {
            let logged = match sbx_store::logs::read(&state.pool, job_id, 0, 1).await {
                Ok(c) => !c.is_empty(),
                Err(_) => true,
            };
            if !logged {
                let streams = ["stdout", "stderr"].into_iter().filter_map(|stream| {
                    let text = job.result.as_ref()?.get(stream)?.as_str()?;
                    (!text.is_empty()).then_some((stream, text))
                });
                for (n, (stream, text)) in (1..).zip(streams) {
                    if n > after {
                        out.extend_from_slice(&sse_event(&n.to_string(), stream, &text));
                    }
                }
            }
        }
        let data = serde_json::json!({"status": job.status, "result": job.result});
        out.extend_from_slice(&sse_event("end", "status", &data));
        Tail::End(out)
    });
    Ok(sse_response(stream))
}

/// A file a container job wrote under `/outputs`.
#[utoipa::path(get, path = "/v1/jobs/{id}/artifacts/{path}", tag = "jobs", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The job id"),
        ("path" = String, Path, description = "The file's path under /outputs"),
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        crate::responses::Unauthorized,
        (status = 404, description = "No such job in this project, or no such artifact", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn job_artifact(Ctx { state, caller }: Ctx, path: web::Path<(String, String)>) -> Reply {
    let (id, file) = path.into_inner();
    let job_id = own_job(&state, &caller, &id).await?.job_id;
    let data = sbx_store::container_jobs::artifact(&state.pool, caller.0.project_id, job_id, &file)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("the job kept no artifact {file:?}")))?;
    let kind = match file.rsplit_once('.').map(|(_, e)| e) {
        Some("json") => "application/json",
        Some("txt" | "log" | "csv") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    Ok(HttpResponse::Ok().content_type(kind).body(data))
}
