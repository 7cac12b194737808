//! `projects`: the unit of isolation and limits.

use sbx_limits::ProjectLimits;

use crate::{Db, GenericClient, Result};
use sbx_core::ids::{ProjectId, UserId};

/// A project row.
#[derive(Debug, Clone)]
pub struct Project {
    /// The id.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// Its owner, if any.
    pub owner_user_id: Option<UserId>,
}

/// Create a project with the default limits.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create(db: &impl Db, name: &str, owner: Option<UserId>) -> Result<Project> {
    let client = db.client().await?;
    let id = ProjectId::new();
    let defaults = ProjectLimits::default();
    client
        .execute(
            "insert into projects (project_id, name, owner_user_id, max_timeout_ms, max_memory_mb,
                                   max_output_limit_bytes, max_concurrent_execs, max_disk_mb)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &id.0,
                &name,
                &owner.map(|o| o.0),
                &(defaults.max_timeout_ms as i64),
                &(defaults.max_memory_mb as i64),
                &(defaults.max_output_limit_bytes as i64),
                &(defaults.max_concurrent_execs as i32),
                &(defaults.max_disk_mb as i64),
            ],
        )
        .await?;
    drop(client);
    if let Some(owner) = owner {
        crate::members::add(db, owner, id, "owner").await?;
    }
    Ok(Project {
        project_id: id,
        name: name.to_owned(),
        owner_user_id: owner,
    })
}

/// Make `user` the owner of `project` if it has none (its KYC status then gates the
/// project's GPU work).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn adopt(db: &impl Db, project: ProjectId, user: UserId) -> Result<()> {
    db.execute(
        "update projects set owner_user_id = $2 where project_id = $1 and owner_user_id is null",
        &[&project.0, &user.0],
    )
    .await?;
    Ok(())
}

/// The project named `name`, the oldest if several share it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_by_name(db: &impl Db, name: &str) -> Result<Option<Project>> {
    let row = db
        .query_opt(
            "select project_id, name, owner_user_id from projects where name = $1 order by project_id limit 1",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| Project {
        project_id: ProjectId(r.get("project_id")),
        name: r.get("name"),
        owner_user_id: r.get::<_, Option<uuid::Uuid>>("owner_user_id").map(UserId),
    }))
}

/// Set a project's limits.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn set_limits(db: &impl Db, project: ProjectId, limits: &ProjectLimits) -> Result<()> {
    db.execute(
        "update projects set max_timeout_ms = $2, max_memory_mb = $3, max_output_limit_bytes = $4,
                                 max_concurrent_execs = $5, max_disk_mb = $6
             where project_id = $1",
        &[
            &project.0,
            &(limits.max_timeout_ms as i64),
            &(limits.max_memory_mb as i64),
            &(limits.max_output_limit_bytes as i64),
            &(limits.max_concurrent_execs as i32),
            &(limits.max_disk_mb as i64),
        ],
    )
    .await?;
    Ok(())
}
