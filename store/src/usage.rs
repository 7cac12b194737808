//! The meter's records and the usage report.
//!
//! Three sources make a project's usage:
//! - `usage_samples`: what runners sample once a second for each running container (allocated
//!   CPU, memory and GPU share, billed; used CPU and memory beside them), priced when written;
//! - the sandboxes' state changes: a code-interpreter session is billed its allocation for
//!   the time it was `running`, and any sandbox its snapshot's size for the time it was
//!   `paused` — exact to the event, priced when reported;
//! - finished execs (`jobs`): the time each really ran.

use chrono::{DateTime, Utc};

use sbx_core::ids::{ProjectId, SandboxId};
use sbx_core::sandbox::{SandboxKind, SandboxState};

use crate::{Db, GenericClient, Result, named};

/// One sample of one workload.
#[derive(Debug, Clone)]
pub struct UsageSample {
    /// Whose.
    pub project_id: ProjectId,
    /// Which sandbox.
    pub sandbox_id: Option<SandboxId>,
    /// End of the sampled interval.
    pub at: DateTime<Utc>,
    /// Length of the interval.
    pub seconds: f64,
    /// `running` or `paused`.
    pub state: SandboxState,
    /// CPU allocated, in cores.
    pub cpu_cores: f64,
    /// Memory allocated.
    pub memory_bytes: i64,
    /// CPU used over the interval, in cores.
    pub cpu_used: Option<f64>,
    /// Memory in use.
    pub memory_used: Option<i64>,
    /// Disk its folders use at the sample, bytes.
    pub disk_used: Option<i64>,
    /// Bytes its network received over the interval (loopback aside).
    pub net_rx_bytes: Option<i64>,
    /// Bytes its network sent over the interval (loopback aside).
    pub net_tx_bytes: Option<i64>,
    /// GPU model held.
    pub gpu_model: Option<String>,
    /// Cards' worth held.
    pub gpu_share: f64,
    /// Snapshot size.
    pub storage_bytes: i64,
    /// Costs, USD.
    pub cpu_cost: f64,
    /// Memory cost.
    pub memory_cost: f64,
    /// GPU cost.
    pub gpu_cost: f64,
    /// Storage cost.
    pub storage_cost: f64,
}

/// Write `samples` in one statement.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(db: &impl Db, samples: &[UsageSample]) -> Result<()> {
    if samples.is_empty() {
        return Ok(());
    }
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "insert into usage_samples (project_id, sandbox_id, at, seconds, state, cpu_cores,
                 memory_bytes, cpu_used, memory_used, gpu_model, gpu_share, storage_bytes, cpu_cost,
                 memory_cost, gpu_cost, storage_cost, disk_used, net_rx_bytes, net_tx_bytes)
             select * from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::float8[], $5::text[],
                 $6::float8[], $7::int8[], $8::float8[], $9::int8[], $10::text[], $11::float8[],
                 $12::int8[], $13::float8[], $14::float8[], $15::float8[], $16::float8[],
                 $17::int8[], $18::int8[], $19::int8[])",
        )
        .await?;
    macro_rules! col {
        ($f:expr) => {
            samples.iter().map($f).collect::<Vec<_>>()
        };
    }
    client
        .execute(
            &stmt,
            &[
                &col!(|s| s.project_id.0),
                &col!(|s| s.sandbox_id.map(|i| i.0)),
                &col!(|s| s.at),
                &col!(|s| s.seconds),
                &col!(|s| s.state.as_str()),
                &col!(|s| s.cpu_cores),
                &col!(|s| s.memory_bytes),
                &col!(|s| s.cpu_used),
                &col!(|s| s.memory_used),
                &col!(|s| s.gpu_model.clone()),
                &col!(|s| s.gpu_share),
                &col!(|s| s.storage_bytes),
                &col!(|s| s.cpu_cost),
                &col!(|s| s.memory_cost),
                &col!(|s| s.gpu_cost),
                &col!(|s| s.storage_cost),
                &col!(|s| s.disk_used),
                &col!(|s| s.net_rx_bytes),
                &col!(|s| s.net_tx_bytes),
            ],
        )
        .await?;
    Ok(())
}

/// Sampled usage of one sandbox over a range, summed per key.
#[derive(Debug, Clone, Default)]
pub struct SampledSums {
    /// Seconds sampled.
    pub seconds: f64,
    /// Core-seconds allocated.
    pub cpu_core_seconds: f64,
    /// GiB-seconds allocated.
    pub memory_gib_seconds: f64,
    /// Cards'-worth-seconds held.
    pub gpu_seconds: f64,
    /// Costs, USD.
    pub cpu_cost: f64,
    /// Memory cost.
    pub memory_cost: f64,
    /// GPU cost.
    pub gpu_cost: f64,
}

/// Sampled usage of one sandbox (none: the project's execs) on one UTC day.
pub type SampledDay = (Option<SandboxId>, DateTime<Utc>, SampledSums);

/// Sampled usage of `project` (of its sandbox `only`, if given) in [`from`, `to`), per
/// sandbox and UTC day.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn sampled(
    db: &impl Db,
    project: ProjectId,
    only: Option<SandboxId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<SampledDay>> {
    let rows = db
        .query(
            "select sandbox_id, date_trunc('day', at, 'UTC') as day, sum(seconds) as seconds,
                 sum(cpu_cores * seconds) as cpu_core_seconds,
                 sum(memory_bytes::float8 / 1073741824 * seconds) as memory_gib_seconds,
                 sum(gpu_share * seconds) as gpu_seconds, sum(cpu_cost) as cpu_cost,
                 sum(memory_cost) as memory_cost, sum(gpu_cost) as gpu_cost
             from usage_samples where project_id = $1 and at >= $2 and at < $3
               and ($4::uuid is null or sandbox_id = $4)
             group by 1, 2",
            &[&project.0, &from, &to, &only.map(|i| i.0)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, Option<uuid::Uuid>>("sandbox_id").map(SandboxId),
                r.get("day"),
                SampledSums {
                    seconds: r.get("seconds"),
                    cpu_core_seconds: r.get("cpu_core_seconds"),
                    memory_gib_seconds: r.get("memory_gib_seconds"),
                    gpu_seconds: r.get("gpu_seconds"),
                    cpu_cost: r.get("cpu_cost"),
                    memory_cost: r.get("memory_cost"),
                    gpu_cost: r.get("gpu_cost"),
                },
            )
        })
        .collect())
}

/// A stretch of time a sandbox spent in one state, clipped to the range asked for.
#[derive(Debug, Clone)]
pub struct Stretch {
    /// The sandbox.
    pub sandbox_id: SandboxId,
    /// What ran it.
    pub kind: SandboxKind,
    /// `running` or `paused`.
    pub state: SandboxState,
    /// CPU allocated, thousandths of a core.
    pub cpu_millis: i32,
    /// Memory allocated.
    pub memory_bytes: i64,
    /// Snapshot size while paused.
    pub snapshot_bytes: Option<i64>,
    /// Start (clipped).
    pub from: DateTime<Utc>,
    /// End (clipped; now for a state still held).
    pub to: DateTime<Utc>,
}

/// The `running` and `paused` stretches of `project`'s sandboxes (of its sandbox `only`, if
/// given) overlapping [`from`, `to`).
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn stretches(
    db: &impl Db,
    project: ProjectId,
    only: Option<SandboxId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Stretch>> {
    let rows = db
        .query(
            "with ev as (
                 select e.sandbox_id, s.kind, e.state, s.cpu_millis, s.memory_bytes, e.snapshot_bytes,
                        e.at as t0,
                        coalesce(lead(e.at) over (partition by e.sandbox_id order by e.event_id), now()) as t1
                 from sandbox_events e join sandboxes s using (sandbox_id)
                 where s.project_id = $1 and s.created_at < $3
                   and (s.ended_at is null or s.ended_at > $2)
                   and ($4::uuid is null or s.sandbox_id = $4)
                   -- Not state changes: they do not split a stretch.
                   and e.type <> 'sandbox.egress_denied'
             )
             select sandbox_id, kind, state, cpu_millis, memory_bytes, snapshot_bytes,
                    greatest(t0, $2) as since, least(t1, $3) as until
             from ev where state in ('running', 'paused') and t1 > $2 and t0 < $3",
            &[&project.0, &from, &to, &only.map(|i| i.0)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Stretch {
                sandbox_id: SandboxId(r.try_get("sandbox_id")?),
                kind: named(r, "kind")?,
                state: named(r, "state")?,
                cpu_millis: r.try_get("cpu_millis")?,
                memory_bytes: r.try_get("memory_bytes")?,
                snapshot_bytes: r.try_get("snapshot_bytes")?,
                from: r.try_get("since")?,
                to: r.try_get("until")?,
            })
        })
        .collect()
}

/// Exec seconds of `project` that ended in [`from`, `to`), per UTC day: (day, execs, seconds).
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn exec_seconds(
    db: &impl Db,
    project: ProjectId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i64, f64)>> {
    let rows = db
        .query(
            "select date_trunc('day', finished_at, 'UTC') as day, count(*) as execs,
                    coalesce(sum(wall_ms), 0) / 1000 as seconds
             from jobs
             where project_id = $1 and kind = 'exec' and finished_at >= $2 and finished_at < $3
               and wall_ms is not null
             group by 1",
            &[&project.0, &from, &to],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("day"), r.get("execs"), r.get("seconds")))
        .collect())
}

/// One step of a sandbox's metrics: its samples in (`at` − step, `at`] summed up.
#[derive(Debug, Clone)]
pub struct MetricPoint {
    /// Start of the step.
    pub at: DateTime<Utc>,
    /// CPU used, cores, averaged over the step (none: not read).
    pub cpu_cores: Option<f64>,
    /// Memory in use, bytes, the step's highest.
    pub memory_bytes: Option<i64>,
    /// Disk in use, bytes, the step's highest.
    pub disk_bytes: Option<i64>,
    /// Bytes received in the step.
    pub net_rx_bytes: Option<i64>,
    /// Bytes sent in the step.
    pub net_tx_bytes: Option<i64>,
    /// What the step cost, USD.
    pub cost: f64,
}

/// Sandbox `sandbox`'s samples in [`from`, `to`) in steps of `step_s` seconds from `from`.
#[tracing::instrument(level = "debug", skip_all, fields(sandbox = %sandbox))]
pub async fn metrics(
    db: &impl Db,
    sandbox: SandboxId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step_s: f64,
) -> Result<Vec<MetricPoint>> {
    let rows = db
        .query(
            "select date_bin(make_interval(secs => $4), at, $2) as step,
                    sum(cpu_used * seconds) filter (where cpu_used is not null)
                        / nullif(sum(seconds) filter (where cpu_used is not null), 0) as cpu,
                    max(memory_used) as memory, max(disk_used) as disk,
                    sum(net_rx_bytes)::int8 as rx, sum(net_tx_bytes)::int8 as tx,
                    sum(cpu_cost + memory_cost + gpu_cost + storage_cost) as cost
             from usage_samples where sandbox_id = $1 and at >= $2 and at < $3
             group by 1 order by 1",
            &[&sandbox.0, &from, &to, &step_s],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(MetricPoint {
                at: r.try_get("step")?,
                cpu_cores: r.try_get("cpu")?,
                memory_bytes: r.try_get("memory")?,
                disk_bytes: r.try_get("disk")?,
                net_rx_bytes: r.try_get("rx")?,
                net_tx_bytes: r.try_get("tx")?,
                cost: r.try_get("cost")?,
            })
        })
        .collect()
}

/// Merge the one-second samples older than `keep_s` seconds into one row per sandbox (or job),
/// state and minute: seconds, costs and network bytes summed, allocations (CPU, memory, GPU
/// share) and CPU used weighted by time, memory and disk used at their highest. Every sum
/// `GET /v1/usage` and the budget make stays the same (to a byte-second of memory). Returns
/// the rows merged away.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn downsample(db: &impl Db, keep_s: f64) -> Result<u64> {
    let row = db
        .query_one(
            "with old as (
                 delete from usage_samples
                 where not merged and at < now() - $1 * interval '1 second'
                 returning *
             ), merged as (
                 insert into usage_samples (project_id, sandbox_id, job_id, at, seconds, state,
                     cpu_cores, memory_bytes, cpu_used, memory_used, gpu_model, gpu_share,
                     storage_bytes, cpu_cost, memory_cost, gpu_cost, storage_cost, disk_used,
                     net_rx_bytes, net_tx_bytes, merged)
                 select project_id, sandbox_id, job_id, max(at), sum(seconds), state,
                     coalesce(sum(cpu_cores * seconds) / nullif(sum(seconds), 0), 0),
                     coalesce(round(sum(memory_bytes::float8 * seconds)
                         / nullif(sum(seconds), 0))::int8, 0),
                     sum(cpu_used * seconds) filter (where cpu_used is not null)
                         / nullif(sum(seconds) filter (where cpu_used is not null), 0),
                     max(memory_used), max(gpu_model),
                     coalesce(sum(gpu_share * seconds) / nullif(sum(seconds), 0), 0),
                     max(storage_bytes), sum(cpu_cost), sum(memory_cost), sum(gpu_cost),
                     sum(storage_cost), max(disk_used), sum(net_rx_bytes)::int8,
                     sum(net_tx_bytes)::int8, true
                 from old
                 group by project_id, sandbox_id, job_id, state,
                     date_bin('1 minute', at, timestamptz '2000-01-01')
                 returning 1
             )
             select (select count(*) from old) - (select count(*) from merged)",
            &[&keep_s],
        )
        .await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}
