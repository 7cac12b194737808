//! Migrations: the files under `migrations/`, compiled in, applied in order once each. Runs
//! under a session advisory lock, so API nodes and runners starting together migrate once.

use crate::{Pool, Result, StoreError};

/// Every migration, in order: (version, name, SQL). Never edit one that has shipped; add one.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../migrations/V1__foundation.sql"),
    ),
    (2, "queue", include_str!("../../migrations/V2__queue.sql")),
    (
        3,
        "webhooks",
        include_str!("../../migrations/V3__webhooks.sql"),
    ),
    (
        4,
        "open_batch_items",
        include_str!("../../migrations/V4__open_batch_items.sql"),
    ),
    (
        5,
        "sandboxes",
        include_str!("../../migrations/V5__sandboxes.sql"),
    ),
    (
        6,
        "containers",
        include_str!("../../migrations/V6__containers.sql"),
    ),
    (
        7,
        "container_jobs",
        include_str!("../../migrations/V7__container_jobs.sql"),
    ),
    (
        8,
        "open_batches",
        include_str!("../../migrations/V8__open_batches.sql"),
    ),
    (
        9,
        "remote_containers",
        include_str!("../../migrations/V9__remote_containers.sql"),
    ),
    (
        10,
        "batch_idempotency",
        include_str!("../../migrations/V10__batch_idempotency.sql"),
    ),
    (
        11,
        "disk_caps",
        include_str!("../../migrations/V11__disk_caps.sql"),
    ),
    (
        12,
        "container_runtime",
        include_str!("../../migrations/V12__container_runtime.sql"),
    ),
    (
        13,
        "accounts",
        include_str!("../../migrations/V13__accounts.sql"),
    ),
    (14, "kyc", include_str!("../../migrations/V14__kyc.sql")),
    (
        15,
        "budgets",
        include_str!("../../migrations/V15__budgets.sql"),
    ),
    (
        16,
        "email_case",
        include_str!("../../migrations/V16__email_case.sql"),
    ),
    (
        17,
        "webhook_receipts",
        include_str!("../../migrations/V17__webhook_receipts.sql"),
    ),
    (
        18,
        "sandbox_events_out",
        include_str!("../../migrations/V18__sandbox_events_out.sql"),
    ),
    (
        19,
        "sandbox_metrics",
        include_str!("../../migrations/V19__sandbox_metrics.sql"),
    ),
    (
        20,
        "runner_endpoints",
        include_str!("../../migrations/V20__runner_endpoints.sql"),
    ),
    (
        21,
        "templates",
        include_str!("../../migrations/V21__templates.sql"),
    ),
    (
        22,
        "egress",
        include_str!("../../migrations/V22__egress.sql"),
    ),
    (23, "ports", include_str!("../../migrations/V23__ports.sql")),
];

/// A short digest of every migration's text: names a migrated template database in tests.
pub fn fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (version, name, sql) in MIGRATIONS {
        h.update(format!("{version}{name}{sql}"));
    }
    hex::encode(&h.finalize()[..6])
}

/// Arbitrary constant naming the migration lock.
const LOCK_KEY: i64 = 0x5b5_0001;

/// Apply the migrations the database has not seen. Returns how many were applied.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn migrate(pool: &Pool) -> Result<usize> {
    let mut client = pool.get().await?;
    client
        .execute("select pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let outcome = apply(&mut client).await;
    // Unlock on the same connection whatever happened; a lost connection unlocks by itself.
    let _ = client
        .execute("select pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    outcome
}

async fn apply(client: &mut deadpool_postgres::Client) -> Result<usize> {
    client
        .batch_execute(
            "create table if not exists schema_migrations (
                version    integer primary key,  -- the V<n> of the file
                name       text not null,        -- the rest of its name
                created_at timestamptz not null default now()
            )",
        )
        .await?;
    let applied: Vec<i32> = client
        .query("select version from schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut count = 0;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Invalid(format!("migration V{version}__{name}: {e}")))?;
        tx.execute(
            "insert into schema_migrations (version, name) values ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "migration applied");
        count += 1;
    }
    Ok(count)
}
