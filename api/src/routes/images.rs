//! `GET /v1/images`: the image catalog.

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use sbx_limits::catalog::{self, CatalogImage};

/// The catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageList {
    /// Every curated image. Any other image reference may be used too (a custom image), with
    /// `registry` credentials when its registry needs them. Each: `name`, `category`,
    /// `description`, `image`, `local_image`, `default_command`, `default_resources`, `gpu`.
    #[schema(value_type = Vec<Object>)]
    pub data: &'static [CatalogImage],
}

/// The curated images sandboxes and container jobs can run.
#[utoipa::path(get, path = "/v1/images", tag = "sandboxes", security(("api_key" = [])),
    responses(
        (status = 200, description = "The catalog", body = ImageList),
        crate::responses::Unauthorized,
    ))]
pub async fn list_images(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(ImageList {
        data: catalog::images(),
    })
}
