//! Templates: a project's own container images, built from a Dockerfile and a build context by
//! a runner's Docker (`POST /v1/templates`, like Docker's `POST /build`: the context as a tar
//! body, the rest in the query), listed, read, followed (`…/logs`) and deleted. Each build of a
//! name is a new version; sandboxes and container jobs run one with `image: "<name>"` (the
//! newest ready version) or `"<name>:<version>"` ([`resolve`]).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use sbx_core::ids::{ProjectId, TemplateId};
use sbx_core::sandbox::SandboxKind;
use sbx_core::template::TemplateState;
use sbx_limits::templates::{self as rules, MAX_CONTEXT_BYTES};
use sbx_store::templates::{NewTemplate, Template};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Ctx, Reply};
use crate::code::Code;
use crate::error::ApiError;

/// Longest a build may take, in seconds, and the default.
const MAX_TIMEOUT_S: i32 = 3600;
const DEFAULT_TIMEOUT_S: i32 = 600;
/// Template versions a project may keep (delete old ones to make room).
pub const MAX_VERSIONS_PER_PROJECT: i64 = 200;

/// Query of `POST /v1/templates` (the body is the build context, a tar).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BuildQuery {
    /// The template's name: 1–63 of `a-z0-9._-`, not a catalog image's. Building a name again
    /// makes its next version.
    pub name: String,
    /// The Dockerfile's path in the context (default `Dockerfile`).
    pub dockerfile: Option<String>,
    /// Whether `RUN` steps may reach the network (default false: no network while building).
    pub network: Option<bool>,
    /// Longest the build may take, in seconds: 1–3600, default 600.
    pub timeout_s: Option<i32>,
}

/// Query naming one version (`GET /v1/templates/{name}`, `…/logs`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// The version (1, 2, …); default the newest.
    pub version: Option<i32>,
}

/// A template version.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// The version's id.
    #[schema(value_type = String, format = Uuid)]
    pub id: TemplateId,
    /// Its name.
    pub name: String,
    /// 1, 2, … per name.
    pub version: i32,
    /// What a sandbox or job names as `image` to run this version (`name:version`).
    pub image: String,
    /// `queued → building → ready | failed`.
    pub state: TemplateState,
    /// Why it failed.
    pub error: Option<String>,
    /// The Dockerfile's path in the context.
    pub dockerfile: String,
    /// Bytes of the build context.
    pub context_bytes: i64,
    /// Whether `RUN` steps could reach the network.
    pub network: bool,
    /// Longest the build may take, in seconds.
    pub timeout_s: i32,
    /// The image's size in bytes (with its base), once built.
    pub size_bytes: Option<i64>,
    /// Docker's image id (`sha256:…`) from the first build, once built.
    pub image_id: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When its build started.
    pub started_at: Option<DateTime<Utc>>,
    /// When its build ended.
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        TemplateView {
            id: t.template_id,
            image: format!("{}:{}", t.name, t.version),
            name: t.name,
            version: t.version,
            state: t.state,
            error: t.error,
            dockerfile: t.dockerfile,
            context_bytes: t.context_bytes,
            network: t.network,
            timeout_s: t.timeout_s,
            size_bytes: t.size_bytes,
            image_id: t.image_id,
            created_at: t.created_at,
            started_at: t.started_at,
            ended_at: t.ended_at,
        }
    }
}

/// The project's templates.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    /// The newest version of each name, by name.
    pub data: Vec<TemplateView>,
}

/// Build a template: the body is the build context, a tar (`Content-Type: application/x-tar`,
/// at most 64 MiB) holding the Dockerfile. Answers at once with the new version `queued`; a
/// runner with Docker builds it (follow `GET /v1/templates/{name}/logs`). The Dockerfile
/// starts (`FROM`, `COPY --from=`) from catalog images, the project's templates (`name` or
/// `name:version`, pinned now) or images the hosts have: nothing is pulled. Its `RUN` steps
/// have no network unless `network=true`, 2 GB of memory and 2 CPUs; the build has
/// `timeout_s`, and an image over the runner's size cap fails it.
#[utoipa::path(post, path = "/v1/templates", tag = "templates", security(("api_key" = [])),
    params(BuildQuery),
    request_body(content = String, content_type = "application/x-tar", description = "The build context: a tar holding the Dockerfile"),
    responses(
        (status = 201, description = "Queued", body = TemplateView),
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        (status = 409, description = "The project keeps as many template versions as it may (`too_many_templates`), or a template it starts from has no ready version (`template_not_ready`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The build context is over 64 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad name, Dockerfile path, timeout, tar or Dockerfile (`invalid_request`, naming the field)", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unavailable,
    ))]
pub async fn create_template(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    query: web::Query<BuildQuery>,
    body: web::Payload,
) -> Reply {
    let build = Build::checked(query.into_inner())?;
    let context = read_context(&req, body).await?;
    let t = build
        .queue(&state.pool, caller.0.project_id, &context)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "location",
            format!("/v1/templates/{}?version={}", t.name, t.version),
        ))
        .json(TemplateView::from(t)))
}

/// A build asked for (`POST /v1/templates`'s query, or the MCP tool `build_template`), its
/// fields checked.
#[derive(Debug)]
pub struct Build {
    name: String,
    dockerfile: String,
    network: bool,
    timeout_s: i32,
}

impl Build {
    /// `q` checked: a 422 naming `name`, `timeout_s` or `dockerfile` when one is bad.
    pub fn checked(q: BuildQuery) -> Result<Self, ApiError> {
        let invalid =
            |field: &str, detail: String| ApiError::invalid(Code::InvalidRequest, field, detail);
        rules::check_name(&q.name).map_err(|e| invalid("name", e))?;
        let timeout_s = q.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
        if !(1..=MAX_TIMEOUT_S).contains(&timeout_s) {
            return Err(invalid(
                "timeout_s",
                format!("timeout_s is 1 to {MAX_TIMEOUT_S} seconds"),
            ));
        }
        let dockerfile = q.dockerfile.unwrap_or_else(|| "Dockerfile".to_owned());
        if dockerfile.is_empty() || dockerfile.len() > 255 || dockerfile.contains('\0') {
            return Err(invalid(
                "dockerfile",
                "dockerfile is a path in the context, 1 to 255 bytes".into(),
            ));
        }
        Ok(Build {
            name: q.name,
            dockerfile,
            network: q.network.unwrap_or(false),
            timeout_s,
        })
    }

    /// The Dockerfile's path in the context.
    pub fn dockerfile(&self) -> &str {
        &self.dockerfile
    }

    /// Queue this build of `context` (a tar) as `project`'s next version of the name: the
    /// version. Errors: the context or its Dockerfile (422 naming `body` or `dockerfile`), a
    /// base template without a ready version (409 `template_not_ready`), the project's cap
    /// (409 `too_many_templates`).
    pub async fn queue(
        &self,
        pool: &sbx_store::Pool,
        project: ProjectId,
        context: &[u8],
    ) -> Result<Template, ApiError> {
        let text = rules::dockerfile_in(context, &self.dockerfile).map_err(|e| match e {
            rules::ContextError::Archive(m) => ApiError::invalid(Code::InvalidRequest, "body", m),
            rules::ContextError::Dockerfile(m) => {
                ApiError::invalid(Code::InvalidRequest, "dockerfile", m)
            }
        })?;
        let found = rules::bases(&text)
            .map_err(|e| ApiError::invalid(Code::InvalidRequest, "dockerfile", e))?;
        let mut bases = HashMap::new();
        for base in found {
            if let Some(id) = pinned_base(pool, project, &base.image).await? {
                bases.insert(base.image, id);
            }
        }
        let kept = sbx_store::templates::count(pool, project).await?;
        if kept >= MAX_VERSIONS_PER_PROJECT {
            return Err(ApiError::State {
                code: Code::TooManyTemplates,
                detail: format!(
                    "this project keeps {kept} template versions, its cap: delete some first \
                     (DELETE /v1/templates/{{name}})"
                ),
            });
        }
        Ok(sbx_store::templates::insert(
            pool,
            &NewTemplate {
                project_id: project,
                name: &self.name,
                dockerfile: &self.dockerfile,
                context,
                network: self.network,
                bases: &bases,
                timeout_s: self.timeout_s,
            },
        )
        .await?)
    }
}

/// The template version base `image` of a Dockerfile names in `project`, if it names one: the
/// newest ready version, or the version it pins. A template of that name without such a
/// version is a 409.
async fn pinned_base(
    pool: &sbx_store::Pool,
    project: ProjectId,
    image: &str,
) -> Result<Option<TemplateId>, ApiError> {
    let Some((name, version)) = rules::parse_image(image) else {
        return Ok(None);
    };
    match ready_version(pool, project, name, version).await? {
        Ready::Yes(id) => Ok(Some(id)),
        Ready::NoSuchTemplate => Ok(None),
        Ready::No(why) => Err(ApiError::State {
            code: Code::TemplateNotReady,
            detail: format!("the Dockerfile starts from {image}: {why}"),
        }),
    }
}

/// Whether `project`'s template `name` has a ready version (`version`, or the newest).
enum Ready {
    Yes(TemplateId),
    No(String),
    NoSuchTemplate,
}

async fn ready_version(
    pool: &sbx_store::Pool,
    project: ProjectId,
    name: &str,
    version: Option<i32>,
) -> Result<Ready, ApiError> {
    use sbx_store::templates as store;
    let found = match version {
        Some(v) => store::get(pool, project, name, Some(v)).await?,
        None => match store::newest_ready(pool, project, name).await? {
            Some(t) => Some(t),
            None => store::get(pool, project, name, None).await?,
        },
    };
    Ok(match found {
        Some(t) if t.state == TemplateState::Ready => Ready::Yes(t.template_id),
        Some(t) => Ready::No(format!(
            "template {}:{} is {}{}",
            t.name,
            t.version,
            t.state,
            t.error.map(|e| format!(" ({e})")).unwrap_or_default()
        )),
        None if version.is_some() && store::get(pool, project, name, None).await?.is_some() => {
            Ready::No(format!(
                "template {name} has no version {}",
                version.unwrap_or(0)
            ))
        }
        None => Ready::NoSuchTemplate,
    })
}

/// If container sandbox `new` names one of its project's templates as its image, run that
/// template's build: its Docker reference becomes the image (a runner without it builds it on
/// first use). A template without a ready version is a 409 naming `image`; a name that is no
/// template stays an image reference.
pub async fn resolve(
    pool: &sbx_store::Pool,
    new: &mut sbx_store::sandboxes::NewSandbox,
) -> Result<(), ApiError> {
    if new.kind != SandboxKind::Container || sbx_limits::catalog::find(&new.image).is_some() {
        return Ok(());
    }
    let Some((name, version)) = rules::parse_image(&new.image) else {
        return Ok(());
    };
    match ready_version(pool, new.project_id, name, version).await? {
        Ready::Yes(id) => {
            new.docker_image = Some(rules::docker_reference(id.0));
            Ok(())
        }
        Ready::NoSuchTemplate => Ok(()),
        Ready::No(why) => Err(ApiError::State {
            code: Code::TemplateNotReady,
            detail: format!("image: {why}"),
        }),
    }
}

/// The build context from the body, at most [`MAX_CONTEXT_BYTES`] (413 past it).
async fn read_context(req: &HttpRequest, mut body: web::Payload) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::TooLarge {
        detail: format!("the build context is over {} MiB", MAX_CONTEXT_BYTES >> 20),
        field: Some("body".into()),
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_CONTEXT_BYTES) {
        crate::body::drain(body).await;
        return Err(too_large());
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
        if out.len() + chunk.len() > MAX_CONTEXT_BYTES {
            crate::body::drain(body).await;
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    if out.is_empty() {
        return Err(ApiError::invalid(
            Code::InvalidRequest,
            "body",
            "the body is the build context: a tar holding the Dockerfile",
        ));
    }
    Ok(out)
}

/// The project's templates: the newest version of each name.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", security(("api_key" = [])),
    responses(
        (status = 200, description = "The templates", body = TemplateList),
        crate::responses::Unauthorized,
        crate::responses::Unavailable,
    ))]
pub async fn list_templates(Ctx { state, caller }: Ctx) -> Reply {
    let data = sbx_store::templates::list(&state.pool, caller.0.project_id).await?;
    Ok(HttpResponse::Ok().json(TemplateList {
        data: data.into_iter().map(TemplateView::from).collect(),
    }))
}

/// One version of a template (the newest unless `version` says).
#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates", security(("api_key" = [])),
    params(("name" = String, Path, description = "The template's name"), VersionQuery),
    responses(
        (status = 200, description = "The version", body = TemplateView),
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        (status = 404, description = "No such template or version in this project", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unavailable,
    ))]
pub async fn get_template(
    Ctx { state, caller }: Ctx,
    name: web::Path<String>,
    query: web::Query<VersionQuery>,
) -> Reply {
    let t = one(&state.pool, caller.0.project_id, &name, query.version).await?;
    Ok(HttpResponse::Ok().json(TemplateView::from(t)))
}

/// Every version of a template, newest first.
#[utoipa::path(get, path = "/v1/templates/{name}/versions", tag = "templates", security(("api_key" = [])),
    params(("name" = String, Path, description = "The template's name")),
    responses(
        (status = 200, description = "Its versions", body = TemplateList),
        crate::responses::Unauthorized,
        (status = 404, description = "No such template in this project", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unavailable,
    ))]
pub async fn template_versions(Ctx { state, caller }: Ctx, name: web::Path<String>) -> Reply {
    let data = sbx_store::templates::versions(&state.pool, caller.0.project_id, &name).await?;
    if data.is_empty() {
        return Err(no_such(&name, None));
    }
    Ok(HttpResponse::Ok().json(TemplateList {
        data: data.into_iter().map(TemplateView::from).collect(),
    }))
}

/// Delete a template: every version, with their logs. Sandboxes running one keep running (a
/// paused one resumes on a host that still has the image); runners remove the images once no
/// container uses them. A sandbox naming it afterwards names an image reference of that name
/// (usually none). Templates that start from it must go first (409 `template_in_use`).
#[utoipa::path(delete, path = "/v1/templates/{name}", tag = "templates", security(("api_key" = [])),
    params(("name" = String, Path, description = "The template's name")),
    responses(
        (status = 204, description = "Deleted"),
        crate::responses::Unauthorized,
        (status = 409, description = "Other templates start from it (`template_in_use`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such template in this project", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::Unavailable,
    ))]
pub async fn delete_template(Ctx { state, caller }: Ctx, name: web::Path<String>) -> Reply {
    let dependents =
        sbx_store::templates::dependents(&state.pool, caller.0.project_id, &name).await?;
    if !dependents.is_empty() {
        return Err(ApiError::State {
            code: Code::TemplateInUse,
            detail: format!(
                "templates {} start from {name}: delete them first",
                dependents.join(", ")
            ),
        });
    }
    match sbx_store::templates::delete(&state.pool, caller.0.project_id, &name).await? {
        0 => Err(no_such(&name, None)),
        _ => Ok(HttpResponse::NoContent().finish()),
    }
}

/// A version's build log as Server-Sent Events: what the builder said so far, then what it
/// says, until the build ends (an `end` event with `state` and `error`). Event ids count the
/// chunks; `Last-Event-ID` resumes after one. Each `data` is one line of JSON: a chunk is a
/// JSON string (the builder's output, `[sbx: …]` lines added by sbx), `end`'s an object.
#[utoipa::path(get, path = "/v1/templates/{name}/logs", tag = "templates", security(("api_key" = [])),
    params(
        ("name" = String, Path, description = "The template's name"),
        VersionQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
    ),
    responses(
        (status = 200, description = "An event stream of `stdout` events (each chunk a JSON string), then `end` (a JSON object)", content_type = "text/event-stream"),
        (status = 204, description = "The reader already had the `end` event (`Last-Event-ID: end`)"),
        crate::responses::BadQuery,
        crate::responses::Unauthorized,
        (status = 404, description = "No such template or version in this project", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn template_logs(
    Ctx { state, caller }: Ctx,
    req: HttpRequest,
    name: web::Path<String>,
    query: web::Query<VersionQuery>,
) -> Reply {
    use crate::sse::{Tail, follow_log, had_the_end, last_event_id, sse_event, sse_response};
    let t = one(&state.pool, caller.0.project_id, &name, query.version).await?;
    if had_the_end(&req) {
        return Ok(HttpResponse::NoContent().finish());
    }
    let id = t.template_id;
    let stream = follow_log(
        state,
        id.into(),
        last_event_id(&req),
        move |state, _| async move {
            match sbx_store::templates::by_id(&state.pool, id).await {
                Ok(Some(t)) if t.state.is_ended() => {
                    let data = serde_json::json!({"state": t.state, "error": t.error});
                    Tail::End(sse_event("end", "end", &data).to_vec())
                }
                Ok(Some(_)) => Tail::Open,
                _ => Tail::Gone,
            }
        },
    );
    Ok(sse_response(stream))
}

/// `project`'s template `name`, version `version` or the newest; 404 when there is none.
async fn one(
    pool: &sbx_store::Pool,
    project: ProjectId,
    name: &str,
    version: Option<i32>,
) -> Result<Template, ApiError> {
    sbx_store::templates::get(pool, project, name, version)
        .await?
        .ok_or_else(|| no_such(name, version))
}

fn no_such(name: &str, version: Option<i32>) -> ApiError {
    ApiError::NotFound(match version {
        Some(v) => format!("no version {v} of template {name:?} in this project"),
        None => format!("no template {name:?} in this project"),
    })
}
