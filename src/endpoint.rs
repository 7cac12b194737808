//! A runner's internal endpoint (`SBX_RUNNER_LISTEN`): the container sandboxes it holds, as
//! [`sbx_api::runner_endpoint`] serves them to the API.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context as _;
use sbx_runner::container::host::ContainerHost;
use sbx_store::Pool;

use crate::Settings;
use crate::app::sealer;

/// The container sandboxes of a runner as its internal endpoint serves them.
struct HeldContainers(Arc<ContainerHost>);

impl sbx_api::runner_endpoint::HeldSandboxes for HeldContainers {
    fn folders(&self, id: sbx_core::ids::SandboxId) -> Option<sbx_api::files::Folders> {
        let (workspace, outputs) = self.0.running_folders(id)?;
        Some(sbx_api::files::Folders {
            workspace,
            outputs: Some(outputs),
            owner: Some(sbx_runner::container::spec::SANDBOX_UID),
        })
    }

    fn processes(
        &self,
        id: sbx_core::ids::SandboxId,
    ) -> Option<Box<dyn sbx_core::process::SandboxProcesses>> {
        let here = self.0.processes(id)?;
        Some(Box::new(here))
    }

    fn dial(
        &self,
        id: sbx_core::ids::SandboxId,
        port: u16,
    ) -> sbx_core::BoxFuture<'static, Option<std::io::Result<std::net::TcpStream>>> {
        let host = self.0.clone();
        Box::pin(async move { host.dial(id, port).await })
    }

    fn listening(
        &self,
        id: sbx_core::ids::SandboxId,
    ) -> sbx_core::BoxFuture<'static, Option<std::io::Result<Vec<u16>>>> {
        let host = self.0.clone();
        Box::pin(async move { host.listening(id).await })
    }

    fn fork(
        &self,
        id: sbx_core::ids::SandboxId,
        count: usize,
        key: Option<sbx_core::ids::ApiKeyId>,
    ) -> sbx_core::BoxFuture<'static, Option<Result<Vec<sbx_store::sandboxes::Sandbox>, String>>>
    {
        let host = self.0.clone();
        Box::pin(async move {
            let made = host.fork(id, count, key).await?;
            Some(made.map_err(|e| e.to_string()))
        })
    }
}

/// Serve runner `runner`'s internal endpoint for the sandboxes of `host` (on
/// `SBX_RUNNER_LISTEN`) and record its URL: the server, to run.
pub(crate) async fn runner_endpoint(
    settings: &Settings,
    pool: &Pool,
    runner: sbx_core::ids::RunnerId,
    host: Arc<ContainerHost>,
) -> anyhow::Result<actix_web::dev::Server> {
    let listener = TcpListener::bind(settings.runner_listen)
        .with_context(|| format!("binding SBX_RUNNER_LISTEN {}", settings.runner_listen))?;
    let url = match &settings.runner_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => format!("http://{}", listener.local_addr()?),
    };
    let token = sbx_api::runner_endpoint::token(&sealer(settings)?, runner.0);
    let server = sbx_api::runner_endpoint::serve(listener, Arc::new(HeldContainers(host)), token)?;
    sbx_store::runners::set_internal_url(pool, runner, &url).await?;
    tracing::info!(%url, "the runner's internal endpoint is up");
    Ok(server)
}
