//! The template tools: `build_template` (a Dockerfile's text and a few files, built and waited
//! for) and `list_templates`, as `POST /v1/templates` and `GET /v1/templates` answer.

use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use serde_json::json;

use super::args::{Args, BuildTemplate};
use super::tools::{Tools, answer, caller, refused};
use crate::error::ApiError;
use crate::routes::templates::{Build, BuildQuery, TemplateView};

/// Longest `build_template` waits for the build before it answers with the state so far.
const WAIT: Duration = Duration::from_secs(300);
/// Most bytes of the build's log `build_template` returns (its last ones).
const LOG_TAIL: usize = 4096;

#[tool_router(router = template_tools, vis = "pub(super)")]
impl Tools {
    /// `POST /v1/templates`, then its log until the build ends.
    #[tool(
        description = "Build a template: a container image of this project from a Dockerfile (its text) and optional files it COPYs, for create_sandbox's image. It starts FROM a catalog image (python, …) or one of the project's templates; nothing is pulled from registries; RUN steps have no network unless network is true. Waits for the build (up to 5 minutes) and returns JSON with image (name:version, what create_sandbox takes), state (ready or failed, or still building), error and log (the build's last output)."
    )]
    async fn build_template(
        &self,
        Parameters(Args(args)): Parameters<Args<BuildTemplate>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            let build = Build::checked(BuildQuery {
                name: args.name,
                dockerfile: None,
                network: args.network,
                timeout_s: args.timeout_s,
            })?;
            let mut files = vec![(build.dockerfile().to_owned(), args.dockerfile.into_bytes())];
            files.extend(
                args.files
                    .into_iter()
                    .map(|f| (f.path, f.content.into_bytes())),
            );
            let entries: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(p, d)| (p.as_str(), d.as_slice()))
                .collect();
            let context = sbx_limits::templates::context_of(&entries).map_err(|e| {
                ApiError::invalid(crate::error::Code::InvalidRequest, "files", e.to_string())
            })?;
            let pool = &self.state.pool;
            let mut t = build.queue(pool, caller.0.project_id, &context).await?;
            let deadline = tokio::time::Instant::now() + WAIT;
            while !t.state.is_ended() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(250)).await;
                match sbx_store::templates::by_id(pool, t.template_id).await? {
                    Some(now) => t = now,
                    None => return Err(ApiError::NotFound("the template was deleted".into())),
                }
            }
            let chunks = sbx_store::logs::read(pool, t.template_id, 0, 100_000).await?;
            let log: String = chunks.into_iter().map(|c| c.data).collect();
            let mut start = log.len().saturating_sub(LOG_TAIL);
            while !log.is_char_boundary(start) {
                start += 1;
            }
            let mut value = serde_json::to_value(TemplateView::from(t)).expect("a view serializes");
            value["log"] = json!(&log[start..]);
            Ok::<_, ApiError>(value)
        };
        run.await.map_or_else(refused, |v| answer(v, Vec::new()))
    }

    /// `GET /v1/templates`.
    #[tool(
        description = "List this project's templates (the newest version of each) as a JSON array: image (name:version, for create_sandbox), state, error, size_bytes, created_at."
    )]
    async fn list_templates(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let list = async {
            let caller = caller(&ctx)?;
            Ok::<_, ApiError>(
                sbx_store::templates::list(&self.state.pool, caller.0.project_id).await?,
            )
        };
        match list.await {
            Ok(rows) => answer(
                rows.into_iter()
                    .map(|t| {
                        json!({"image": format!("{}:{}", t.name, t.version), "name": t.name,
                               "state": t.state, "error": t.error, "size_bytes": t.size_bytes,
                               "created_at": t.created_at})
                    })
                    .collect(),
                Vec::new(),
            ),
            Err(e) => refused(e),
        }
    }
}
