//! The web dashboard (`dashboard/`, a React app) served from its built folder at `/`: files
//! by path, and `index.html` for any other `GET` outside the API's prefixes, so that the app's
//! own routes (`/sandboxes/…`) load it. The API's paths keep their problem+json 404.

use std::path::PathBuf;

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::{ResponseError as _, web};

use crate::error::ApiError;

/// Paths that belong to the API, never to the app.
const API_PREFIXES: &[&str] = &["/v1", "/auth", "/admin", "/mcp", "/docs", "/openapi.json"];

/// Mount the built dashboard in `dir` at `/`, if there is one.
pub fn configure(dir: Option<PathBuf>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let Some(dir) = dir else { return };
        let index = dir.join("index.html");
        cfg.service(
            Files::new("/", &dir)
                .index_file("index.html")
                .default_handler(fn_service(move |req: ServiceRequest| {
                    let index = index.clone();
                    async move { Ok(fallback(req, &index).await) }
                })),
        );
    }
}

/// `index.html` for an app route; the API's 404 for anything else.
async fn fallback(req: ServiceRequest, index: &std::path::Path) -> ServiceResponse {
    let (req, _) = req.into_parts();
    let path = req.path();
    let api = API_PREFIXES
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if api || req.method() != actix_web::http::Method::GET {
        let res =
            ApiError::NotFound(format!("no route for {} {path}", req.method())).error_response();
        return ServiceResponse::new(req, res);
    }
    match NamedFile::open_async(index).await {
        Ok(file) => {
            let res = file.into_response(&req);
            ServiceResponse::new(req, res)
        }
        Err(e) => {
            let res =
                ApiError::NotFound(format!("the dashboard is not built: {e}")).error_response();
            ServiceResponse::new(req, res)
        }
    }
}
