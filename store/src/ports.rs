//! A container sandbox's declared ports (`sandboxes.ports`): the ports its owner says a server
//! listens on, set at create (`ports` of [`crate::sandboxes::NewSandbox`]) or one at a time
//! later ([`expose`]).

use sbx_core::ids::{ProjectId, SandboxId};

use crate::sandboxes::{COLUMNS, Sandbox, sandbox};
use crate::{Db, Result};

/// The most ports one sandbox declares.
pub const MAX_PORTS: usize = 16;

/// Declare `port` (1 to 65535) on container sandbox `id` of `project` unless it is declared
/// already: the sandbox afterwards, its ports ascending. `None` when nothing changed and it
/// was not declared: no such sandbox in `project`, not a container, ended, or holding
/// [`MAX_PORTS`] already (the caller tells which from the sandbox).
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, id = %id))]
pub async fn expose(
    db: &impl Db,
    project: ProjectId,
    id: SandboxId,
    port: u16,
) -> Result<Option<Sandbox>> {
    let max = MAX_PORTS as i32;
    let row = db
        .query_opt(
            &format!(
                "update sandboxes
                 set ports = array(select distinct p from unnest(array_append(ports, $3)) p order by p)
                 where sandbox_id = $1 and project_id = $2 and kind = 'container'
                   and state in ('pending', 'running', 'paused')
                   and ($3 = any(ports) or cardinality(ports) < $4)
                 returning {COLUMNS}"
            ),
            &[&id.0, &project.0, &i32::from(port), &max],
        )
        .await?;
    row.as_ref().map(sandbox).transpose()
}
