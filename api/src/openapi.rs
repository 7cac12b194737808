//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`, served from the binary: it
//! works offline).

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes;

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "sbx", description = "Sandboxes for code, evals and training.", version = "1"),
    paths(
        routes::exec::exec,
        routes::jobs::get_job,
        routes::jobs::list_jobs,
        routes::jobs::create_job,
        routes::jobs::cancel_job,
        routes::jobs::job_logs,
        routes::jobs::job_artifact,
        routes::batches::list_batches,
        routes::batches::create_batch,
        routes::batches::get_batch,
        routes::batches::cancel_batch,
        routes::batches::batch_results,
        routes::images::list_images,
        routes::templates::create_template,
        routes::templates::list_templates,
        routes::templates::get_template,
        routes::templates::template_versions,
        routes::templates::delete_template,
        routes::templates::template_logs,
        routes::gpus::list_gpus,
        routes::usage::usage,
        routes::usage::prices,
        routes::events::events,
        routes::events::create_webhook,
        routes::events::list_webhooks,
        routes::events::delete_webhook,
        crate::budget::get_budget,
        crate::budget::put_budget,
        routes::keys::list_keys,
        routes::keys::create_key,
        routes::keys::revoke_key,
        routes::keys::webhook_secret,
        routes::sandboxes::sandbox_logs,
        routes::sandboxes::create::create_sandbox,
        routes::sandboxes::list_sandboxes,
        routes::sandboxes::get_sandbox,
        routes::sandboxes::delete_sandbox,
        routes::sandboxes::pause_sandbox,
        routes::sandboxes::resume_sandbox,
        routes::sandboxes::set_timeout,
        routes::sandboxes::exec::exec_in_sandbox,
        routes::sandboxes::metrics::sandbox_metrics,
        routes::sandboxes::fork::fork_sandbox,
        routes::sandboxes::files::read_file,
        routes::sandboxes::files::write_file,
        routes::sandboxes::files::delete_file,
        routes::sandboxes::files::list_files,
        routes::sandboxes::files::make_directory,
        routes::sandboxes::files::watch_files,
        routes::sandboxes::processes::start_process,
        routes::sandboxes::processes::list_processes,
        routes::sandboxes::processes::get_process,
        routes::sandboxes::processes::process_logs,
        routes::sandboxes::processes::write_stdin,
        routes::sandboxes::processes::signal_process,
        routes::sandboxes::terminal::open_terminal,
        routes::sandboxes::ports::list_ports,
        routes::sandboxes::ports::expose_port,
        routes::sandboxes::ports::call_port_get,
        routes::sandboxes::ports::call_port_post,
        routes::sandboxes::ports::call_port_put,
        routes::sandboxes::ports::call_port_patch,
        routes::sandboxes::ports::call_port_delete,
        routes::sandboxes::ports::call_port_head,
        routes::sandboxes::previews::create_preview,
        crate::accounts::login,
        crate::accounts::session,
        crate::accounts::logout,
        crate::accounts::logout_all,
        crate::kyc::submit_kyc,
        crate::kyc::list_submissions,
        crate::kyc::submission_document,
        crate::kyc::decide,
        crate::kyc::provider_webhook,
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
    ),
    components(schemas(
        crate::error::Problem,
        sbx_core::exec::CommandOutcome,
        crate::files::watch::Change
    )),
    modifiers(&BearerAuth, &CommonResponses, &QueryParameters, &FilePaths, &Links),
    tags(
        (name = "exec", description = "Run code now"),
        (name = "jobs", description = "Queued and recorded execs"),
        (name = "batches", description = "Batch evals"),
        (name = "sandboxes", description = "Sandboxes: persistent interpreters with a lifecycle"),
        (name = "files", description = "A sandbox's files: upload, download, list, delete, make folders"),
        (name = "processes", description = "A container sandbox's background processes: start, follow, write to, signal; its terminal"),
        (name = "ports", description = "HTTP to the servers listening in a container sandbox"),
        (name = "templates", description = "A project's own container images, built from a Dockerfile"),
        (name = "usage", description = "Metered usage and cost"),
        (name = "events", description = "Sandbox events: a stream, and webhook endpoints"),
        (name = "operations", description = "Health and metrics"),
        (name = "admin", description = "Operators' pages: identity checks"),
        (name = "keys", description = "The project's API keys and webhook secret"),
        (name = "accounts", description = "People signing in to the dashboard (programs use API keys)"),
    )
)]
pub struct ApiDoc;

/// The two ways to call `/v1`: an API key (programs), or the dashboard's session cookie, which
/// every operation that takes a key also takes.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An sbx API key"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::accounts::COOKIE,
                "The dashboard's session (`POST /auth/login`). With it, a request names its \
                 project with `X-Sbx-Project` (unless the person has one), and a change carries \
                 the session's `X-CSRF-Token`.",
            ))),
        );
        let session = SecurityRequirement::new("session", Vec::<String>::new());
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                if let Some(security) = operation.security.as_mut()
                    && !security.is_empty()
                {
                    security.push(session.clone());
                }
            }
        }
    }
}

/// The answers that every operation of a kind can give, added where its own declaration does
/// not name that status: for `/v1` operations 401 (no or a refused key), 429 (the project's
/// request rate; `Retry-After`) and, with the dashboard's session, 403 (not a member of the
/// project named, or a change without the CSRF token) and 400 (no project named among
/// several), for those with a JSON body 400 (not JSON), 413 (over
/// the body cap), 415 (not `application/json`) and 422 (does not fit the schema), and for those
/// with a query 400 (a bad query).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::ParameterIn;
        let secured: &[(u16, &str)] = &[
            (401, "Missing or invalid API key (or session)"),
            (429, "Over the project's request rate; see Retry-After"),
        ];
        // Last: a status an operation's body or query already explains keeps that text.
        let session: &[(u16, &str)] = &[
            (
                403,
                "With a session: not a member of the project `X-Sbx-Project` names \
                 (`not_a_member`), or a change without the session's `X-CSRF-Token` \
                 (`csrf_failed`)",
            ),
            (
                400,
                "With a session: the person is a member of several projects and \
                 `X-Sbx-Project` names none",
            ),
        ];
        let with_body: &[(u16, &str)] = &[
            (400, "The body is not JSON"),
            (413, "The body is over its cap"),
            (415, "The body is not `application/json`"),
            (
                422,
                "The body does not fit the schema, or asks for something invalid",
            ),
        ];
        let with_query: &[(u16, &str)] = &[(400, "A query parameter is not valid")];
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                let mut add: Vec<(u16, &str)> = Vec::new();
                if path.starts_with("/v1/") {
                    add.extend(secured);
                }
                if operation.request_body.is_some() {
                    add.extend(with_body);
                }
                if operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query))
                {
                    add.extend(with_query);
                }
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add.extend(session);
                }
                for (status, description) in add {
                    let responses = &mut operation.responses.responses;
                    if !responses.contains_key(&status.to_string()) {
                        responses.extend(crate::responses::problem(status, description));
                    }
                }
            }
        }
    }
}

/// The `path` parameters of the files operations get the pattern of the paths they take
/// ([`crate::files::path`]): `workspace/…` in a URL, `/workspace/…` in a query.
struct FilePaths;

impl Modify for FilePaths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{RefOr, Schema};
        for (route, item) in openapi.paths.paths.iter_mut() {
            if !(route.contains("/files") || route.contains("/directories/")) {
                continue;
            }
            for operation in operations(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let RefOr::T(parameter) = parameter else {
                        continue;
                    };
                    if parameter.name != "path" {
                        continue;
                    }
                    let pattern = match parameter.parameter_in {
                        ParameterIn::Path => crate::files::path::url_pattern(),
                        ParameterIn::Query => crate::files::path::pattern(),
                        _ => continue,
                    };
                    if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema {
                        object.pattern = Some(pattern);
                    }
                }
            }
        }
    }
}

/// Query and header parameters are absent or a value: neither can say `null`, so the `null`
/// that an `Option` brings to a parameter's type is taken out.
struct QueryParameters;

impl Modify for QueryParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::schema::{SchemaType, Type};
        use utoipa::openapi::{RefOr, Schema};
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let RefOr::T(parameter) = parameter else {
                        continue;
                    };
                    if !matches!(
                        parameter.parameter_in,
                        ParameterIn::Query | ParameterIn::Header
                    ) {
                        continue;
                    }
                    match &mut parameter.schema {
                        Some(RefOr::T(Schema::Object(object))) => {
                            if let SchemaType::Array(types) = &object.schema_type {
                                let types: Vec<Type> = types
                                    .iter()
                                    .filter(|t| **t != Type::Null)
                                    .cloned()
                                    .collect();
                                object.schema_type = match types.as_slice() {
                                    [one] => SchemaType::Type(one.clone()),
                                    _ => SchemaType::Array(types),
                                };
                            }
                        }
                        // An `Option` of an enum: `oneOf` the enum and `null`.
                        Some(RefOr::T(Schema::OneOf(one_of))) => {
                            let is_null = |s: &RefOr<Schema>| {
                                matches!(s, RefOr::T(Schema::Object(o))
                                    if o.schema_type == SchemaType::Type(Type::Null))
                            };
                            one_of.items.retain(|s| !is_null(s));
                            if let [only] = one_of.items.as_slice() {
                                parameter.schema = Some(only.clone());
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// OpenAPI links from each operation that makes an object (its 2xx answers) to the operations
/// that take that object's id, `$response.body#/id`: clients and tools such as schemathesis
/// follow them from a create to its uses.
struct Links;

/// (path, operations taking `id`) for each `POST` whose 2xx answer is an object with an
/// `id`.
const LINKS: &[(&str, &[&str])] = &[
    ("/v1/exec", &["get_job", "job_logs"]),
    (
        "/v1/jobs",
        &["get_job", "cancel_job", "job_logs", "job_artifact"],
    ),
    (
        "/v1/batches",
        &["get_batch", "cancel_batch", "batch_results"],
    ),
    (
        "/v1/sandboxes",
        &[
            "get_sandbox",
            "delete_sandbox",
            "pause_sandbox",
            "resume_sandbox",
            "set_timeout",
            "exec_in_sandbox",
            "sandbox_logs",
        ],
    ),
];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::link::LinkBuilder;
        for (path, targets) in LINKS {
            let operation = openapi
                .paths
                .paths
                .get_mut(*path)
                .and_then(|item| item.post.as_mut())
                .unwrap_or_else(|| panic!("LINKS names POST {path}, which the API does not have"));
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if !status.starts_with('2') {
                    continue;
                }
                for target in *targets {
                    let link = LinkBuilder::new()
                        .operation_id(*target)
                        .parameter("id", "$response.body#/id")
                        .build();
                    response.links.insert((*target).to_owned(), RefOr::T(link));
                }
            }
        }
    }
}

/// The operations of `item`, whatever their method.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
        &mut item.head,
    ]
    .into_iter()
    .flatten()
}

/// The OpenAPI document as pretty-printed JSON (`sbx openapi`; clients are generated from it).
pub fn pretty_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// Mount `/openapi.json`, `/docs/` and a redirect from `/docs`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()))
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("location", "/docs/"))
                    .finish()
            }),
        );
}
