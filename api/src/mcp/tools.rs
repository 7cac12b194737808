//! The MCP tools. Each takes a JSON object described by its input schema (derived from its
//! argument struct in [`super::args`]: doc comments are what a model reads) and answers with
//! one text block holding a JSON object, plus an image block per PNG figure or file. The JSON
//! mirrors the HTTP API's answer for the same call (`POST /v1/exec`, `GET /v1/sandboxes/{id}`,
//! …) minus file contents, so what a tool returns is documented by the OpenAPI document too.
//!
//! A program that fails (an exception, a non-zero exit, a limit) is a successful tool call
//! whose `status` says so: the model reads its `stderr`. `isError: true` is kept for requests
//! sbx refused (bad arguments, no such sandbox, a limit of the project, the sandbox's state),
//! and its text is the problem's detail with its code, as the HTTP API would answer it.

use actix_web::web;
use base64::Engine as _;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use rmcp_actix_web::transport::on_request_extensions;
use sbx_core::exec::OutputFile;
use sbx_core::ids::SandboxId;
use sbx_core::sandbox::SandboxState;
use sbx_sandboxes::{Call, CallOutcome};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::exec::{ExecRequest, FileIn};

use super::args::{
    Args, CreateSandboxArgs, Encoding, ForkSandbox, ListFiles, ListSandboxes, PathArg, PreviewUrl,
    RunCell, RunCommand, RunPython, SandboxArg, StateArg, WriteFile, absolute,
};
use crate::routes::sandboxes::SandboxView;
use crate::routes::sandboxes::create::CreateSandbox;
use crate::routes::sandboxes::exec::SandboxExecRequest;

/// The MCP service: one per session, all sharing the application's state.
#[derive(Clone)]
pub struct Tools {
    pub(super) state: web::Data<AppState>,
    tool_router: ToolRouter<Self>,
}

/// The caller the `/mcp` guard authenticated for this message.
pub(super) fn caller(ctx: &RequestContext<RoleServer>) -> Result<Caller, ApiError> {
    on_request_extensions(&ctx.extensions)
        .and_then(|e| e.get::<Caller>())
        .cloned()
        .ok_or(ApiError::MissingKey)
}

/// A refused request as a tool error: the problem's detail, code and field.
pub(super) fn refused(e: ApiError) -> CallToolResult {
    let p = e.problem();
    if p.status >= 500 {
        tracing::error!(error = %e, "an MCP tool failed");
    }
    let field = p
        .field
        .map(|f| format!(", field `{f}`"))
        .unwrap_or_default();
    CallToolResult::error(vec![ContentBlock::text(format!(
        "{} ({}, HTTP {}{field})",
        p.detail, p.code, p.status
    ))])
}

/// `value` as the tool's JSON text, then `images`.
pub(super) fn answer(value: Value, images: Vec<ContentBlock>) -> CallToolResult {
    let mut content = vec![ContentBlock::text(value.to_string())];
    content.extend(images);
    CallToolResult::success(content)
}

/// Each PNG among `files` as an image block.
fn images<'a>(files: impl IntoIterator<Item = &'a OutputFile>) -> Vec<ContentBlock> {
    files
        .into_iter()
        .filter(|f| f.path.to_ascii_lowercase().ends_with(".png"))
        .filter_map(|f| f.content_b64.as_ref())
        .map(|b64| ContentBlock::image(b64.clone(), "image/png"))
        .collect()
}

/// `value` with each entry of its `files` and `figures` cut to `path` and `size` (contents
/// travel as image blocks, or stay in the sandbox).
fn without_contents(mut value: Value) -> Value {
    for key in ["files", "figures"] {
        if let Some(files) = value.get_mut(key).and_then(Value::as_array_mut) {
            for f in files {
                *f = json!({"path": f["path"], "size": f["size"]});
            }
        }
    }
    value
}

fn sandbox_id(id: &str) -> Result<SandboxId, ApiError> {
    SandboxId::parse(id.trim())
        .ok_or_else(|| ApiError::NotFound(format!("no sandbox has the id {id:?}")))
}

fn view(s: sbx_store::sandboxes::Sandbox) -> CallToolResult {
    answer(
        serde_json::to_value(SandboxView::from(s)).expect("a view serializes"),
        Vec::new(),
    )
}

/// What a file tool returns: its JSON, or why it was refused.
pub(super) fn file_answer(done: Result<Value, super::files::Refusal>) -> CallToolResult {
    match done {
        Ok(v) => answer(v, Vec::new()),
        Err(super::files::Refusal::Api(e)) => refused(e),
        Err(super::files::Refusal::Relayed(text)) => {
            CallToolResult::error(vec![ContentBlock::text(text)])
        }
    }
}

/// What a sandbox call (a cell or a command) returns.
fn call_answer(outcome: CallOutcome) -> CallToolResult {
    match outcome {
        CallOutcome::Code(o) => {
            let pictures = images(o.figures.iter().chain(&o.files));
            answer(
                without_contents(serde_json::to_value(&o).expect("an outcome serializes")),
                pictures,
            )
        }
        CallOutcome::Command(o) => answer(
            serde_json::to_value(&o).expect("an outcome serializes"),
            Vec::new(),
        ),
    }
}

#[tool_router]
impl Tools {
    /// The tools, working on `state`.
    pub fn new(state: web::Data<AppState>) -> Self {
        Self {
            state,
            tool_router: Self::tool_router() + Self::process_tools() + Self::template_tools(),
        }
    }

    /// `POST /v1/exec` with `language: python`.
    #[tool(
        description = "Run Python 3 code in a fresh, isolated interpreter (numpy, pandas and matplotlib available; no network) and return its status, exit_code, stdout and stderr as JSON. Nothing persists between calls: use create_sandbox and run_cell for a session. PNG files the code writes (e.g. plt.savefig('plot.png')) come back as images."
    )]
    async fn run_python(
        &self,
        Parameters(Args(args)): Parameters<Args<RunPython>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let req = ExecRequest {
            language: "python".into(),
            code: Some(args.code),
            module_b64: None,
            args: Vec::new(),
            stdin: args.stdin,
            env: Default::default(),
            files: args
                .files
                .into_iter()
                .map(|f| FileIn {
                    path: f.path,
                    content: Some(f.content),
                    content_b64: None,
                })
                .collect(),
            timeout_ms: args.timeout_ms,
            memory_mb: None,
            output_limit_bytes: None,
            disk_mb: None,
            callback_url: None,
        };
        let run = async {
            let caller = caller(&ctx)?;
            crate::routes::exec::run(&self.state, &caller, req, ctx.ct.clone()).await
        };
        match run.await {
            Ok(r) => {
                let pictures = images(&r.outcome.files);
                let value = serde_json::to_value(&r).expect("an outcome serializes");
                answer(without_contents(value), pictures)
            }
            Err(e) => refused(e),
        }
    }

    /// `POST /v1/sandboxes`.
    #[tool(
        description = "Create a sandbox and return it as JSON (its `id` is what the other sandbox tools take). The default image, code-interpreter, is a persistent Python interpreter for run_cell: variables, imports and files stay between cells. A container image (python, pytorch, vllm, one of the project's templates by name, or any image reference) is a Linux machine for run_command. Delete it with delete_sandbox when done; it is deleted by itself after timeout_s."
    )]
    async fn create_sandbox(
        &self,
        Parameters(Args(args)): Parameters<Args<CreateSandboxArgs>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let request = CreateSandbox {
            image: args
                .image
                .unwrap_or_else(|| crate::routes::sandboxes::CODE_INTERPRETER.into()),
            memory: args.memory,
            disk: None,
            cpu: args.cpu,
            gpu: None,
            timeout_s: args.timeout_s,
            idle_timeout_s: None,
            env: args.env,
            command: None,
            network: args.network,
            registry: None,
            ports: args.ports,
        };
        let create = async {
            let caller = caller(&ctx)?;
            crate::budget::within_budget(&caller)?;
            let (mut new, env) = crate::routes::sandboxes::create::new_sandbox(
                &self.state.sealer,
                self.state.kyc,
                &caller,
                request,
                None,
            )?;
            crate::routes::templates::resolve(&self.state.pool, &mut new).await?;
            let created = self.state.sandboxes.create(&new, env).await?;
            metrics::counter!("sbx_sandboxes_created_total", "kind" => new.kind.as_str())
                .increment(1);
            Ok::<_, ApiError>(created)
        };
        create.await.map_or_else(refused, view)
    }

    /// `POST /v1/sandboxes/{id}/exec` with `code`.
    #[tool(
        description = "Run a cell of Python in a code-interpreter sandbox, as in a Jupyter notebook: variables and imports persist between cells. Returns JSON with status, result (the repr of a final expression), stdout, stderr and reset (true if the interpreter had to restart); open matplotlib figures come back as images."
    )]
    async fn run_cell(
        &self,
        Parameters(Args(args)): Parameters<Args<RunCell>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let (code, command) = (Some(args.code), None);
        self.call(&ctx, &args.sandbox_id, code, command, args.timeout_ms)
            .await
    }

    /// `POST /v1/sandboxes/{id}/exec` with `command: ["sh", "-c", …]`.
    #[tool(
        description = "Run a shell command in a container sandbox (sh -c, in /workspace) and return JSON with status, exit_code, stdout and stderr. Files and installed packages stay for later commands."
    )]
    async fn run_command(
        &self,
        Parameters(Args(args)): Parameters<Args<RunCommand>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let command = Some(vec!["sh".into(), "-c".into(), args.command]);
        self.call(&ctx, &args.sandbox_id, None, command, args.timeout_ms)
            .await
    }

    /// `PUT /v1/sandboxes/{id}/files/{path}`.
    #[tool(
        description = "Write a file in a sandbox (both kinds): a path under /workspace (relative paths are taken from /workspace) or /outputs (containers), its content as UTF-8 text or base64. Missing folders are made; an existing file is replaced whole. Returns the file's entry as JSON (path, type, size, mode, mtime)."
    )]
    async fn write_file(
        &self,
        Parameters(Args(args)): Parameters<Args<WriteFile>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            let content = match args.encoding.unwrap_or_default() {
                Encoding::Utf8 => bytes::Bytes::from(args.content),
                Encoding::Base64 => base64::engine::general_purpose::STANDARD
                    .decode(args.content.trim())
                    .map_err(|e| {
                        ApiError::invalid(
                            crate::error::Code::InvalidBase64,
                            "content",
                            format!("content is not base64: {e}"),
                        )
                    })?
                    .into(),
            };
            super::files::write(
                &self.state,
                &caller,
                &args.sandbox_id,
                &absolute(&args.path),
                content,
            )
            .await
        };
        file_answer(run.await)
    }

    /// `GET /v1/sandboxes/{id}/files/{path}`.
    #[tool(
        description = "Read a file from a sandbox (both kinds): a path under /workspace (relative paths are taken from /workspace) or /outputs (containers). Returns JSON with path, size, encoding (utf-8, or base64 for binary content) and content; at most 4 MiB."
    )]
    async fn read_file(
        &self,
        Parameters(Args(args)): Parameters<Args<PathArg>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            super::files::read(
                &self.state,
                &caller,
                &args.sandbox_id,
                &absolute(&args.path),
            )
            .await
        };
        file_answer(run.await)
    }

    /// `GET /v1/sandboxes/{id}/files`.
    #[tool(
        description = "List a folder of a sandbox (default /workspace; /outputs in containers), recursively if asked: JSON with data (each entry's path, type file/directory/symlink/other, size, mode, mtime) and truncated."
    )]
    async fn list_files(
        &self,
        Parameters(Args(args)): Parameters<Args<ListFiles>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            let path = absolute(args.path.as_deref().unwrap_or("/workspace"));
            super::files::list(
                &self.state,
                &caller,
                &args.sandbox_id,
                &path,
                args.recursive.unwrap_or(false),
            )
            .await
        };
        file_answer(run.await)
    }

    /// `POST /v1/sandboxes/{id}/fork`.
    #[tool(
        description = "Fork a running sandbox into 1 to 16 copies to try several approaches from one state; the source keeps running. A code-interpreter's copies have its variables, imports and files; a container's have its /workspace and /outputs (processes start afresh). Returns JSON with the new sandboxes' ids."
    )]
    async fn fork_sandbox(
        &self,
        Parameters(Args(args)): Parameters<Args<ForkSandbox>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            crate::routes::sandboxes::fork::run(&self.state, &caller, &args.sandbox_id, args.count)
                .await
        };
        match run.await {
            Ok(made) => answer(
                json!({"sandboxes": made.into_iter().map(SandboxView::from).collect::<Vec<_>>()}),
                Vec::new(),
            ),
            Err(e) => refused(e),
        }
    }

    /// `POST /v1/sandboxes/{id}/previews`.
    #[tool(
        description = "A signed URL that opens a port of a container sandbox in a browser (a web app, a notebook, a dashboard the sandbox serves), for a person to click; it needs no API key and expires (default after an hour). Start the server first (start_process). Returns JSON with url and expires_at."
    )]
    async fn preview_url(
        &self,
        Parameters(Args(args)): Parameters<Args<PreviewUrl>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            crate::routes::sandboxes::previews::issue(
                &self.state,
                &caller,
                &args.sandbox_id,
                args.port,
                args.expires_in,
            )
            .await
        };
        match run.await {
            Ok(view) => answer(json!(view), Vec::new()),
            Err(e) => refused(e),
        }
    }

    /// `GET /v1/sandboxes/{id}/ports`.
    #[tool(
        description = "The ports of a container sandbox: those declared at create and any a server listens on now, each with listening true or false. Call it after start_process to see whether the server is up yet before calling it or opening preview_url. Returns JSON {ports: [{port, declared, listening}]}."
    )]
    async fn list_ports(
        &self,
        Parameters(Args(args)): Parameters<Args<SandboxArg>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            crate::routes::sandboxes::ports::ports_of(&self.state, &caller, &args.sandbox_id).await
        };
        match run.await {
            Ok(list) => answer(json!(list), Vec::new()),
            Err(e) => refused(e),
        }
    }

    /// `POST /v1/sandboxes/{id}/pause`.
    #[tool(
        description = "Pause a sandbox: its state (variables, files) is kept and it stops using CPU and memory, billed only for storage. resume_sandbox continues it."
    )]
    async fn pause_sandbox(
        &self,
        Parameters(Args(args)): Parameters<Args<SandboxArg>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.change(&ctx, &args.sandbox_id, Change::Pause).await
    }

    /// `POST /v1/sandboxes/{id}/resume`.
    #[tool(description = "Resume a paused sandbox where it left off; returns it as JSON.")]
    async fn resume_sandbox(
        &self,
        Parameters(Args(args)): Parameters<Args<SandboxArg>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.change(&ctx, &args.sandbox_id, Change::Resume).await
    }

    /// `DELETE /v1/sandboxes/{id}`.
    #[tool(
        description = "Delete a sandbox: it is terminated and its state dropped. Returns it as JSON (state terminated)."
    )]
    async fn delete_sandbox(
        &self,
        Parameters(Args(args)): Parameters<Args<SandboxArg>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.change(&ctx, &args.sandbox_id, Change::Terminate).await
    }

    /// `GET /v1/sandboxes`.
    #[tool(
        description = "List this project's sandboxes, newest first, as a JSON array (id, image, kind, state, created_at, expires_at)."
    )]
    async fn list_sandboxes(
        &self,
        Parameters(Args(args)): Parameters<Args<ListSandboxes>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let list = async {
            let caller = caller(&ctx)?;
            let limit = crate::routes::paging::limit(args.limit, 50, 200)?;
            let state = args.state.map(|s| match s {
                StateArg::Pending => SandboxState::Pending,
                StateArg::Running => SandboxState::Running,
                StateArg::Paused => SandboxState::Paused,
                StateArg::Terminated => SandboxState::Terminated,
                StateArg::Failed => SandboxState::Failed,
            });
            let rows = sbx_store::sandboxes::list(
                &self.state.pool,
                caller.0.project_id,
                state,
                None,
                limit,
            )
            .await?;
            Ok::<_, ApiError>(rows)
        };
        match list.await {
            Ok(rows) => answer(
                rows.into_iter()
                    .map(|s| {
                        json!({"id": s.sandbox_id, "image": s.image, "kind": s.kind,
                               "state": s.state, "created_at": s.created_at,
                               "expires_at": s.expires_at})
                    })
                    .collect(),
                Vec::new(),
            ),
            Err(e) => refused(e),
        }
    }
}

/// What `pause_sandbox`, `resume_sandbox` and `delete_sandbox` do.
#[derive(Debug, Clone, Copy)]
enum Change {
    Pause,
    Resume,
    Terminate,
}

impl Tools {
    /// Run `code` (a cell) or `command` in sandbox `id`, checked as `POST
    /// /v1/sandboxes/{id}/exec` checks them.
    async fn call(
        &self,
        ctx: &RequestContext<RoleServer>,
        id: &str,
        code: Option<String>,
        command: Option<Vec<String>>,
        timeout_ms: Option<u64>,
    ) -> CallToolResult {
        let request = SandboxExecRequest {
            code,
            command,
            files: Vec::new(),
            timeout_ms,
            output_limit_bytes: None,
        };
        let run = async {
            let caller = caller(ctx)?;
            let id = sandbox_id(id)?;
            let call = crate::routes::sandboxes::exec::sandbox_call(request, &caller.0.limits)?;
            // A cell stops when the client cancels the request; a command runs to its limit.
            let cancel = match call {
                Call::Code(_) => ctx.ct.clone(),
                Call::Command(_) => Default::default(),
            };
            crate::routes::sandboxes::exec::run(&self.state, &caller, id, call, cancel).await
        };
        run.await.map_or_else(refused, call_answer)
    }

    /// Move sandbox `id` through `change`, as the HTTP API's `…/pause`, `…/resume` and
    /// `DELETE` do.
    async fn change(
        &self,
        ctx: &RequestContext<RoleServer>,
        id: &str,
        change: Change,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(ctx)?;
            if matches!(change, Change::Resume) {
                crate::budget::within_budget(&caller)?;
            }
            let project = caller.0.project_id;
            let id = sandbox_id(id)?;
            let sandboxes = &self.state.sandboxes;
            let changed = match change {
                Change::Pause => sandboxes.pause(project, id).await?,
                Change::Resume => sandboxes.resume(project, id).await?,
                Change::Terminate => sandboxes.terminate(project, id).await?,
            };
            self.state.placements.forget(id);
            Ok::<_, ApiError>(changed)
        };
        run.await.map_or_else(refused, view)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        let images: Vec<String> = sbx_limits::catalog::images()
            .iter()
            .map(|i| format!("{} ({})", i.name, i.description))
            .collect();
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sbx", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "sbx runs code in isolated sandboxes. For a one-off Python computation call \
                 run_python. For work that keeps state, create_sandbox, then run_cell \
                 (code-interpreter) or run_command (container images), and delete_sandbox when \
                 done; fork_sandbox copies a sandbox's state to try several approaches from it; \
                 build_template makes an image of the project's own from a Dockerfile. Images: {}.",
                images.join("; ")
            ))
    }
}
