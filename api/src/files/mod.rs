//! A sandbox's files over HTTP: the operations of `…/files` and `…/directories` on a
//! sandbox's host folders, wherever those are. A code-interpreter's folders are in the API
//! process that holds its session; a container's are on the runner that runs it, which the API
//! reaches over the runners' internal endpoint ([`crate::runner_endpoint`]) and which answers
//! with these same operations.
//!
//! # Layout
//! - [`path`]: guest paths, checked before anything is opened.
//! - [`ops`]: the operations on host folders, beneath each tree.
//! - [`watch`]: changes below a folder as they happen (inotify), as Server-Sent Events.
//! - this module: an operation ([`Op`]) answered where the files are ([`Place`]).

pub mod ops;
pub mod path;
pub mod watch;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

pub use ops::{EntryType, FileInfo, FileList, Folders};
pub use path::GuestPath;

use crate::auth::Reply;

/// The route of the changes below a folder: `GET` (before [`FILE_ROUTE`], which would take it).
pub const WATCH_ROUTE: &str = "/files/watch";
/// The route of one file below a sandbox's URL: `GET`, `HEAD`, `PUT`, `DELETE`.
pub const FILE_ROUTE: &str = "/files/{path:.*}";
/// The route of making a folder below a sandbox's URL: `POST`.
pub const DIRECTORY_ROUTE: &str = "/directories/{path:.*}";

/// Where a sandbox's files are.
pub enum Place {
    /// In this process: its folders.
    Here(Folders),
    /// On another runner: its internal endpoint, reached with the deployment's token.
    Runner {
        /// The endpoint's base URL (`http://host:port`).
        url: String,
        /// The deployment's token ([`crate::runner_endpoint::token`]).
        token: String,
    },
}

/// One file operation.
#[derive(Debug, Clone)]
pub enum Op {
    /// Download (`GET`, and `HEAD`).
    Read(GuestPath),
    /// Upload (`PUT`).
    Write(GuestPath),
    /// Delete (`DELETE`); a folder with what it holds if `recursive`.
    Delete(GuestPath, bool),
    /// Make a folder and its parents.
    MakeDir(GuestPath),
    /// List a folder; everything below it if `recursive`.
    List(GuestPath, bool),
    /// Follow the changes below a folder (in it only unless `recursive`).
    Watch(GuestPath, bool),
}

/// Query of `GET …/files`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The folder: `/workspace` (the default), `/outputs` (containers) or one below them.
    pub path: Option<String>,
    /// List everything below it too (at most 32 folders deep and 10 000 entries).
    pub recursive: Option<bool>,
}

impl ListQuery {
    /// The listing it asks for; a bad path is a 422 naming `path`.
    pub fn op(&self) -> Result<Op, crate::ApiError> {
        let path = GuestPath::parse(self.path.as_deref().unwrap_or("/workspace"), "path")?;
        Ok(Op::List(path, self.recursive.unwrap_or(false)))
    }
}

/// Query of `DELETE …/files/{path}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Delete a folder with everything in it (a folder that is not empty is refused without).
    pub recursive: Option<bool>,
}

impl Op {
    /// The operation that `req`'s method asks of the file at `tail` (the URL's path after
    /// `…/files/`, e.g. `workspace/src/main.py`); `recursive` is a delete's query.
    pub fn on_file(
        req: &HttpRequest,
        tail: &str,
        recursive: bool,
    ) -> Result<Self, crate::ApiError> {
        let path = GuestPath::parse(&format!("/{tail}"), "path")?;
        Ok(match *req.method() {
            actix_web::http::Method::PUT => Self::Write(path),
            actix_web::http::Method::DELETE => Self::Delete(path, recursive),
            _ => Self::Read(path),
        })
    }
}

/// Answer `op` on the files at `place`: here, or by passing `req` and `body` to the runner.
pub async fn answer(req: &HttpRequest, body: web::Payload, place: Place, op: Op) -> Reply {
    let folders = match place {
        Place::Here(f) => f,
        Place::Runner { url, token } => {
            return crate::runner_endpoint::forward(req, body, &url, &token).await;
        }
    };
    match op {
        Op::Read(path) => {
            use actix_web::http::header::{self, ContentDisposition, DispositionParam};
            let file = ops::open_read(folders, path.clone()).await?;
            let name = path.rel.file_name().unwrap_or_default().to_string_lossy();
            let named = actix_files::NamedFile::from_file(file, name.as_ref())
                .map_err(|e| ops::io_error(e, &path))?
                .use_etag(true)
                .use_last_modified(true)
                // What a sandbox's code wrote is never rendered by a browser on the API's
                // origin (the dashboard's, whose cookie authenticates): downloaded, as bytes.
                .set_content_type(header::ContentType::octet_stream().0)
                .set_content_disposition(ContentDisposition {
                    disposition: header::DispositionType::Attachment,
                    parameters: vec![DispositionParam::Filename(name.into_owned())],
                });
            let mut res = named.into_response(req);
            let headers = res.headers_mut();
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                header::HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                header::HeaderValue::from_static("sandbox; default-src 'none'"),
            );
            Ok(res)
        }
        Op::Write(path) => {
            let (info, new) = ops::write(folders, path, body).await?;
            Ok(created_or_ok(new).json(info))
        }
        Op::Delete(path, recursive) => {
            ops::delete(folders, path, recursive).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        Op::MakeDir(path) => {
            let (info, new) = ops::make_dir(folders, path).await?;
            Ok(created_or_ok(new).json(info))
        }
        Op::List(path, recursive) => {
            Ok(HttpResponse::Ok().json(ops::list(folders, path, recursive).await?))
        }
        Op::Watch(path, recursive) => watch::watch(folders, path, recursive).await,
    }
}

fn created_or_ok(new: bool) -> actix_web::HttpResponseBuilder {
    if new {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
}
