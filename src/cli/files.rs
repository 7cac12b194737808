//! `sbx files …`: a sandbox's files (`/v1/sandboxes/{id}/files`): list, print, copy in and
//! out, delete, make folders, watch for changes. Paths are `/workspace/…` (both kinds) or `/outputs/…`
//! (containers); a sandbox side of `cp` is written `SANDBOX:/path`, as `docker cp` does.

use std::path::{Path, PathBuf};

use comfy_table::Cell;
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use super::client::{Call, encode_query, percent_encode};
use super::error::{CliError, CliResult};
use super::output::{bytes, text, time};
use super::{Conn, Ctx};

/// Arguments of `sbx files`.
#[derive(Debug, clap::Args)]
pub struct FilesArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub cmd: FilesCmd,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// `sbx files` commands.
#[derive(Debug, clap::Subcommand)]
pub enum FilesCmd {
    /// List a folder (default /workspace): type, size, mode, modified, path.
    Ls {
        /// The sandbox id.
        sandbox: String,
        /// The folder.
        #[arg(default_value = "/workspace")]
        path: String,
        /// Everything below it too.
        #[arg(long, short = 'r')]
        recursive: bool,
    },
    /// Print a file's bytes on stdout.
    Cat {
        /// The sandbox id.
        sandbox: String,
        /// The file.
        path: String,
    },
    /// Copy a file in or out: `sbx files cp data.csv SANDBOX:/workspace/data.csv`, or
    /// `sbx files cp SANDBOX:/outputs/model.pt .` (`-` is stdin or stdout).
    Cp {
        /// `SANDBOX:/path` or a local path.
        source: String,
        /// `SANDBOX:/path` or a local path (a local folder keeps the file's name).
        target: String,
    },
    /// Delete a file, or a folder (with what it holds: `--recursive`).
    Rm {
        /// The sandbox id.
        sandbox: String,
        /// The file or folder.
        path: String,
        /// Delete a folder that is not empty.
        #[arg(long, short = 'r')]
        recursive: bool,
    },
    /// Print the changes below a folder as they happen (`created`, `modified`, `deleted`,
    /// and the path), until the sandbox pauses or ends, or Ctrl-C.
    Watch {
        /// The sandbox id.
        sandbox: String,
        /// The folder.
        #[arg(default_value = "/workspace")]
        path: String,
        /// Only changes in the folder itself, not below it.
        #[arg(long)]
        shallow: bool,
    },
    /// Make a folder and its missing parents.
    Mkdir {
        /// The sandbox id.
        sandbox: String,
        /// The folder.
        path: String,
    },
}

/// The API path of `path` (`/workspace/a b`) in sandbox `id` under `what` (`files`,
/// `directories`): each name percent-encoded.
fn url(id: &str, what: &str, path: &str) -> String {
    let names: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_encode)
        .collect();
    format!(
        "/v1/sandboxes/{}/{what}/{}",
        percent_encode(id),
        names.join("/")
    )
}

/// `SANDBOX:/path` split, or none for a local path.
fn remote(spec: &str) -> Option<(&str, &str)> {
    spec.split_once(':')
        .filter(|(id, p)| !id.is_empty() && p.starts_with('/'))
}

/// Run `sbx files`.
///
/// # Errors
/// What the API refused, the server being unreachable, or a local file that cannot be read or
/// written.
pub async fn run(args: FilesArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    match args.cmd {
        FilesCmd::Ls {
            sandbox,
            path,
            recursive,
        } => {
            let q = encode_query(&[("path", path), ("recursive", recursive.to_string())]);
            let list = ctx
                .api
                .get(&format!(
                    "/v1/sandboxes/{}/files?{q}",
                    percent_encode(&sandbox)
                ))
                .await?;
            if ctx.out.json {
                ctx.out.print_json(&list);
                return Ok(());
            }
            let mut t = ctx.out.table(&["type", "size", "mode", "modified", "path"]);
            for e in list["data"].as_array().into_iter().flatten() {
                t.add_row(vec![
                    Cell::new(text(&e["type"])),
                    Cell::new(bytes(&e["size"])),
                    Cell::new(format!("{:o}", e["mode"].as_u64().unwrap_or(0))),
                    Cell::new(time(&e["mtime"])),
                    Cell::new(text(&e["path"])),
                ]);
            }
            ctx.out.print(&mut t);
            if list["truncated"] == true {
                eprintln!("sbx: the listing was cut at 10 000 entries or 32 folders deep");
            }
        }
        FilesCmd::Cat { sandbox, path } => download(&ctx, &sandbox, &path, None).await?,
        FilesCmd::Cp { source, target } => match (remote(&source), remote(&target)) {
            (Some((id, path)), None) => {
                let to = (target != "-").then(|| {
                    let t = PathBuf::from(&target);
                    if t.is_dir() {
                        t.join(Path::new(path).file_name().unwrap_or_default())
                    } else {
                        t
                    }
                });
                download(&ctx, id, path, to.as_deref()).await?;
            }
            (None, Some((id, path))) => {
                let info = upload(&ctx, id, path, &source).await?;
                if ctx.out.json {
                    ctx.out.print_json(&info);
                } else {
                    say!("{} ({})", text(&info["path"]), bytes(&info["size"]));
                }
            }
            _ => {
                return Err(CliError::Input(
                    "one side of cp is SANDBOX:/path and the other a local path".into(),
                ));
            }
        },
        FilesCmd::Rm {
            sandbox,
            path,
            recursive,
        } => {
            let mut at = url(&sandbox, "files", &path);
            if recursive {
                at.push_str("?recursive=true");
            }
            let _answer = ctx.api.send(&Call::delete(at)).await?;
        }
        FilesCmd::Watch {
            sandbox,
            path,
            shallow,
        } => {
            let q = encode_query(&[("path", path), ("recursive", (!shallow).to_string())]);
            let at = format!("/v1/sandboxes/{}/files/watch?{q}", percent_encode(&sandbox));
            watch(&ctx, &at).await?;
        }
        FilesCmd::Mkdir { sandbox, path } => {
            let body = serde_json::Value::Null;
            let info = ctx
                .api
                .json(Call::post(url(&sandbox, "directories", &path), &body).safe())
                .await?;
            if ctx.out.json {
                ctx.out.print_json(&info);
            }
        }
    }
    Ok(())
}

/// Print the change events of the watch at `at` (`what path`, or JSON lines with `--json`)
/// until the stream ends.
async fn watch(ctx: &Ctx, at: &str) -> CliResult<()> {
    use eventsource_stream::Eventsource as _;
    let mut call = Call::get(at);
    call.timeout = std::time::Duration::from_secs(30);
    let (_, _, body) = ctx.api.send(&call).await?;
    let mut events = body.eventsource();
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| CliError::Unreachable {
            url: ctx.api.url.clone(),
            reason: format!("the watch broke: {e}"),
        })?;
        let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
        if ctx.out.json {
            say!(
                "{}",
                serde_json::json!({"event": event.event, "data": data})
            );
        } else if event.event == "end" {
            eprintln!("sbx: {}", text(&data["reason"]));
        } else if event.event == "overflow" {
            eprintln!("sbx: some changes were lost; list the folder again");
        } else {
            say!("{:<9}{}", event.event, text(&data["path"]));
        }
        if event.event == "end" {
            break;
        }
    }
    Ok(())
}

/// Stream sandbox `id`'s file at `path` into `to` (stdout when none).
async fn download(ctx: &Ctx, id: &str, path: &str, to: Option<&Path>) -> CliResult<()> {
    let (_, _, mut body) = ctx.api.send(&Call::get(url(id, "files", path))).await?;
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin> = match to {
        Some(p) => Box::new(
            tokio::fs::File::create(p)
                .await
                .map_err(CliError::io(format!("writing {}", p.display())))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    let what = to.map_or("stdout".to_owned(), |p| p.display().to_string());
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ctx.api.broken(e))?;
        out.write_all(&chunk)
            .await
            .map_err(CliError::io(format!("writing {what}")))?;
    }
    out.flush()
        .await
        .map_err(CliError::io(format!("writing {what}")))
}

/// Upload `source` (a local file, or `-`: stdin, read whole first) to sandbox `id`'s `path`;
/// the file's entry.
async fn upload(ctx: &Ctx, id: &str, path: &str, source: &str) -> CliResult<serde_json::Value> {
    let staged;
    let file = if source == "-" {
        let mut all = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut all)
            .await
            .map_err(CliError::io("reading stdin"))?;
        staged = tempfile_with(&all)?;
        staged.0.clone()
    } else {
        PathBuf::from(source)
    };
    let (status, _, body) = ctx
        .api
        .send(&Call::put_file(url(id, "files", path), &file))
        .await?;
    let bytes = ctx.api.read_all(body, 1 << 20).await?;
    serde_json::from_slice(&bytes).map_err(|e| CliError::BadAnswer {
        url: ctx.api.url.clone(),
        status: status.as_u16(),
        text: format!("not JSON: {e}"),
    })
}

/// A private temporary file holding `bytes`, removed when dropped.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_with(bytes: &[u8]) -> CliResult<Staged> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = std::env::temp_dir().join(format!("sbx-stdin-{}", uuid::Uuid::now_v7().simple()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(CliError::io(format!("writing {}", path.display())))?;
    let staged = Staged(path.clone());
    f.write_all(bytes)
        .map_err(CliError::io(format!("writing {}", path.display())))?;
    Ok(staged)
}
