//! The project's sandbox events, out: `GET /v1/events` (Server-Sent Events, resumable) and
//! `POST/GET /v1/webhooks`, `DELETE /v1/webhooks/{id}` (endpoints the webhook outbox delivers
//! them to, signed with the project's secret, Standard Webhooks). Both carry the same body:
//! `{"type": "sandbox.paused", "timestamp": …, "data": {"event_id", "sandbox_id", "state",
//! "reason", "detail"}}`. The `sandbox_events` trigger types each state change and queues its
//! deliveries in the transaction that makes it (see `sbx_store::events`).

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sbx_core::ids::{ProjectId, SandboxId};
use sbx_core::sandbox::{SandboxState, StateReason};
use sbx_store::events::{ALL, Filter, ProjectEvent, TYPES};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::{Ctx, Reply};
use crate::error::{ApiError, Code};
use crate::sse::{sse_event, sse_response};

/// Longest endpoint description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 200;
/// Events read from the database at a time.
const PAGE: i64 = 256;
/// An idle stream sends a comment this often (proxies close silent connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What a sandbox event says (the `data` of an event).
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxEventData {
    /// The event's id: increasing; the stream's `id:` and resume point.
    pub event_id: i64,
    /// The sandbox.
    #[schema(value_type = String, format = Uuid)]
    pub sandbox_id: SandboxId,
    /// Its new state (for `sandbox.egress_denied`: its state, unchanged).
    #[schema(value_type = String, example = "paused")]
    pub state: SandboxState,
    /// Why (`user`, `timeout`, `budget`, `resumed`, …; `egress_denied`).
    #[schema(value_type = String, example = "user")]
    pub reason: StateReason,
    /// An account, for failures.
    pub detail: Option<String>,
}

/// One event, as streamed and as delivered to webhook endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// `sandbox.pending`, `.running`, `.paused`, `.resumed` (running again after a pause),
    /// `.terminated` or `.failed`; or `sandbox.egress_denied`, not a change of state: the
    /// sandbox tried to reach what its egress rules do not allow (`detail`:
    /// `host:port (how)`, how being `dns`, `connect`, `http` or `tls`; the same one at most once a minute).
    #[schema(example = "sandbox.paused")]
    pub r#type: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// What happened.
    pub data: SandboxEventData,
}

impl From<ProjectEvent> for Event {
    fn from(e: ProjectEvent) -> Self {
        Self {
            r#type: e.r#type,
            timestamp: e.at,
            data: SandboxEventData {
                event_id: e.event_id,
                sandbox_id: e.sandbox_id,
                state: e.state,
                reason: e.reason,
                detail: e.detail,
            },
        }
    }
}

/// Event types from a request, each one of [`TYPES`] or `sandbox.*` (all), duplicates
/// dropped. Errors: the index of the first that is neither, and why.
fn event_types<'a>(
    given: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, (usize, String)> {
    let mut out = Vec::new();
    for (i, t) in given.into_iter().enumerate() {
        let t = t.trim();
        if t != ALL && !TYPES.contains(&t) {
            let why = format!(
                "{t:?} is not an event type: {ALL} or one of {}",
                TYPES.join(", ")
            );
            return Err((i, why));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only these types, comma-separated (`sandbox.paused,sandbox.failed`); empty or absent:
    /// all.
    #[param(
        pattern = r"^(sandbox\.(\*|pending|running|paused|resumed|terminated|failed|egress_denied))?(,(sandbox\.(\*|pending|running|paused|resumed|terminated|failed|egress_denied))?)*$"
    )]
    pub types: Option<String>,
    /// Only this sandbox's events.
    #[param(value_type = Option<String>, format = Uuid)]
    pub sandbox_id: Option<SandboxId>,
    /// Start after this event id (as `Last-Event-ID` does, for clients that cannot send it);
    /// `0`: every event kept. Default: only events from now on.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// The project's sandbox events as Server-Sent Events (`id:` the event id, `event:` its type,
/// `data:` the event as JSON), from now on, or after `Last-Event-ID` / `after` (resumable: a
/// reconnecting EventSource misses nothing). Idle streams get a comment every 15 s.
#[utoipa::path(get, path = "/v1/events", tag = "events", security(("api_key" = [])),
    params(EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "The stream (`text/event-stream`) of `Event`s", content_type = "text/event-stream", body = Event),
        (status = 400, description = "An unknown event type in `types`, or a negative `after`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    query: web::Query<EventsQuery>,
) -> Reply {
    let q = query.into_inner();
    let types = match &q.types {
        Some(t) => event_types(t.split(',').filter(|t| !t.trim().is_empty()))
            .map_err(|(_, why)| ApiError::BadRequest(format!("types: {why}")))?,
        None => Vec::new(),
    };
    let filter = Filter {
        types: if types.iter().any(|t| t == ALL) {
            Vec::new()
        } else {
            types
        },
        sandbox: q.sandbox_id,
    };
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = match resume.or(q.after) {
        Some(a) if a >= 0 => a,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`after` is an event id, 0 or more".into(),
            ));
        }
        None => sbx_store::events::newest(&state.pool).await?,
    };
    Ok(sse_response(follow(
        state,
        caller.0.project_id,
        after,
        filter,
    )))
}

/// `project`'s events after `after` as they happen, forever (until the client goes).
fn follow(
    state: web::Data<AppState>,
    project: ProjectId,
    after: i64,
    filter: Filter,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> + 'static {
    let notes = state.notes.subscribe();
    futures_util::stream::unfold(
        (state, after, notes, filter),
        move |(state, mut last, mut notes, filter)| async move {
            let mut idle = Duration::ZERO;
            loop {
                let page = match sbx_store::events::after(&state.pool, project, last, &filter, PAGE)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        let e = actix_web::error::ErrorServiceUnavailable(e.to_string());
                        return Some((Err(e), (state, last, notes, filter)));
                    }
                };
                if !page.is_empty() {
                    let mut out = Vec::new();
                    for e in page {
                        last = e.event_id;
                        let event = Event::from(e);
                        out.extend_from_slice(&sse_event(&last.to_string(), &event.r#type, &event));
                    }
                    return Some((Ok(web::Bytes::from(out)), (state, last, notes, filter)));
                }
                if idle >= KEEP_ALIVE {
                    let ping = web::Bytes::from_static(b": keep-alive\n\n");
                    return Some((Ok(ping), (state, last, notes, filter)));
                }
                // Woken by this project's events; polled every second in case a note was lost.
                let every = Duration::from_secs(1);
                sbx_store::notify::wait(
                    &mut notes,
                    every,
                    |n| matches!(n, sbx_store::notify::Note::Events(p) if *p == project),
                )
                .await;
                idle += every;
            }
        },
    )
}

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it gets (`sandbox.*`: all).
    pub events: Vec<String>,
    /// What the project calls it.
    pub description: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl From<sbx_store::webhook_endpoints::Endpoint> for WebhookEndpoint {
    fn from(e: sbx_store::webhook_endpoints::Endpoint) -> Self {
        Self {
            id: e.endpoint_id.to_string(),
            url: e.url,
            events: e.events,
            description: e.description,
            created_at: e.created_at,
        }
    }
}

/// The project's webhook endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    /// Oldest first.
    pub data: Vec<WebhookEndpoint>,
}

/// An endpoint to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    /// An absolute http(s) URL, at most 2048 bytes.
    #[schema(example = "https://example.com/sbx-events")]
    pub url: String,
    /// Event types to send (`sandbox.*`: all, the default).
    #[serde(default)]
    #[schema(example = json!(["sandbox.paused", "sandbox.failed"]))]
    pub events: Option<Vec<String>>,
    /// A note, at most 200 characters.
    pub description: Option<String>,
}

/// Register a webhook endpoint: the project's sandbox events of the types it names are POSTed
/// to it (Standard Webhooks: `webhook-id`, `-timestamp`, `-signature` with the project's
/// secret), retried with backoff until a 2xx.
#[utoipa::path(post, path = "/v1/webhooks", tag = "events", security(("api_key" = [])),
    request_body = NewWebhookEndpoint,
    responses(
        (status = 201, description = "Registered", body = WebhookEndpoint),
        (status = 409, description = "The project has 16 endpoints already (`conflict`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_webhook(
    Ctx { state, caller }: Ctx,
    body: crate::body::Json<NewWebhookEndpoint>,
) -> Reply {
    let NewWebhookEndpoint {
        url,
        events,
        description,
    } = body.0;
    let url = crate::routes::exec::webhook_url("url", url)?;
    let events = match events {
        Some(e) if e.is_empty() => {
            return Err(ApiError::invalid(
                Code::InvalidRequest,
                "events",
                "events names at least one type",
            ));
        }
        Some(e) => event_types(e.iter().map(String::as_str)).map_err(|(i, why)| {
            ApiError::invalid(Code::InvalidRequest, format!("events[{i}]"), why)
        })?,
        None => vec![ALL.to_owned()],
    };
    let description = description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if let Some(d) = &description
        && (d.chars().count() > MAX_DESCRIPTION_CHARS || d.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "description",
            format!(
                "description is at most {MAX_DESCRIPTION_CHARS} characters, none of them control characters"
            ),
        ));
    }
    let made = sbx_store::webhook_endpoints::create(
        &state.pool,
        caller.0.project_id,
        &url,
        &events,
        description.as_deref(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::Conflict(format!(
            "the project has {} webhook endpoints, the most it may have: delete one first",
            sbx_store::webhook_endpoints::MAX_PER_PROJECT
        ))
    })?;
    Ok(HttpResponse::Created().json(WebhookEndpoint::from(made)))
}

/// The project's webhook endpoints.
#[utoipa::path(get, path = "/v1/webhooks", tag = "events", security(("api_key" = [])),
    responses((status = 200, description = "The endpoints", body = WebhookEndpointList)))]
pub async fn list_webhooks(Ctx { state, caller }: Ctx) -> Reply {
    let list = sbx_store::webhook_endpoints::list(&state.pool, caller.0.project_id).await?;
    Ok(HttpResponse::Ok().json(WebhookEndpointList {
        data: list.into_iter().map(WebhookEndpoint::from).collect(),
    }))
}

/// Remove a webhook endpoint (deliveries already queued are still sent).
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "events", security(("api_key" = [])),
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint in this project", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_webhook(Ctx { state, caller }: Ctx, id: web::Path<String>) -> Reply {
    let gone = || ApiError::NotFound("no such webhook endpoint".into());
    let id = uuid::Uuid::parse_str(&id).map_err(|_| gone())?;
    if !sbx_store::webhook_endpoints::delete(&state.pool, caller.0.project_id, id).await? {
        return Err(gone());
    }
    Ok(HttpResponse::NoContent().finish())
}
