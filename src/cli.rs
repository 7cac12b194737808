//! `sbx exec` (a small client of `POST /v1/exec`) and `sbx admin` (projects, keys, users).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use sbx_store::Pool;
use serde_json::{Value, json};

/// Arguments of `sbx exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Python code to run.
    #[arg(short = 'c', long = "code", conflicts_with = "file")]
    pub code: Option<String>,
    /// A Python file to run (`-` for standard input).
    pub file: Option<PathBuf>,
    /// Arguments for the program (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
    /// The API's base URL.
    #[arg(long, env = "SBX_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key (default: the contents of .data/dev-api-key).
    #[arg(long, env = "SBX_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Wall-time limit in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Memory limit in MiB.
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Print the whole JSON result instead of the program's output.
    #[arg(long)]
    pub json: bool,
}

/// Run `args` against the API: print the program's stdout and stderr, and return the exit code
/// to leave with (the program's, or 124 for a limit, 2 for an API error).
pub async fn exec(args: ExecArgs) -> anyhow::Result<i32> {
    let code = match (&args.code, &args.file) {
        (Some(c), _) => c.clone(),
        (None, Some(p)) if p.as_os_str() == "-" => std::io::read_to_string(std::io::stdin())?,
        (None, Some(p)) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        (None, None) => bail!("give code with -c CODE, or a file"),
    };
    let key = match args.api_key {
        Some(k) => k,
        None => std::fs::read_to_string(".data/dev-api-key")
            .context("no API key: pass --api-key, set SBX_API_KEY, or run scripts/run to make .data/dev-api-key")?
            .trim()
            .to_owned(),
    };
    let mut body = json!({"language": "python", "code": code, "args": args.args});
    if let Some(t) = args.timeout_ms {
        body["timeout_ms"] = t.into();
    }
    if let Some(m) = args.memory_mb {
        body["memory_mb"] = m.into();
    }
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(3600))
        .finish();
    let url = format!("{}/v1/exec", args.url.trim_end_matches('/'));
    let mut res = client
        .post(&url)
        .bearer_auth(&key)
        .send_json(&body)
        .await
        .map_err(|e| anyhow::anyhow!("calling {url}: {e}"))?;
    let bytes = res.body().limit(256 << 20).await?;
    let value: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("the API answered {}: not JSON", res.status()))?;
    if !res.status().is_success() {
        eprintln!(
            "sbx: {} {}: {}",
            res.status().as_u16(),
            value["code"].as_str().unwrap_or(""),
            value["detail"].as_str().unwrap_or("")
        );
        return Ok(2);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        std::io::stdout().write_all(value["stdout"].as_str().unwrap_or_default().as_bytes())?;
        std::io::stderr().write_all(value["stderr"].as_str().unwrap_or_default().as_bytes())?;
    }
    let status = value["status"].as_str().unwrap_or("error");
    Ok(match status {
        "succeeded" | "failed" => value["exit_code"].as_i64().unwrap_or(1) as i32,
        other => {
            eprintln!("sbx: {other}: {}", value["message"].as_str().unwrap_or(""));
            124
        }
    })
}

/// `sbx admin` commands.
#[derive(Debug, clap::Subcommand)]
pub enum Admin {
    /// Create a project; prints its id.
    CreateProject {
        /// Its name.
        #[arg(long)]
        name: String,
        /// Email of the owning user (created if new); GPU work checks this user's KYC status.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Create an API key for a project; prints the key once (it is stored only hashed).
    CreateKey {
        /// The project's id or name.
        #[arg(long)]
        project: String,
        /// A label for the key.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Revoke an API key, by id or by the prefix shown in listings.
    RevokeKey {
        /// The key's id or prefix.
        key: String,
    },
    /// List a project's keys (never the secrets).
    ListKeys {
        /// The project's id or name.
        #[arg(long)]
        project: String,
    },
    /// Print a project's webhook signing secret (`whsec_…`): receivers of its `callback_url`s
    /// check the `webhook-signature` header with it.
    WebhookSecret {
        /// The project's id or name.
        #[arg(long)]
        project: String,
    },
    /// Create a user (or find the existing one); prints its id.
    CreateUser {
        /// The user's email.
        #[arg(long)]
        email: String,
    },
    /// Set a user's KYC status: unverified, pending, verified or rejected.
    SetKyc {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The status.
        #[arg(long, default_value = "verified")]
        status: String,
    },
}

async fn project_id(pool: &Pool, project: &str) -> anyhow::Result<sbx_core::ids::ProjectId> {
    if let Some(id) = sbx_core::ids::ProjectId::parse(project) {
        return Ok(id);
    }
    Ok(sbx_store::projects::find_by_name(pool, project)
        .await?
        .with_context(|| format!("no project named {project:?}"))?
        .project_id)
}

/// Run an admin command against `pool`.
pub async fn admin(pool: &Pool, cmd: Admin) -> anyhow::Result<()> {
    match cmd {
        Admin::CreateProject { name, owner } => {
            let owner = match owner {
                Some(email) => Some(sbx_store::users::upsert(pool, &email).await?.user_id),
                None => None,
            };
            let p = sbx_store::projects::create(pool, &name, owner).await?;
            println!("{}", p.project_id);
        }
        Admin::CreateKey { project, name } => {
            let id = project_id(pool, &project).await?;
            let (key_id, secret) = sbx_store::keys::create(pool, id, &name).await?;
            eprintln!("key {key_id} for project {id}; shown once, keep it:");
            println!("{secret}");
        }
        Admin::RevokeKey { key } => {
            let k = sbx_store::keys::revoke(pool, &key).await?;
            println!("revoked {} ({}, {}…)", k.api_key_id, k.name, k.prefix);
        }
        Admin::ListKeys { project } => {
            let id = project_id(pool, &project).await?;
            for k in sbx_store::keys::list(pool, id).await? {
                println!(
                    "{}\t{}…\t{}\t{}",
                    k.api_key_id,
                    k.prefix,
                    k.name,
                    if k.revoked { "revoked" } else { "active" }
                );
            }
        }
        Admin::WebhookSecret { project } => {
            let id = project_id(pool, &project).await?;
            println!("{}", sbx_store::webhooks::secret(pool, id).await?);
        }
        Admin::CreateUser { email } => {
            println!("{}", sbx_store::users::upsert(pool, &email).await?.user_id);
        }
        Admin::SetKyc { email, status } => {
            let u = sbx_store::users::set_kyc(pool, &email, &status).await?;
            println!("{} {}", u.email, u.kyc_status);
        }
    }
    Ok(())
}
