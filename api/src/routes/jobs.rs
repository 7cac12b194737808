//! `GET /v1/jobs` and `GET /v1/jobs/{id}`: the caller's project's jobs. Another project's job
//! is a 404, exactly as one that does not exist.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sbx_store::ids::JobId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

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
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only jobs with this status.
    pub status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One job of the caller's project.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", security(("api_key" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 401, description = "Missing or invalid API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job in this project", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_job(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("no job {id} in this project"));
    let job_id = JobId::parse(&id).ok_or_else(not_found)?;
    let job = sbx_store::jobs::get(&state.pool, caller.0.project_id, job_id)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(JobView::from(job)))
}

/// The caller's project's jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", security(("api_key" = [])), params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        (status = 400, description = "Bad query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    let before = match &q.cursor {
        Some(c) => Some(
            JobId::parse(c)
                .ok_or_else(|| ApiError::BadRequest("cursor is not one this API gave".into()))?,
        ),
        None => None,
    };
    let jobs = sbx_store::jobs::list(
        &state.pool,
        caller.0.project_id,
        q.status.as_deref(),
        before,
        limit + 1,
    )
    .await?;
    let more = jobs.len() as i64 > limit;
    let data: Vec<JobView> = jobs
        .into_iter()
        .take(limit as usize)
        .map(JobView::from)
        .collect();
    let next_cursor = if more {
        data.last().map(|j| j.id.to_string())
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(JobPage { data, next_cursor }))
}
