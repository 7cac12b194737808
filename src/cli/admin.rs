//! `sbx admin`: projects, API keys and users, straight on the database.

use anyhow::Context as _;
use sbx_store::Pool;

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
        /// Read a password (one line, at least 10 characters) from standard input, for signing
        /// in to the dashboard.
        #[arg(long)]
        password_stdin: bool,
        /// Make them an operator (the dashboard's Admin page), or with `--operator=false` not.
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        operator: Option<bool>,
    },
    /// Make a user a member of a project (or change their role).
    AddMember {
        /// The project's id or name.
        #[arg(long)]
        project: String,
        /// The user's email (created if new).
        #[arg(long)]
        email: String,
        /// `owner` or `member`.
        #[arg(long, default_value = "member")]
        role: String,
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
            let k = sbx_store::keys::revoke(pool, &key, None).await?;
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
        Admin::CreateUser {
            email,
            password_stdin,
            operator,
        } => {
            let user = sbx_store::users::upsert(pool, &email).await?;
            if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let password = line.trim_end_matches(['\r', '\n']).to_owned();
                let min = sbx_api::accounts::MIN_PASSWORD_CHARS;
                if password.chars().count() < min {
                    anyhow::bail!("the password must have at least {min} characters");
                }
                let hash = tokio::task::spawn_blocking(move || {
                    sbx_api::accounts::hash_password(&password)
                })
                .await?;
                sbx_store::users::set_password(pool, &email, &hash).await?;
            }
            if let Some(operator) = operator {
                sbx_store::users::set_operator(pool, &email, operator).await?;
            }
            println!("{}", user.user_id);
        }
        Admin::AddMember {
            project,
            email,
            role,
        } => {
            let id = project_id(pool, &project).await?;
            let user = sbx_store::users::upsert(pool, &email).await?;
            sbx_store::members::add(pool, user.user_id, id, &role).await?;
            println!("{email} is now {role} of project {id}");
        }
        Admin::SetKyc { email, status } => {
            let u = sbx_store::users::set_kyc(pool, &email, &status).await?;
            println!("{} {}", u.email, u.kyc_status);
        }
    }
    Ok(())
}
