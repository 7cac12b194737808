//! `GET /v1/images`: the image catalog.

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Ctx, Reply};
use sbx_limits::catalog::{self, CatalogImage};

/// Runners heard from within this many seconds count.
const LIVE_S: f64 = 30.0;

/// The catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageList {
    /// Every curated image. Any other image reference may be used too (a custom image), with
    /// `registry` credentials when its registry needs them.
    #[schema(value_type = Vec<CatalogImage>)]
    pub data: &'static [CatalogImage],
    /// The OCI runtimes the live runners run containers under, each once: `runsc` (gVisor, a
    /// user-space kernel between the container and the host's) or `runc`. Empty when no
    /// runner with Docker is live.
    #[schema(example = json!(["runsc"]))]
    pub container_runtimes: Vec<String>,
}

/// The curated images sandboxes and container jobs can run, and the runtimes they run under.
#[utoipa::path(get, path = "/v1/images", tag = "sandboxes", security(("api_key" = [])),
    responses(
        (status = 200, description = "The catalog", body = ImageList),
        crate::responses::Unauthorized,
        crate::responses::Unavailable,
    ))]
pub async fn list_images(Ctx { state, .. }: Ctx) -> Reply {
    let container_runtimes = sbx_store::runners::container_runtimes(&state.pool, LIVE_S).await?;
    Ok(HttpResponse::Ok().json(ImageList {
        data: catalog::images(),
        container_runtimes,
    }))
}
