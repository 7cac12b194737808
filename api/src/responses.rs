//! OpenAPI response declarations that several operations share, named in their
//! `#[utoipa::path(responses(...))]` beside the operation's own tuples. Each is a
//! problem+json response (`Problem`) with one status and description.

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Ref, RefOr, Response};

/// One problem+json response: `status`, described by `description`.
pub(crate) fn problem(status: u16, description: &str) -> BTreeMap<String, RefOr<Response>> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    BTreeMap::from([(
        status.to_string(),
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", content)
                .build(),
        ),
    )])
}

macro_rules! problems {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problem($status, $description)
            }
        }
    )*};
}

problems! {
    /// 401: every `/v1` operation.
    Unauthorized = 401, "Missing or invalid API key";
    /// 400: operations that take a JSON body.
    NotJson = 400, "The body is not JSON";
    /// 400: list operations.
    BadQuery = 400, "Bad query";
    /// 422: a body that parses but asks for something invalid.
    Invalid = 422, "The request asks for something invalid";
    /// 404: operations on one sandbox.
    NoSuchSandbox = 404, "No such sandbox in this project";
    /// 404: operations on one job.
    NoSuchJob = 404, "No such job in this project";
    /// 404: operations on one batch.
    NoSuchBatch = 404, "No such batch in this project";
    /// 422: operations on a sandbox's files.
    InvalidPath = 422, "A path outside /workspace and /outputs, with `..`, NUL, or crossing a link out (`invalid_path`, field `path`)";
    /// 507: operations that write a sandbox's files.
    DiskFull = 507, "The sandbox's disk cap is full (`disk_full`); nothing was written";
    /// 503: operations a runner answers (a container's files): it could not be reached.
    RunnerUnreachable = 503, "The runner that holds the sandbox could not be reached (`unavailable`); retry";
    /// 503: operations that read the database; see Retry-After.
    Unavailable = 503, "The database is unavailable; see Retry-After";
}
