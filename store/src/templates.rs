//! `templates`: a project's own images, one row per version, with the build context that makes
//! it (so that any runner can build it again on first use). Queued by the API, claimed and
//! built by a runner with Docker ([`claim`], [`finish`]); its build log is
//! [`crate::logs::Owner::Template`]'s.

use chrono::{DateTime, Utc};
use sbx_core::ids::{ProjectId, RunnerId, TemplateId};
use sbx_core::template::TemplateState;
use std::collections::HashMap;

use tokio_postgres::Row;
use tokio_postgres::types::Json;

use crate::{Db, Result, StoreError, named};

/// A template version, without its build context.
#[derive(Debug, Clone)]
pub struct Template {
    /// The version's id.
    pub template_id: TemplateId,
    /// Its project.
    pub project_id: ProjectId,
    /// Its name, per project.
    pub name: String,
    /// 1, 2, … per name.
    pub version: i32,
    /// Where its build is.
    pub state: TemplateState,
    /// The Dockerfile's path in the context.
    pub dockerfile: String,
    /// Bytes of its build context (a tar).
    pub context_bytes: i64,
    /// Whether its `RUN` steps may reach the network.
    pub network: bool,
    /// The template versions it starts from, by the image its Dockerfile writes (pinned when
    /// it was queued, so that every host builds the same).
    pub bases: HashMap<String, TemplateId>,
    /// Longest its build may take, in seconds.
    pub timeout_s: i32,
    /// The runner building it or that built it.
    pub runner_id: Option<uuid::Uuid>,
    /// Docker's image id (`sha256:…`) once built.
    pub image_id: Option<String>,
    /// The image's size in bytes once built.
    pub size_bytes: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When its build started.
    pub started_at: Option<DateTime<Utc>>,
    /// When its build ended.
    pub ended_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "template_id, project_id, name, version, state, dockerfile,
    octet_length(context)::bigint as context_bytes, network, bases, timeout_s, runner_id, image_id,
    size_bytes, error, created_at, started_at, ended_at";

fn from_row(r: &Row) -> Result<Template> {
    Ok(Template {
        template_id: TemplateId(r.try_get("template_id")?),
        project_id: ProjectId(r.try_get("project_id")?),
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        state: named(r, "state")?,
        dockerfile: r.try_get("dockerfile")?,
        context_bytes: r.try_get("context_bytes")?,
        network: r.try_get("network")?,
        bases: r
            .try_get::<_, Json<HashMap<String, TemplateId>>>("bases")?
            .0,
        timeout_s: r.try_get("timeout_s")?,
        runner_id: r.try_get("runner_id")?,
        image_id: r.try_get("image_id")?,
        size_bytes: r.try_get("size_bytes")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
    })
}

/// A build to queue.
#[derive(Debug)]
pub struct NewTemplate<'a> {
    /// Its project.
    pub project_id: ProjectId,
    /// Its name (checked by `sbx_limits::templates::check_name`).
    pub name: &'a str,
    /// The Dockerfile's path in `context`.
    pub dockerfile: &'a str,
    /// The build context, a tar.
    pub context: &'a [u8],
    /// Whether `RUN` steps may reach the network.
    pub network: bool,
    /// The template versions it starts from, by the image its Dockerfile writes.
    pub bases: &'a HashMap<String, TemplateId>,
    /// Longest the build may take, in seconds.
    pub timeout_s: i32,
}

/// Queue `new` as the next version of its name (1 for a new name). Two requests for one name
/// at once get consecutive versions.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(db: &impl Db, new: &NewTemplate<'_>) -> Result<Template> {
    let sql = format!(
        "insert into templates (template_id, project_id, name, version, dockerfile, context,
             network, timeout_s, bases)
         select $1, $2, $3, coalesce(max(version), 0) + 1, $4, $5, $6, $7, $8
           from templates where project_id = $2 and name = $3
         returning {COLUMNS}"
    );
    let mut tries = 0;
    loop {
        let id = TemplateId::new();
        let params: &crate::Params<'_> = &[
            &id.0,
            &new.project_id.0,
            &new.name,
            &new.dockerfile,
            &new.context,
            &new.network,
            &new.timeout_s,
            &Json(new.bases),
        ];
        match db.query_one(&sql, params).await {
            Ok(row) => return from_row(&row),
            Err(StoreError::Duplicate { .. }) if tries < 5 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Version `version` of `project`'s template `name`, or its newest version when `None`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(
    db: &impl Db,
    project: ProjectId,
    name: &str,
    version: Option<i32>,
) -> Result<Option<Template>> {
    let row = db
        .query_opt(
            &format!(
                "select {COLUMNS} from templates
                  where project_id = $1 and name = $2 and ($3::int is null or version = $3)
                  order by version desc limit 1"
            ),
            &[&project.0, &name, &version],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The newest ready version of `project`'s template `name`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn newest_ready(
    db: &impl Db,
    project: ProjectId,
    name: &str,
) -> Result<Option<Template>> {
    let row = db
        .query_opt(
            &format!(
                "select {COLUMNS} from templates
                  where project_id = $1 and name = $2 and state = 'ready'
                  order by version desc limit 1"
            ),
            &[&project.0, &name],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// `project`'s templates: the newest version of each name, by name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(db: &impl Db, project: ProjectId) -> Result<Vec<Template>> {
    db.query(
        &format!(
            "select distinct on (name) {COLUMNS} from templates
              where project_id = $1 order by name, version desc"
        ),
        &[&project.0],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Every version of `project`'s template `name`, newest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn versions(db: &impl Db, project: ProjectId, name: &str) -> Result<Vec<Template>> {
    db.query(
        &format!(
            "select {COLUMNS} from templates
              where project_id = $1 and name = $2 order by version desc"
        ),
        &[&project.0, &name],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Delete every version of `project`'s template `name` (and their logs); how many there were.
/// Runners remove the images of deleted versions ([`existing`]).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete(db: &impl Db, project: ProjectId, name: &str) -> Result<u64> {
    db.execute(
        "delete from templates where project_id = $1 and name = $2",
        &[&project.0, &name],
    )
    .await
}

/// How many template versions `project` keeps.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn count(db: &impl Db, project: ProjectId) -> Result<i64> {
    Ok(db
        .query_one(
            "select count(*) from templates where project_id = $1",
            &[&project.0],
        )
        .await?
        .get(0))
}

/// The names of `project`'s other templates with a version that starts from a version of
/// `name` (pinned when queued).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn dependents(db: &impl Db, project: ProjectId, name: &str) -> Result<Vec<String>> {
    Ok(db
        .query(
            "select distinct d.name from templates d, jsonb_each_text(d.bases) b
              where d.project_id = $1 and d.name <> $2
                and b.value::uuid in (
                    select template_id from templates where project_id = $1 and name = $2)
              order by d.name",
            &[&project.0, &name],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Template version `id`, whatever its project (runners).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn by_id(db: &impl Db, id: TemplateId) -> Result<Option<Template>> {
    let row = db
        .query_opt(
            &format!("select {COLUMNS} from templates where template_id = $1"),
            &[&id.0],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Template version `id`'s build context (a tar).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn context(db: &impl Db, id: TemplateId) -> Result<Option<Vec<u8>>> {
    let row = db
        .query_opt(
            "select context from templates where template_id = $1",
            &[&id.0],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Claim the oldest build waiting for a runner for `runner`: a queued one, or one whose
/// builder stopped heartbeating for `stale_s` seconds (it starts again from the top, its log
/// emptied).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn claim(db: &impl Db, runner: RunnerId, stale_s: f64) -> Result<Option<Template>> {
    let row = db
        .query_opt(
            &format!(
                "with claimed as (
                     update templates set state = 'building', runner_id = $1, started_at = now()
                      where template_id = (
                          select t.template_id from templates t
                            left join runners r on r.runner_id = t.runner_id
                           where t.state = 'queued'
                              or (t.state = 'building' and (r.runner_id is null
                                  or r.stopped_at is not null
                                  or r.heartbeat_at < now() - make_interval(secs => $2)))
                           order by t.created_at
                           for update of t skip locked
                           limit 1)
                      returning {COLUMNS}),
                 cleared as (
                     delete from template_logs
                      where template_id in (select template_id from claimed))
                 select * from claimed"
            ),
            &[&runner.0, &stale_s],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// How a build ended.
#[derive(Debug)]
pub enum Built {
    /// An image: Docker's id and its size in bytes.
    Image {
        /// `sha256:…`.
        image_id: String,
        /// Bytes.
        size_bytes: i64,
    },
    /// No image, for this reason.
    Failed(String),
}

/// Record how `runner`'s build of `id` ended; false when the build is no longer its own (the
/// template was deleted, or taken over).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn finish(db: &impl Db, id: TemplateId, runner: RunnerId, built: &Built) -> Result<bool> {
    let (state, image_id, size, error) = match built {
        Built::Image {
            image_id,
            size_bytes,
        } => ("ready", Some(image_id.as_str()), Some(*size_bytes), None),
        Built::Failed(e) => ("failed", None, None, Some(e.as_str())),
    };
    let n = db
        .execute(
            "update templates set state = $3, image_id = $4, size_bytes = $5, error = $6,
                    ended_at = now()
              where template_id = $1 and runner_id = $2 and state = 'building'",
            &[&id.0, &runner.0, &state, &image_id, &size, &error],
        )
        .await?;
    Ok(n == 1)
}

/// Which of template versions `ids` still exist (the images of the others may go).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn existing(db: &impl Db, ids: &[uuid::Uuid]) -> Result<Vec<uuid::Uuid>> {
    Ok(db
        .query(
            "select template_id from templates where template_id = any($1)",
            &[&ids],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
