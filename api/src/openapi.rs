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
        routes::batches::create_batch,
        routes::batches::get_batch,
        routes::batches::cancel_batch,
        routes::batches::batch_results,
        routes::images::list_images,
        routes::gpus::list_gpus,
        routes::usage::usage,
        routes::sandboxes::sandbox_logs,
        routes::sandboxes::create::create_sandbox,
        routes::sandboxes::list_sandboxes,
        routes::sandboxes::get_sandbox,
        routes::sandboxes::delete_sandbox,
        routes::sandboxes::pause_sandbox,
        routes::sandboxes::resume_sandbox,
        routes::sandboxes::set_timeout,
        routes::sandboxes::exec::exec_in_sandbox,
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
    ),
    components(schemas(crate::error::Problem, sbx_core::exec::CommandOutcome)),
    modifiers(&BearerAuth),
    tags(
        (name = "exec", description = "Run code now"),
        (name = "jobs", description = "Queued and recorded execs"),
        (name = "batches", description = "Batch evals"),
        (name = "sandboxes", description = "Sandboxes: persistent interpreters with a lifecycle"),
        (name = "usage", description = "Metered usage and cost"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
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
    }
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
