//! `sbx login`: check a server URL and API key against the server, then keep them in the
//! user's config file (mode 0600) for later commands.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use serde_json::json;

use super::Conn;
use super::client::{self, Api, Config};
use super::error::{CliError, CliResult};
use super::output::Output;

/// Arguments of `sbx login`.
#[derive(Debug, clap::Args)]
#[command(long_about = "\
Save a server URL and API key in the user's config directory \
($XDG_CONFIG_HOME/sbx/config.toml, created readable by the user only), after checking that \
the server takes the key. Later commands use them unless --url/--api-key or \
SBX_URL/SBX_API_KEY say otherwise.

The URL comes from --url or SBX_URL, else a prompt on a terminal (default: the saved one, \
else http://127.0.0.1:8080). The key comes from --api-key or SBX_API_KEY, else a prompt \
that does not echo it, else standard input (`sbx login --url URL < key.txt`).")]
pub struct LoginArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// Run `sbx login`.
///
/// # Errors
/// The key is refused, the server cannot be reached, or the config cannot be written.
pub async fn run(args: LoginArgs) -> CliResult<()> {
    let saved = Config::load().unwrap_or_default();
    let interactive = std::io::stdin().is_terminal();
    let url = match args.conn.url {
        Some(u) => u,
        None if interactive => {
            let default = saved
                .url
                .clone()
                .unwrap_or_else(|| client::DEFAULT_URL.to_owned());
            let answer = prompt(&format!("Server URL [{default}]: "))?;
            if answer.is_empty() { default } else { answer }
        }
        None => saved
            .url
            .clone()
            .unwrap_or_else(|| client::DEFAULT_URL.to_owned()),
    };
    let url = client::resolve_url(Some(&url), &saved)?;
    let key = match args.conn.api_key {
        Some(k) => k,
        None if interactive => {
            rpassword::prompt_password("API key: ").map_err(CliError::io("reading the key"))?
        }
        None => std::io::read_to_string(std::io::stdin())
            .map_err(CliError::io("reading the key from standard input"))?,
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(CliError::Input("no API key given".into()));
    }
    let api = Api::new(url.clone(), key.clone());
    // Any authenticated read proves the key: the cheapest is one sandbox of the list.
    api.get("/v1/sandboxes?limit=1").await?;
    let path = Config {
        url: Some(url.clone()),
        api_key: Some(key),
    }
    .save()?;
    let out = Output::new(args.conn.json);
    if out.json {
        out.print_json(&json!({"url": url, "config": path}));
    } else {
        eprintln!("Logged in to {url}; saved in {}", path.display());
    }
    Ok(())
}

/// Ask `question` on stderr; the answer's line, trimmed.
fn prompt(question: &str) -> CliResult<String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CliError::io("reading standard input"))?;
    Ok(line.trim().to_owned())
}
