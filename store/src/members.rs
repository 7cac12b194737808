//! `memberships`: which people belong to which projects, as `owner` or `member`. API keys
//! belong to projects; people reach a project's work through a membership.

use sbx_core::ids::{ProjectId, UserId};

use crate::{Db, Result, StoreError};

/// The roles a member may have.
pub const ROLES: &[&str] = &["owner", "member"];

/// A project a person belongs to.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// `owner` or `member`.
    pub role: String,
}

/// Make user `user` a member of `project` with `role` (one of [`ROLES`]); a member already
/// takes the new role.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add(db: &impl Db, user: UserId, project: ProjectId, role: &str) -> Result<()> {
    if !ROLES.contains(&role) {
        return Err(StoreError::Invalid(format!(
            "role must be one of {ROLES:?}; got {role:?}"
        )));
    }
    db.execute(
        "insert into memberships (user_id, project_id, role) values ($1, $2, $3)
         on conflict (user_id, project_id) do update set role = excluded.role",
        &[&user.0, &project.0, &role],
    )
    .await?;
    Ok(())
}

/// The projects user `user` belongs to, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn projects(db: &impl Db, user: UserId) -> Result<Vec<Membership>> {
    let rows = db
        .query(
            "select m.project_id, p.name, m.role from memberships m join projects p using (project_id)
             where m.user_id = $1 order by p.created_at, p.project_id",
            &[&user.0],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Membership {
            project_id: ProjectId(r.get("project_id")),
            name: r.get("name"),
            role: r.get("role"),
        })
        .collect())
}
