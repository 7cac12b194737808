//! `sbx template`: build a project's own image from a folder with a Dockerfile (the folder sent
//! as the build context, a tar), follow its build, list, show and delete templates.

use std::path::PathBuf;

use comfy_table::Cell;
use serde_json::Value;

use super::client::{Call, encode_query, percent_encode};
use super::error::{CliError, CliResult};
use super::output::{bytes, text, time};
use super::{Conn, Ctx};

/// Arguments of `sbx template`.
#[derive(Debug, clap::Args)]
pub struct TemplateArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub cmd: TemplateCmd,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// `sbx template` commands.
#[derive(Debug, clap::Subcommand)]
pub enum TemplateCmd {
    /// Build a template from a folder holding a Dockerfile (the whole folder is the build
    /// context, at most 64 MiB; `.dockerignore` is not read) and follow its log; exits 1 if
    /// the build fails. Building a name again makes its next version.
    Build {
        /// The template's name (`a-z0-9._-`).
        name: String,
        /// The build context.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The Dockerfile's path in the folder.
        #[arg(long, short = 'f', default_value = "Dockerfile")]
        file: String,
        /// Let `RUN` steps reach the network.
        #[arg(long)]
        network: bool,
        /// Longest the build may take, in seconds (1–3600) [default: 600].
        #[arg(long)]
        timeout: Option<u32>,
        /// Print the new version and return without following the build.
        #[arg(long)]
        no_follow: bool,
    },
    /// List the project's templates (the newest version of each).
    Ls,
    /// Show a template's newest version, or `--version`.
    Get {
        /// Its name.
        name: String,
        /// The version.
        #[arg(long)]
        version: Option<u32>,
    },
    /// List every version of a template.
    Versions {
        /// Its name.
        name: String,
    },
    /// Print a version's build log (`--follow` until the build ends).
    Logs {
        /// Its name.
        name: String,
        /// The version [default: the newest].
        #[arg(long)]
        version: Option<u32>,
        /// Keep reading until the build ends.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Delete templates, every version (sandboxes running one keep running).
    Rm {
        /// Their names.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// Run `sbx template …`.
///
/// # Errors
/// As the API answers; a build that fails.
pub async fn run(args: TemplateArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    match args.cmd {
        TemplateCmd::Build {
            name,
            dir,
            file,
            network,
            timeout,
            no_follow,
        } => {
            let context = tokio::task::spawn_blocking(move || pack(&dir))
                .await
                .map_err(|e| CliError::Input(format!("packing the build context: {e}")))??;
            let mut query = vec![("name", name.clone()), ("dockerfile", file)];
            if network {
                query.push(("network", "true".into()));
            }
            if let Some(t) = timeout {
                query.push(("timeout_s", t.to_string()));
            }
            let path = format!("/v1/templates{}", encode_query(&query));
            let call =
                Call::post_bytes(path, context.into()).header("content-type", "application/x-tar");
            let made = ctx.api.json(call).await?;
            if no_follow {
                if ctx.out.json {
                    ctx.out.print_json(&made);
                } else {
                    say!("{}", text(&made["image"]));
                }
                return Ok(());
            }
            let logs = logs_path(&name, made["version"].as_u64().map(|v| v as u32));
            let end = super::logs::read(&ctx.api, &logs, true, ctx.out.json).await?;
            let end = end.unwrap_or(Value::Null);
            if end["state"] != "ready" {
                return Err(CliError::Input(format!(
                    "the build of {} failed: {}",
                    text(&made["image"]),
                    text(&end["error"])
                )));
            }
            if !ctx.out.json {
                say!("{}", text(&made["image"]));
            }
        }
        TemplateCmd::Ls => {
            let list = ctx.api.get("/v1/templates").await?;
            print_list(&ctx, &list);
        }
        TemplateCmd::Versions { name } => {
            let list = ctx
                .api
                .get(&format!("/v1/templates/{}/versions", percent_encode(&name)))
                .await?;
            print_list(&ctx, &list);
        }
        TemplateCmd::Get { name, version } => {
            let mut path = format!("/v1/templates/{}", percent_encode(&name));
            if let Some(v) = version {
                path.push_str(&encode_query(&[("version", v.to_string())]));
            }
            let t = ctx.api.get(&path).await?;
            if ctx.out.json {
                ctx.out.print_json(&t);
            } else {
                for (k, v) in [
                    ("image", text(&t["image"])),
                    ("state", text(&t["state"])),
                    ("error", text(&t["error"])),
                    ("size", bytes(&t["size_bytes"])),
                    ("context", bytes(&t["context_bytes"])),
                    ("dockerfile", text(&t["dockerfile"])),
                    ("network", text(&t["network"])),
                    ("created", time(&t["created_at"])),
                    ("ended", time(&t["ended_at"])),
                ] {
                    say!("{k:<11}{v}");
                }
            }
        }
        TemplateCmd::Logs {
            name,
            version,
            follow,
        } => {
            super::logs::read(&ctx.api, &logs_path(&name, version), follow, ctx.out.json).await?;
        }
        TemplateCmd::Rm { names } => {
            for name in names {
                let path = format!("/v1/templates/{}", percent_encode(&name));
                let _answer = ctx.api.send(&Call::delete(path)).await?;
                say!("{name}");
            }
        }
    }
    Ok(())
}

fn logs_path(name: &str, version: Option<u32>) -> String {
    let mut path = format!("/v1/templates/{}/logs", percent_encode(name));
    if let Some(v) = version {
        path.push_str(&encode_query(&[("version", v.to_string())]));
    }
    path
}

fn print_list(ctx: &Ctx, list: &Value) {
    if ctx.out.json {
        ctx.out.print_json(&list["data"]);
        return;
    }
    let mut t = ctx
        .out
        .table(&["image", "state", "size", "created", "error"]);
    for v in list["data"].as_array().into_iter().flatten() {
        t.add_row(vec![
            Cell::new(text(&v["image"])),
            Cell::new(text(&v["state"])),
            Cell::new(bytes(&v["size_bytes"])),
            Cell::new(time(&v["created_at"])),
            Cell::new(text(&v["error"])),
        ]);
    }
    ctx.out.print(&mut t);
}

/// Folder `dir` as a tar (links kept as links), for a build context.
fn pack(dir: &std::path::Path) -> CliResult<Vec<u8>> {
    if !dir.is_dir() {
        return Err(CliError::Input(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir)
        .map_err(CliError::io(format!("reading {}", dir.display())))?;
    b.into_inner()
        .map_err(CliError::io(format!("reading {}", dir.display())))
}
