//! Batch evals: `POST /v1/batches` queues up to 10 000 exec items in one transaction;
//! `GET /v1/batches/{id}` says where they stand (counts, pass rate, progress);
//! `GET /v1/batches/{id}/results` pages through the items' results, or streams them all as
//! JSON lines; `POST /v1/batches/{id}/cancel` stops the rest.

use std::collections::{BTreeMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sbx_core::ids::{BatchId, JobId};
use sbx_store::exec::QueuedExec;
use sbx_store::queue::{NewJob, Priority};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Caller, Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::routes::exec::{ExecRequest, FileIn, check};
use crate::routes::paging;

/// Most items in one batch.
pub const MAX_ITEMS: usize = 10_000;
/// Longest item id.
const MAX_ITEM_ID: usize = 256;

/// One item of a batch: an exec and, optionally, the stdout it should print.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// The caller's id for the item, unique in the batch (e.g. `HumanEval/0`): 1 to 256
    /// characters, none of them NUL.
    #[schema(min_length = 1, max_length = 256)]
    pub id: String,
    /// Python source.
    pub code: String,
    /// Standard input.
    pub stdin: Option<String>,
    /// What stdout must be, compared after trimming trailing whitespace; without it an item
    /// passes when it exits 0.
    pub expected_stdout: Option<String>,
    /// Arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Files under `/workspace`.
    #[serde(default)]
    pub files: Vec<FileIn>,
    /// Wall-time limit in ms (default 10 000).
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    /// Memory limit in MiB (default 512).
    #[schema(minimum = 128)]
    pub memory_mb: Option<u64>,
    /// Output cap per stream in bytes (default 1 MiB).
    #[schema(minimum = 1)]
    pub output_limit_bytes: Option<u64>,
    /// Disk cap in MiB of `/workspace` and `/tmp` together (default 128; see `ExecRequest`).
    #[schema(minimum = 1)]
    pub disk_mb: Option<u64>,
}

/// A batch to run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The items, 1 to 10 000.
    #[schema(min_items = 1, max_items = 10_000)]
    pub items: Vec<BatchItem>,
}

/// Where a batch stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// The batch id.
    pub id: BatchId,
    /// `running`, `finished`, `cancelling` (cancelled, running items still stopping) or
    /// `cancelled`.
    pub status: &'static str,
    /// Items in the batch.
    pub total: i32,
    /// Items by verdict (`passed`, `wrong_output`, `failed`, `timeout`, `memory_limit`, `disk_limit`,
    /// `output_limit`, `cancelled`, `error`) or, before they end, by status (`queued`, `running`).
    pub counts: BTreeMap<String, i64>,
    /// Items that ended.
    pub ended: i64,
    /// Items that passed.
    pub passed: i64,
    /// Items that ended without passing.
    pub failed: i64,
    /// `passed / ended`, once any ended.
    pub pass_rate: Option<f64>,
    /// `ended / total`.
    pub progress: f64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the last item ended.
    pub finished_at: Option<DateTime<Utc>>,
}

fn view(id: BatchId, s: sbx_store::batches::Summary) -> BatchView {
    let pending: i64 = ["queued", "running"]
        .iter()
        .map(|k| s.counts.get(*k).copied().unwrap_or(0))
        .sum();
    let ended = i64::from(s.total) - pending;
    let passed = s.counts.get("passed").copied().unwrap_or(0);
    let status = match (s.finished_at, s.cancelled_at) {
        (Some(_), Some(_)) => "cancelled",
        (None, Some(_)) => "cancelling",
        (Some(_), None) => "finished",
        (None, None) => "running",
    };
    BatchView {
        id,
        status,
        total: s.total,
        ended,
        passed,
        failed: ended - passed,
        pass_rate: (ended > 0).then(|| passed as f64 / ended as f64),
        progress: if s.total > 0 {
            ended as f64 / f64::from(s.total)
        } else {
            1.0
        },
        counts: s.counts,
        created_at: s.created_at,
        finished_at: s.finished_at,
    }
}

/// Queue a batch of exec items.
#[utoipa::path(post, path = "/v1/batches", tag = "batches", security(("api_key" = [])), request_body = BatchRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key and body: the same batch; another body: 422. 1 to 255 visible ASCII characters, spaces allowed inside", min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$")),
    responses(
        (status = 202, description = "Queued", body = BatchView),
        (status = 200, description = "An earlier request with this Idempotency-Key made this batch (as it is now)", body = BatchView),
        crate::responses::NotJson,
        crate::responses::Unauthorized,
        (status = 413, description = "Too many items, or an item over its caps", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another request with this Idempotency-Key is still being made", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "An item asks for something invalid (`field` names it), or an Idempotency-Key is reused with another body", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit or the project's queue cap; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The queue is full; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_batch(Ctx { state, caller }: Ctx, req: HttpRequest, body: web::Bytes) -> Reply {
    let idempotency = crate::body::idempotency(&req, &body)?;
    if let Some((key, hash)) = &idempotency
        && let Some(existing) =
            crate::idempotency::replay(made_with(&state, &caller, key).await?, hash, |r| r)?
    {
        return Ok(existing);
    }
    crate::budget::within_budget(&caller)?;
    let request: BatchRequest = crate::body::json(&req, &body)?;
    let batch_id = BatchId::new();
    let jobs = batch_jobs(request, &caller, batch_id)?;
    crate::admission::queue_room(&state, &caller, jobs.len() as i64).await?;
    let total = jobs.len() as i32;
    // The connection goes back to the pool before the summary asks for one: a request holding
    // one while it waits for a second deadlocks the pool once as many arrive at once.
    let inserted: Result<(), sbx_store::StoreError> = async {
        let mut client = state.pool.get().await?;
        let tx = client.transaction().await?;
        sbx_store::batches::create(
            &tx,
            batch_id,
            caller.0.project_id,
            caller.0.api_key_id,
            total,
            idempotency.as_ref(),
        )
        .await?;
        sbx_store::queue::enqueue(&tx, caller.0.project_id, caller.0.api_key_id, &jobs).await?;
        Ok(tx.commit().await?)
    }
    .await;
    match (inserted, &idempotency) {
        (Ok(()), _) => {}
        (Err(sbx_store::StoreError::Duplicate { .. }), Some((key, hash))) => {
            // Another request with the same Idempotency-Key won the race.
            let found = made_with(&state, &caller, key).await?;
            return crate::idempotency::replay(found, hash, |r| r)?
                .ok_or_else(crate::idempotency::in_flight);
        }
        (Err(e), _) => return Err(e.into()),
    }
    metrics::counter!("sbx_jobs_queued_total").increment(jobs.len() as u64);
    let summary = sbx_store::batches::summary(&state.pool, caller.0.project_id, batch_id)
        .await?
        .ok_or_else(|| ApiError::Internal("a batch vanished after its insert".into()))?;
    Ok(HttpResponse::Accepted().json(view(batch_id, summary)))
}

/// The jobs of batch `batch_id` that `request` asks for, each item checked like an exec
/// against the caller's project (a refusal names the item: `items[3].timeout_ms`). Never
/// touches the database: every refusal is the request's fault (4xx).
pub fn batch_jobs(
    request: BatchRequest,
    caller: &Caller,
    batch_id: BatchId,
) -> Result<Vec<NewJob>, ApiError> {
    if request.items.is_empty() {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "items",
            "a batch needs at least one item",
        ));
    }
    if request.items.len() > MAX_ITEMS {
        return Err(ApiError::too_large(
            "items",
            format!(
                "a batch holds at most {MAX_ITEMS} items; got {}",
                request.items.len()
            ),
        ));
    }
    let mut seen = HashSet::with_capacity(request.items.len());
    let mut jobs = Vec::with_capacity(request.items.len());
    for (i, item) in request.items.into_iter().enumerate() {
        if item.id.is_empty() || item.id.chars().count() > MAX_ITEM_ID || item.id.contains('\0') {
            return Err(ApiError::invalid(
                Code::InvalidRequest,
                format!("items[{i}].id"),
                format!("item ids have 1 to {MAX_ITEM_ID} characters, none of them NUL"),
            ));
        }
        if item
            .expected_stdout
            .as_ref()
            .is_some_and(|e| e.contains('\0'))
        {
            // A program's output has its NULs replaced (`output_text`): one could never match.
            return Err(ApiError::invalid(
                Code::InvalidRequest,
                format!("items[{i}].expected_stdout"),
                "expected_stdout may not contain NUL characters",
            ));
        }
        if !seen.insert(item.id.clone()) {
            return Err(ApiError::invalid(
                Code::InvalidRequest,
                format!("items[{i}].id"),
                format!("item id {:?} is given twice", item.id),
            ));
        }
        let exec = ExecRequest {
            language: "python".into(),
            code: Some(item.code),
            module_b64: None,
            args: item.args,
            stdin: item.stdin,
            env: item.env,
            files: item.files,
            timeout_ms: item.timeout_ms,
            memory_mb: item.memory_mb,
            output_limit_bytes: item.output_limit_bytes,
            disk_mb: item.disk_mb,
            callback_url: None,
        };
        let checked = check(exec, caller).map_err(|e| e.in_item(i))?;
        jobs.push(NewJob {
            job_id: JobId::new(),
            spec: QueuedExec::new(&checked.spec, checked.limits),
            recorded: checked.recorded,
            priority: Priority::Batch,
            batch: Some((batch_id, item.id, item.expected_stdout)),
            idempotency: None,
            callback_url: None,
        });
    }
    Ok(jobs)
}

/// What Idempotency-Key `key` made in the caller's project: that batch as it is now (200), with
/// the SHA-256 of the body it came with.
async fn made_with(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<Option<(HttpResponse, Option<Vec<u8>>)>, ApiError> {
    let project = caller.0.project_id;
    let Some((id, hash)) =
        sbx_store::batches::by_idempotency_key(&state.pool, project, key).await?
    else {
        return Ok(None);
    };
    let summary = sbx_store::batches::summary(&state.pool, project, id)
        .await?
        .ok_or_else(|| not_found(&id.to_string()))?;
    Ok(Some((HttpResponse::Ok().json(view(id, summary)), hash)))
}

/// The id of the caller's project's batch `id`; a 404 otherwise, whatever the reason.
fn parse_id(id: &str) -> Result<BatchId, ApiError> {
    BatchId::parse(id).ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no batch {id} in this project"))
}

/// The caller's project's batch `id` and where it stands.
async fn own_batch(state: &AppState, caller: &Caller, id: &str) -> Result<BatchView, ApiError> {
    let batch_id = parse_id(id)?;
    let s = sbx_store::batches::summary(&state.pool, caller.0.project_id, batch_id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(view(batch_id, s))
}

/// Paging of `GET /v1/batches`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// A page of batches.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchPage {
    /// Newest first.
    pub data: Vec<BatchView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The project's batches, newest first, each as `GET /v1/batches/{id}` shows it.
#[utoipa::path(get, path = "/v1/batches", tag = "batches", security(("api_key" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of batches", body = BatchPage),
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
    ))]
pub async fn list_batches(Ctx { state, caller }: Ctx, query: web::Query<ListQuery>) -> Reply {
    let q = query.into_inner();
    let limit = paging::limit(q.limit, 20, 100)?;
    let before = paging::uuid_cursor(q.cursor.as_deref())?.map(BatchId);
    let project = caller.0.project_id;
    let ids = sbx_store::batches::list(&state.pool, project, before, limit + 1).await?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = sbx_store::batches::summary(&state.pool, project, id).await? {
            rows.push((id, s));
        }
    }
    let (data, next_cursor) = paging::page(rows, limit, |(id, s)| view(id, s), |v| v.id);
    Ok(HttpResponse::Ok().json(BatchPage { data, next_cursor }))
}

/// Where a batch stands.
#[utoipa::path(get, path = "/v1/batches/{id}", tag = "batches", security(("api_key" = [])),
    params(("id" = String, Path, description = "The batch id")),
    responses(
        (status = 200, description = "The batch", body = BatchView),
        crate::responses::Unauthorized,
        crate::responses::NoSuchBatch,
    ))]
pub async fn get_batch(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(own_batch(&state, &caller, &id).await?))
}

/// Cancel a batch: queued items end `cancelled`, running ones are stopped.
#[utoipa::path(post, path = "/v1/batches/{id}/cancel", tag = "batches", security(("api_key" = [])),
    params(("id" = String, Path, description = "The batch id")),
    responses(
        (status = 202, description = "Cancelled; the batch as it is now", body = BatchView),
        crate::responses::Unauthorized,
        crate::responses::NoSuchBatch,
    ))]
pub async fn cancel_batch(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    let batch_id = parse_id(&id)?;
    if !sbx_store::batches::cancel(&state.pool, caller.0.project_id, batch_id).await? {
        return Err(not_found(&id));
    }
    Ok(HttpResponse::Accepted().json(own_batch(&state, &caller, &id).await?))
}

/// One item's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// The caller's item id.
    pub id: String,
    /// The job that ran it.
    pub job_id: JobId,
    /// `queued`, `running` or an exec status.
    pub status: String,
    /// The verdict, once ended.
    pub verdict: Option<String>,
    /// The exec result, once ended.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
}

impl From<sbx_store::batches::ItemResult> for ItemView {
    fn from(r: sbx_store::batches::ItemResult) -> Self {
        Self {
            id: r.item_id,
            job_id: r.job_id,
            status: r.status,
            verdict: r.verdict,
            result: r.result,
        }
    }
}

/// A page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultPage {
    /// The items, in submission order.
    pub data: Vec<ItemView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Paging of results.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// Page size, 1 to 1000 (default 100); ignored for JSON lines.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// The items' results: a page of JSON, or every item as JSON lines with
/// `Accept: application/x-ndjson`.
#[utoipa::path(get, path = "/v1/batches/{id}/results", tag = "batches", security(("api_key" = [])),
    params(("id" = String, Path, description = "The batch id"), ResultsQuery),
    responses(
        (status = 200, description = "Results: a page as JSON, or every item as JSON lines with Accept: application/x-ndjson", body = ResultPage),
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        crate::responses::NoSuchBatch,
    ))]
pub async fn batch_results(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<ResultsQuery>,
) -> Reply {
    let batch_id = parse_id(&id)?;
    let project = caller.0.project_id;
    if !sbx_store::batches::exists(&state.pool, project, batch_id).await? {
        return Err(not_found(&id));
    }
    let after = paging::cursor(query.cursor.as_deref())?;
    let ndjson = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/x-ndjson"));
    if ndjson {
        let stream = futures_util::stream::unfold(
            (state.clone(), after, false),
            move |(state, after, done)| async move {
                if done {
                    return None;
                }
                match sbx_store::batches::results(&state.pool, project, batch_id, after, 1000).await
                {
                    Ok(rows) if rows.is_empty() => None,
                    Ok(rows) => {
                        let last = rows.last().map(|r| r.job_id);
                        let mut out = Vec::new();
                        for r in rows {
                            serde_json::to_writer(&mut out, &ItemView::from(r))
                                .expect("an item serializes");
                            out.push(b'\n');
                        }
                        Some((
                            Ok::<_, actix_web::Error>(web::Bytes::from(out)),
                            (state, last, false),
                        ))
                    }
                    Err(e) => Some((
                        Err(actix_web::error::ErrorServiceUnavailable(e.to_string())),
                        (state, after, true),
                    )),
                }
            },
        );
        return Ok(HttpResponse::Ok()
            .content_type("application/x-ndjson")
            .streaming(stream));
    }
    let limit = paging::limit(query.limit, 100, 1000)?;
    let rows =
        sbx_store::batches::results(&state.pool, project, batch_id, after, limit + 1).await?;
    let (data, next_cursor) = paging::page(rows, limit, ItemView::from, |r| r.job_id);
    Ok(HttpResponse::Ok().json(ResultPage { data, next_cursor }))
}
