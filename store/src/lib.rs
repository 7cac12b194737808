//! PostgreSQL storage of sbx: the pool, the migrations, and one module per table, each query a
//! function of its own.
//!
//! # Layout
//! - [`migrate`]: applies `migrations/*.sql` in order, under an advisory lock.
//! - [`users`], [`projects`], [`keys`], [`jobs`], [`batches`], [`runners`], [`logs`]: one
//!   module per table.
//! - [`container_jobs`]: container jobs, their sandboxes and artifacts.
//! - [`queue`]: the durable queue (claim, lease, complete, recover, cancel).
//! - [`notify`]: LISTEN/NOTIFY: sending `sbx-core`'s notes and fanning them out, parsed.
//! - [`usage`]: the meter's samples and the usage report's sources.
//! - [`seal`]: AES-256-GCM sealing of secrets kept in rows.
//! - [`sandboxes`]: sandboxes, their state changes and code-interpreter snapshots.
//! - [`placement`]: container sandboxes claimed by the runners they fit, started, let go.
//! - [`snapshot_chunks`]: paused containers' folders, copied in rows for other hosts.
//! - [`templates`]: a project's own images, a row per version, with their build contexts.
//! - [`commands`]: commands run in container sandboxes, API to runner through the database.
//! - [`webhooks`]: the outbox of job-ended announcements and its senders' queries.
//! - [`exec`]: what the queue keeps of an exec until a runner takes it.
//! - [`budgets`]: projects' monthly spend limits and the state a check found.
//! - [`kyc`]: identity checks people submit and their decisions.
//! - [`members`]: people's memberships of projects; [`sessions`]: people signed in.
//!
//! Ids, specs, outcomes and the sandbox vocabulary are `sbx-core`'s; this crate stores them.

pub mod batches;
pub mod budgets;
pub mod commands;
pub mod container_jobs;
pub mod events;
pub mod exec;
pub mod jobs;
pub mod keys;
pub mod kyc;
pub mod logs;
pub mod members;
pub mod migrate;
pub mod notify;
pub mod placement;
pub mod ports;
pub mod projects;
pub mod queue;
pub mod runners;
pub mod sandboxes;
pub mod seal;
pub mod sessions;
pub mod snapshot_chunks;
pub mod templates;
pub mod usage;
pub mod users;
pub mod webhook_endpoints;
pub mod webhooks;

use std::str::FromStr;

pub use deadpool_postgres::{GenericClient, Pool, Transaction};

/// Where a query runs: the [`Pool`] (each call takes a connection of its own), or a caller's
/// connection ([`deadpool_postgres::Client`]) or [`Transaction`], so that a caller can group
/// several queries in one transaction:
///
/// ```no_run
/// # async fn f(pool: &sbx_store::Pool) -> sbx_store::Result<()> {
/// let mut client = pool.get().await?;
/// let tx = client.transaction().await?;
/// let project = sbx_store::projects::create(&tx, "eval", None).await?;
/// sbx_store::projects::set_limits(&tx, project.project_id, &Default::default()).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
///
/// Queries that group their own statements in a transaction take the [`Pool`].
pub trait Db: Sync {
    /// The client the queries run on.
    type Client: GenericClient;

    /// A client for one call's queries: a pooled connection, or the caller's own.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the pool has no connection to give in time.
    fn client(
        &self,
    ) -> impl Future<Output = Result<impl std::ops::Deref<Target = Self::Client> + Send>> + Send;

    /// Run statement `sql` with `params` on a [`Db::client`]: the rows it changed.
    fn execute(&self, sql: &str, params: &Params<'_>) -> impl Future<Output = Result<u64>> + Send {
        async move { Ok(self.client().await?.execute(sql, params).await?) }
    }

    /// The rows query `sql` with `params` returns.
    fn query(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>>> + Send {
        async move { Ok(self.client().await?.query(sql, params).await?) }
    }

    /// The row query `sql` with `params` returns, if any (more than one is an error).
    fn query_opt(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { Ok(self.client().await?.query_opt(sql, params).await?) }
    }

    /// The one row query `sql` with `params` returns (none or more is an error).
    fn query_one(
        &self,
        sql: &str,
        params: &Params<'_>,
    ) -> impl Future<Output = Result<Row>> + Send {
        async move { Ok(self.client().await?.query_one(sql, params).await?) }
    }
}

use tokio_postgres::Row;

/// A query's parameters, `$1` first.
pub type Params<'a> = [&'a (dyn tokio_postgres::types::ToSql + Sync)];

impl Db for Pool {
    type Client = deadpool_postgres::Client;

    async fn client(&self) -> Result<impl std::ops::Deref<Target = Self::Client> + Send> {
        Ok(Pooled(self.get().await?))
    }
}

impl Db for deadpool_postgres::Client {
    type Client = Self;

    async fn client(&self) -> Result<impl std::ops::Deref<Target = Self::Client> + Send> {
        Ok(self)
    }
}

impl Db for Transaction<'_> {
    type Client = Self;

    async fn client(&self) -> Result<impl std::ops::Deref<Target = Self::Client> + Send> {
        Ok(self)
    }
}

/// A connection taken from the pool for one call (deadpool's `Object` derefs to the wrapped
/// client, not to itself, which is what implements [`GenericClient`]).
struct Pooled(deadpool_postgres::Client);

impl std::ops::Deref for Pooled {
    type Target = deadpool_postgres::Client;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had: the database is down or the pool exhausted (API: 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed (API: 500).
    #[error("database error: {}", describe(.0))]
    Query(#[source] tokio_postgres::Error),
    /// A row with the same unique key exists: another request with the same Idempotency-Key
    /// won the race (API: replays that request's answer, or 409).
    #[error("a duplicate of a unique key: {}", describe(.source))]
    Duplicate {
        /// The unique constraint or index violated, when the server names it.
        constraint: Option<String>,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The object asked for does not exist (API: 404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input does not fit the schema (bad URL, bad value) (API: 400 or startup failure).
    #[error("{0}")]
    Invalid(String),
    /// A row holds a value this version does not know: a state, a reason, a GPU request it
    /// cannot read (API: 500).
    #[error("a stored value cannot be read: {0}")]
    Corrupt(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            Self::Duplicate {
                constraint: e
                    .as_db_error()
                    .and_then(|d| d.constraint())
                    .map(str::to_owned),
                source: e,
            }
        } else {
            Self::Query(e)
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// The server's own message when there is one: tokio-postgres shows only "db error".
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} ({}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

/// A column of vocabulary `T` (a state, a kind, a reason): a name this version does not know
/// is [`StoreError::Corrupt`].
pub(crate) fn named<T>(r: &tokio_postgres::Row, column: &str) -> Result<T>
where
    T: std::str::FromStr<Err = sbx_core::UnknownName>,
{
    r.try_get::<_, &str>(column)?
        .parse()
        .map_err(|e: sbx_core::UnknownName| StoreError::Corrupt(format!("{column}: {e}")))
}

/// Result alias of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A pool of at most `size` connections to the database at `url`
/// (`postgres://user@host:port/db`). Connections are made lazily.
pub fn pool(url: &str, size: usize) -> Result<Pool> {
    let config = tokio_postgres::Config::from_str(url)
        .map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?;
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        // A request waits this long for a connection before it is told the database is busy.
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Invalid(format!("pool: {e}")))
}

/// A round trip to the database: what `/readyz` asks.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ping(db: &impl Db) -> Result<()> {
    let client = db.client().await?;
    client.batch_execute("select 1").await?;
    Ok(())
}
