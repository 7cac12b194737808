//! Routes, one module per resource.

pub mod batches;
pub mod events;
pub mod exec;
pub mod gpus;
pub mod health;
pub mod images;
pub mod jobs;
pub mod keys;
pub mod paging;
pub mod sandboxes;
pub mod templates;
pub mod usage;

use actix_web::{middleware, web};

use crate::error;

/// Mount every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").route(web::get().to(health::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(health::readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(health::metrics)))
        .configure(crate::openapi::configure)
        .service(
            web::scope("/auth")
                .service(
                    resource("/login", "POST")
                        .app_data(web::PayloadConfig::new(
                            crate::accounts::MAX_LOGIN_BODY_BYTES,
                        ))
                        .route(web::post().to(crate::accounts::login)),
                )
                .service(resource("/session", "GET").route(web::get().to(crate::accounts::session)))
                .service(resource("/logout", "POST").route(web::post().to(crate::accounts::logout)))
                .service(
                    resource("/logout-all", "POST")
                        .route(web::post().to(crate::accounts::logout_all)),
                )
                .service(
                    resource("/kyc", "POST")
                        .app_data(web::PayloadConfig::new(
                            crate::kyc::MAX_SUBMISSION_BODY_BYTES,
                        ))
                        .route(web::post().to(crate::kyc::submit_kyc)),
                ),
        )
        .service(
            web::scope("/admin")
                .service(resource("/kyc", "GET").route(web::get().to(crate::kyc::list_submissions)))
                .service(
                    resource("/kyc/{id}/document", "GET")
                        .route(web::get().to(crate::kyc::submission_document)),
                )
                .service(
                    resource("/kyc/{id}/{decision}", "POST")
                        .route(web::post().to(crate::kyc::decide)),
                ),
        )
        // Signed by the provider, not sent with a key: outside the `/v1` guard.
        .service(
            resource("/v1/kyc/webhook", "POST")
                .app_data(web::PayloadConfig::new(crate::kyc::MAX_WEBHOOK_BODY_BYTES))
                .route(web::post().to(crate::kyc::provider_webhook)),
        )
        .service(
            web::scope("/v1")
                .wrap(middleware::from_fn(crate::auth::guard))
                .service(resource("/exec", "POST").route(web::post().to(exec::exec)))
                .service(
                    resource("/jobs", "GET, POST")
                        .route(web::get().to(jobs::list_jobs))
                        .route(web::post().to(jobs::create_job)),
                )
                .service(resource("/jobs/{id}", "GET").route(web::get().to(jobs::get_job)))
                .service(
                    resource("/jobs/{id}/cancel", "POST").route(web::post().to(jobs::cancel_job)),
                )
                .service(resource("/jobs/{id}/logs", "GET").route(web::get().to(jobs::job_logs)))
                .service(
                    resource("/jobs/{id}/artifacts/{path:.*}", "GET")
                        .route(web::get().to(jobs::job_artifact)),
                )
                .service(
                    resource("/batches", "GET, POST")
                        .route(web::get().to(batches::list_batches))
                        .route(web::post().to(batches::create_batch)),
                )
                .service(resource("/batches/{id}", "GET").route(web::get().to(batches::get_batch)))
                .service(
                    resource("/batches/{id}/cancel", "POST")
                        .route(web::post().to(batches::cancel_batch)),
                )
                .service(
                    resource("/batches/{id}/results", "GET")
                        .route(web::get().to(batches::batch_results)),
                )
                .service(resource("/images", "GET").route(web::get().to(images::list_images)))
                .service(
                    resource("/templates", "GET, POST")
                        .route(web::get().to(templates::list_templates))
                        .route(web::post().to(templates::create_template)),
                )
                .service(
                    resource("/templates/{name}", "GET, DELETE")
                        .route(web::get().to(templates::get_template))
                        .route(web::delete().to(templates::delete_template)),
                )
                .service(
                    resource("/templates/{name}/versions", "GET")
                        .route(web::get().to(templates::template_versions)),
                )
                .service(
                    resource("/templates/{name}/logs", "GET")
                        .route(web::get().to(templates::template_logs)),
                )
                .service(resource("/gpus", "GET").route(web::get().to(gpus::list_gpus)))
                .service(resource("/usage", "GET").route(web::get().to(usage::usage)))
                .service(resource("/prices", "GET").route(web::get().to(usage::prices)))
                .service(resource("/events", "GET").route(web::get().to(events::events)))
                .service(
                    resource("/webhooks", "GET, POST")
                        .route(web::get().to(events::list_webhooks))
                        .route(web::post().to(events::create_webhook)),
                )
                .service(
                    resource("/webhooks/{id}", "DELETE")
                        .route(web::delete().to(events::delete_webhook)),
                )
                .service(
                    resource("/budget", "GET, PUT")
                        .route(web::get().to(crate::budget::get_budget))
                        .route(web::put().to(crate::budget::put_budget)),
                )
                .service(
                    resource("/keys", "GET, POST")
                        .route(web::get().to(keys::list_keys))
                        .route(web::post().to(keys::create_key)),
                )
                .service(resource("/keys/{id}", "DELETE").route(web::delete().to(keys::revoke_key)))
                .service(
                    resource("/webhook-secret", "GET").route(web::get().to(keys::webhook_secret)),
                )
                .service(
                    resource("/sandboxes/{id}/logs", "GET")
                        .route(web::get().to(sandboxes::sandbox_logs)),
                )
                .service(
                    resource("/sandboxes", "GET, POST")
                        .route(web::get().to(sandboxes::list_sandboxes))
                        .route(web::post().to(sandboxes::create::create_sandbox)),
                )
                .service(
                    resource("/sandboxes/{id}", "GET, DELETE")
                        .route(web::get().to(sandboxes::get_sandbox))
                        .route(web::delete().to(sandboxes::delete_sandbox)),
                )
                .service(
                    resource("/sandboxes/{id}/fork", "POST")
                        .route(web::post().to(sandboxes::fork::fork_sandbox)),
                )
                .service(
                    resource("/sandboxes/{id}/ports", "GET, POST")
                        .route(web::get().to(sandboxes::ports::list_ports))
                        .route(web::post().to(sandboxes::ports::expose_port)),
                )
                .service(
                    resource("/sandboxes/{id}/previews", "POST")
                        .route(web::post().to(sandboxes::previews::create_preview)),
                )
                .service(
                    resource("/sandboxes/{id}/metrics", "GET")
                        .route(web::get().to(sandboxes::metrics::sandbox_metrics)),
                )
                .service(
                    resource("/sandboxes/{id}/exec", "POST")
                        .route(web::post().to(sandboxes::exec::exec_in_sandbox)),
                )
                .service(
                    resource("/sandboxes/{id}/pause", "POST")
                        .route(web::post().to(sandboxes::pause_sandbox)),
                )
                .service(
                    resource("/sandboxes/{id}/resume", "POST")
                        .route(web::post().to(sandboxes::resume_sandbox)),
                )
                .service(
                    resource("/sandboxes/{id}/timeout", "POST")
                        .route(web::post().to(sandboxes::set_timeout)),
                )
                .service(
                    resource("/sandboxes/{id}/files", "GET")
                        .route(web::get().to(sandboxes::files::list_files)),
                )
                .service(
                    resource(
                        &format!("/sandboxes/{{id}}{}", crate::files::WATCH_ROUTE),
                        "GET",
                    )
                    .route(web::get().to(sandboxes::files::watch_files)),
                )
                .service(
                    resource(
                        &format!("/sandboxes/{{id}}{}", crate::files::FILE_ROUTE),
                        "GET, HEAD, PUT, DELETE",
                    )
                    .route(web::get().to(sandboxes::files::read_file))
                    .route(web::head().to(sandboxes::files::read_file))
                    .route(web::put().to(sandboxes::files::write_file))
                    .route(web::delete().to(sandboxes::files::delete_file)),
                )
                .service(
                    resource(
                        &format!("/sandboxes/{{id}}{}", crate::files::DIRECTORY_ROUTE),
                        "POST",
                    )
                    .route(web::post().to(sandboxes::files::make_directory)),
                )
                .service(
                    resource("/sandboxes/{id}/processes", "GET, POST")
                        .route(web::get().to(sandboxes::processes::list_processes))
                        .route(web::post().to(sandboxes::processes::start_process)),
                )
                .service(
                    resource("/sandboxes/{id}/processes/{pid}", "GET")
                        .route(web::get().to(sandboxes::processes::get_process)),
                )
                .service(
                    resource("/sandboxes/{id}/processes/{pid}/logs", "GET")
                        .route(web::get().to(sandboxes::processes::process_logs)),
                )
                .service(
                    resource("/sandboxes/{id}/processes/{pid}/stdin", "POST")
                        .route(web::post().to(sandboxes::processes::write_stdin)),
                )
                .service(
                    resource("/sandboxes/{id}/processes/{pid}/signal", "POST")
                        .route(web::post().to(sandboxes::processes::signal_process)),
                )
                .service(
                    resource(
                        "/sandboxes/{id}/ports/{port}/{tail:.*}",
                        sandboxes::ports::METHODS,
                    )
                    .route(web::get().to(sandboxes::ports::call_port_get))
                    .route(web::post().to(sandboxes::ports::call_port_post))
                    .route(web::put().to(sandboxes::ports::call_port_put))
                    .route(web::patch().to(sandboxes::ports::call_port_patch))
                    .route(web::delete().to(sandboxes::ports::call_port_delete))
                    .route(web::head().to(sandboxes::ports::call_port_head)),
                )
                .service(
                    resource("/sandboxes/{id}/pty", "GET")
                        .route(web::get().to(sandboxes::terminal::open_terminal)),
                )
                .default_service(web::to(error::not_found)),
        );
}

/// A resource that answers 405 with `Allow: allow` for methods it does not take; `allow`
/// lists the methods of its routes (`"GET, POST"`).
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(
        move || async move { error::method_not_allowed(allow) },
    ))
}
