//! The durable queue. Jobs wait in the small `queue` table (only unfinished jobs live there);
//! runners claim them with `FOR UPDATE SKIP LOCKED`, hold a lease they renew while running, and
//! finish with a statement that checks they still hold it. Expired leases are recovered: an
//! exec (a wasm run has no side effects) is queued again, up to [`MAX_ATTEMPTS`] claims.
//!
//! Notifications: one `NOTIFY sbx_jobs` per insert batch wakes idle runners; `sbx_done` (payload
//! the ids of jobs that ended, comma-separated: a runner records results in groups) wakes
//! waiting requests and log streams; `sbx_cancel` (the job id) reaches the
//! runner of a cancelled job at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;

use sbx_core::exec::ExecOutcome;
use sbx_core::ids::{ApiKeyId, BatchId, JobId, ProjectId, RunnerId};
use sbx_core::notes::{CANCEL as CHANNEL_CANCEL, DONE as CHANNEL_DONE, JOBS as CHANNEL_JOBS};

use crate::exec::QueuedExec;
use crate::{Db, Pool, Result};

/// Claims of one job before it is failed rather than queued again.
pub const MAX_ATTEMPTS: i32 = 3;

/// How urgent a job is; lower runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A caller waits on the answer (`POST /v1/exec` through the queue).
    Interactive = 0,
    /// `POST /v1/jobs`.
    Async = 1,
    /// A batch item.
    Batch = 2,
}

/// A job to queue.
pub struct NewJob {
    /// Its id.
    pub job_id: JobId,
    /// What to run.
    pub spec: QueuedExec,
    /// The request as recorded on the job row.
    pub recorded: serde_json::Value,
    /// Urgency.
    pub priority: Priority,
    /// For batch items: the batch, the caller's item id, the expected stdout.
    pub batch: Option<(BatchId, String, Option<String>)>,
    /// The Idempotency-Key and the SHA-256 of the body it came with.
    pub idempotency: Option<(String, Vec<u8>)>,
    /// Where to announce the job's end ([`crate::webhooks`]).
    pub callback_url: Option<String>,
}

/// Insert `jobs` for `project` in `tx` and wake the runners once.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project))]
pub async fn enqueue(
    tx: &Transaction<'_>,
    project: ProjectId,
    key: Option<ApiKeyId>,
    jobs: &[NewJob],
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(jobs.len());
    let mut languages = Vec::with_capacity(jobs.len());
    let mut requests = Vec::with_capacity(jobs.len());
    let mut specs = Vec::with_capacity(jobs.len());
    let mut priorities = Vec::with_capacity(jobs.len());
    let mut batch_ids = Vec::with_capacity(jobs.len());
    let mut item_ids = Vec::with_capacity(jobs.len());
    let mut expected = Vec::with_capacity(jobs.len());
    let mut idem_keys = Vec::with_capacity(jobs.len());
    let mut idem_hashes = Vec::with_capacity(jobs.len());
    let mut callbacks = Vec::with_capacity(jobs.len());
    for j in jobs {
        ids.push(j.job_id.0);
        languages.push(j.spec.language.clone());
        requests.push(j.recorded.clone());
        specs.push(serde_json::to_value(&j.spec).expect("a spec serializes"));
        priorities.push(j.priority as i16);
        batch_ids.push(j.batch.as_ref().map(|b| b.0.0));
        item_ids.push(j.batch.as_ref().map(|b| b.1.clone()));
        expected.push(j.batch.as_ref().and_then(|b| b.2.clone()));
        idem_keys.push(j.idempotency.as_ref().map(|i| i.0.clone()));
        idem_hashes.push(j.idempotency.as_ref().map(|i| i.1.clone()));
        callbacks.push(j.callback_url.as_deref());
    }
    // Arrays in, one statement per table: 10 000 items cost two round trips, not 20 000.
    tx.execute(
        "insert into jobs (job_id, project_id, api_key_id, kind, status, language, request, batch_id,
                           item_id, expected_stdout, idempotency_key, request_hash, callback_url)
         select id, $2, $3, 'exec', 'queued', lang, req, bid, iid, exp, ik, ih, cb
         from unnest($1::uuid[], $4::text[], $5::jsonb[], $6::uuid[], $7::text[], $8::text[],
                     $9::text[], $10::bytea[], $11::text[]) as t(id, lang, req, bid, iid, exp, ik, ih, cb)",
        &[&ids, &project.0, &key.map(|k| k.0), &languages, &requests, &batch_ids, &item_ids, &expected, &idem_keys, &idem_hashes, &callbacks],
    )
    .await?;
    tx.execute(
        "insert into queue (job_id, project_id, priority, state, spec)
         select id, $2, pr, 'queued', sp from unnest($1::uuid[], $3::smallint[], $4::jsonb[]) as t(id, pr, sp)",
        &[&ids, &project.0, &priorities, &specs],
    )
    .await?;
    tx.execute(&format!("notify {CHANNEL_JOBS}"), &[]).await?;
    Ok(())
}

/// A job a runner has claimed.
#[derive(Debug)]
pub struct Claimed {
    /// The job.
    pub job_id: JobId,
    /// Its project.
    pub project_id: ProjectId,
    /// What to run.
    pub spec: serde_json::Value,
    /// Claims so far, this one included.
    pub attempts: i32,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
}

/// Claim up to `n` queued jobs for `runner`, leased for `lease`. Most urgent first; within a
/// priority, projects take turns (each project's oldest job, then each one's second, …), so one
/// project's 10 000 items do not starve another's.
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn claim(
    db: &impl Db,
    runner: RunnerId,
    n: i64,
    lease: Duration,
) -> Result<Vec<Claimed>> {
    use crate::GenericClient as _;
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "with recursive projects as (
                 -- The projects with queued jobs, one index probe each (a loose index scan):
                 -- `select distinct` would read every queued job, at every claim.
                 (select project_id from queue where state = 'queued' order by project_id limit 1)
                 union all
                 select (select q.project_id from queue q
                         where q.state = 'queued' and q.project_id > p.project_id
                         order by q.project_id limit 1)
                 from projects p where p.project_id is not null
             ),
             candidates as (
                 select c.job_id, c.priority, c.created_at,
                        row_number() over (partition by p.project_id order by c.priority, c.created_at) as turn
                 from projects p
                 cross join lateral (
                     select q.job_id, q.priority, q.created_at from queue q
                     where q.project_id = p.project_id and q.state = 'queued'
                     order by q.priority, q.created_at
                     limit $2
                     for update skip locked
                 ) c
                 where p.project_id is not null
             ),
             picked as (
                 select job_id from candidates order by priority, turn, created_at limit $2
             ),
             claimed as (
                 update queue q
                 set state = 'running', lease_owner = $1, attempts = q.attempts + 1,
                     lease_expires_at = now() + make_interval(secs => $3)
                 from picked where q.job_id = picked.job_id
                 returning q.job_id, q.project_id, q.spec, q.attempts, q.created_at
             ),
             started as (
                 update jobs j set status = 'running', started_at = now(), attempts = c.attempts
                 from claimed c where j.job_id = c.job_id
             )
             select job_id, project_id, spec, attempts, created_at from claimed",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&runner.0, &n, &lease.as_secs_f64()])
        .await?;
    Ok(rows
        .iter()
        .map(|r| Claimed {
            job_id: JobId(r.get("job_id")),
            project_id: ProjectId(r.get("project_id")),
            spec: r.get("spec"),
            attempts: r.get("attempts"),
            queued_at: r.get("created_at"),
        })
        .collect())
}

/// Renew `runner`'s leases on `jobs`. Returns the jobs it still holds, each with whether a
/// cancel was asked; a job missing from the answer was lost (recovered by another runner).
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn renew(
    db: &impl Db,
    runner: RunnerId,
    jobs: &[JobId],
    lease: Duration,
) -> Result<Vec<(JobId, bool)>> {
    use crate::GenericClient as _;
    if jobs.is_empty() {
        return Ok(vec![]);
    }
    let client = db.client().await?;
    let ids: Vec<uuid::Uuid> = jobs.iter().map(|j| j.0).collect();
    let rows = client
        .query(
            "update queue set lease_expires_at = now() + make_interval(secs => $3)
             where job_id = any($2) and lease_owner = $1 and state = 'running'
             returning job_id, cancel_requested",
            &[&runner.0, &ids, &lease.as_secs_f64()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (JobId(r.get("job_id")), r.get("cancel_requested")))
        .collect())
}

/// Record `outcome` for `job` if `runner` still holds its lease. `false` if it does not (the job
/// was recovered and will end elsewhere): the outcome is then dropped, so a job ends once.
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner, job = %job))]
pub async fn complete(
    db: &impl Db,
    runner: RunnerId,
    job: JobId,
    outcome: &ExecOutcome,
) -> Result<bool> {
    Ok(!complete_many(db, runner, &[(job, outcome)])
        .await?
        .is_empty())
}

/// [`complete`] for several jobs in one statement (one commit, one round trip, one
/// notification on [`CHANNEL_DONE`] per 100 ended jobs, their ids comma-separated). Returns the
/// jobs recorded; the others' leases were lost.
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn complete_many(
    db: &impl Db,
    runner: RunnerId,
    jobs: &[(JobId, &ExecOutcome)],
) -> Result<Vec<JobId>> {
    use crate::GenericClient as _;
    if jobs.is_empty() {
        return Ok(vec![]);
    }
    let client = db.client().await?;
    let stmt = client
        .prepare_cached(
            "with input as (
                 select * from unnest($1::uuid[], $3::text[], $4::jsonb[], $5::int[], $6::float8[],
                                      $7::float8[], $8::bigint[], $9::text[])
                     as t(job_id, status, result, exit_code, duration_ms, wall_ms, memory_peak_bytes, stdout)
             ),
             done as (
                 delete from queue q using input i
                 where q.job_id = i.job_id and q.lease_owner = $2
                 returning q.job_id
             ),
             ended as (
                 update jobs j set status = i.status, result = i.result, exit_code = i.exit_code,
                        duration_ms = i.duration_ms, wall_ms = i.wall_ms,
                        memory_peak_bytes = i.memory_peak_bytes, finished_at = now(),
                        verdict = case when j.batch_id is null then null
                                       else sbx_verdict(i.status, i.stdout, j.expected_stdout) end
                 from done d join input i on i.job_id = d.job_id
                 where j.job_id = d.job_id
                 returning j.job_id, j.batch_id
             ),
             -- One notification per 100 ended jobs, their ids comma-separated (a payload
             -- holds under 8 000 bytes).
             notified as (
                 select pg_notify($10, string_agg(job_id::text, ','))
                 from (select job_id, (row_number() over ()) / 100 as part from ended) e
                 group by part
             )
             select job_id, batch_id from ended, (select count(*) from notified) n",
        )
        .await?;
    let ids: Vec<uuid::Uuid> = jobs.iter().map(|(j, _)| j.0).collect();
    let statuses: Vec<&str> = jobs.iter().map(|(_, o)| o.status.as_str()).collect();
    let results: Vec<serde_json::Value> = jobs
        .iter()
        .map(|(_, o)| serde_json::to_value(o).expect("an outcome serializes"))
        .collect();
    let exit_codes: Vec<Option<i32>> = jobs.iter().map(|(_, o)| o.exit_code).collect();
    let durations: Vec<f64> = jobs.iter().map(|(_, o)| o.duration_ms).collect();
    let walls: Vec<f64> = jobs.iter().map(|(_, o)| o.usage.wall_ms).collect();
    let peaks: Vec<i64> = jobs
        .iter()
        .map(|(_, o)| o.usage.memory_peak_bytes as i64)
        .collect();
    let stdouts: Vec<&str> = jobs.iter().map(|(_, o)| o.stdout.as_str()).collect();
    let rows = client
        .query(
            &stmt,
            &[
                &ids,
                &runner.0,
                &statuses,
                &results,
                &exit_codes,
                &durations,
                &walls,
                &peaks,
                &stdouts,
                &CHANNEL_DONE,
            ],
        )
        .await?;
    finish_batches_of(&*client, &rows).await;
    Ok(rows.iter().map(|r| JobId(r.get(0))).collect())
}

/// Mark finished the batches (`batch_id` of `ended`, rows of jobs that just ended)
/// whose last open item was among them. The jobs' ends are recorded already, whatever happens
/// here: a batch this misses is finished by [`finish_idle_batches`].
async fn finish_batches_of(client: &impl crate::GenericClient, ended: &[tokio_postgres::Row]) {
    let mut batches: Vec<uuid::Uuid> = ended
        .iter()
        .filter_map(|r| r.get::<_, Option<uuid::Uuid>>("batch_id"))
        .collect();
    batches.sort_unstable();
    batches.dedup();
    for batch in batches {
        if let Err(e) = finish_batch_if_done(client, BatchId(batch)).await {
            tracing::warn!(batch_id = %batch, error = %e, "could not mark a batch finished; the sweep will");
        }
    }
}

/// Mark finished every unfinished batch with no open item: those whose last item's runner
/// stopped between recording it and finishing the batch. Cheap: unfinished batches are few,
/// and open items are a partial index. Returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn finish_idle_batches(db: &impl Db) -> Result<u64> {
    db
        .execute(
            "update batches b set finished_at = now()
             where b.finished_at is null
               and not exists (select 1 from jobs j where j.batch_id = b.batch_id and j.finished_at is null)",
            &[],
        )
        .await
}

async fn finish_batch_if_done(client: &impl crate::GenericClient, batch: BatchId) -> Result<()> {
    client
        .execute(
            "update batches set finished_at = now()
             where batch_id = $1 and finished_at is null
               and not exists (select 1 from jobs where batch_id = $1 and finished_at is null)",
            &[&batch.0],
        )
        .await?;
    Ok(())
}

/// Queue again (or, past [`MAX_ATTEMPTS`], fail) the jobs whose leases expired: their runner
/// died or lost the database. Returns (requeued, failed).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn recover_expired(db: &impl Db) -> Result<(u64, u64)> {
    use crate::GenericClient as _;
    let client = db.client().await?;
    let requeued = client
        .execute(
            "with lost as (
                 update queue set state = 'queued', lease_owner = null, lease_expires_at = null
                 where state = 'running' and lease_expires_at < now() and attempts < $1
                 returning job_id
             )
             update jobs j set status = 'queued', error = 'its runner was lost; queued again'
             from lost where j.job_id = lost.job_id",
            &[&MAX_ATTEMPTS],
        )
        .await?;
    // Past their last attempt: ended as errors, in one statement, so that a crash between
    // leaving the queue and recording the end cannot leave a job `running` with no lease.
    let rows = client
        .query(
            "with dead as (
                 delete from queue where state = 'running' and lease_expires_at < now() and attempts >= $1
                 returning job_id
             ),
             ended as (
                 update jobs j set status = 'error',
                        verdict = case when j.batch_id is null then null else 'error' end,
                        finished_at = now(),
                        error = 'its runner was lost on every attempt',
                        result = jsonb_build_object('status', 'error', 'message', 'its runner was lost on every attempt')
                 from dead where j.job_id = dead.job_id
                 returning j.job_id, j.batch_id
             ),
             notified as (
                 select pg_notify($2, string_agg(job_id::text, ','))
                 from (select job_id, (row_number() over ()) / 100 as part from ended) e
                 group by part
             )
             select job_id, batch_id from ended, (select count(*) from notified) n",
            &[&MAX_ATTEMPTS, &CHANNEL_DONE],
        )
        .await?;
    let failed = rows.len() as u64;
    finish_batches_of(&*client, &rows).await;
    if requeued > 0 {
        client
            .execute(&format!("notify {CHANNEL_JOBS}"), &[])
            .await?;
    }
    Ok((requeued, failed))
}

/// Hand `jobs` back to the queue (a runner shutting down before they ended).
#[tracing::instrument(level = "debug", skip_all, fields(runner = %runner))]
pub async fn hand_back(db: &impl Db, runner: RunnerId, jobs: &[JobId]) -> Result<u64> {
    use crate::GenericClient as _;
    let client = db.client().await?;
    let ids: Vec<uuid::Uuid> = jobs.iter().map(|j| j.0).collect();
    let n = client
        .execute(
            "with back as (
                 update queue set state = 'queued', lease_owner = null, lease_expires_at = null,
                                  attempts = greatest(attempts - 1, 0)
                 where job_id = any($2) and lease_owner = $1 returning job_id
             )
             update jobs j set status = 'queued' from back where j.job_id = back.job_id",
            &[&runner.0, &ids],
        )
        .await?;
    client
        .execute(&format!("notify {CHANNEL_JOBS}"), &[])
        .await?;
    Ok(n)
}

/// What cancelling a job did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// It was queued; it is now cancelled.
    WhileQueued,
    /// It is running; its runner was told to stop it.
    WhileRunning,
    /// It had already ended.
    AlreadyEnded,
}

/// Cancel `job` of `project`. `None` if there is no such job.
#[tracing::instrument(level = "debug", skip_all, fields(project = %project, job = %job))]
pub async fn cancel(pool: &Pool, project: ProjectId, job: JobId) -> Result<Option<Cancelled>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "select status from jobs where job_id = $1 and project_id = $2 for update",
            &[&job.0, &project.0],
        )
        .await?
    else {
        return Ok(None);
    };
    let status: String = row.get(0);
    let q = tx
        .query_opt(
            "select state from queue where job_id = $1 for update",
            &[&job.0],
        )
        .await?;
    let outcome = match (status.as_str(), q.map(|r| r.get::<_, String>(0))) {
        (_, Some(state)) if state == "queued" => {
            tx.execute("delete from queue where job_id = $1", &[&job.0])
                .await?;
            let result =
                serde_json::json!({"status": "cancelled", "message": "cancelled before it ran"});
            let batch: Option<uuid::Uuid> = tx
                .query_one(
                    "update jobs set status = 'cancelled', finished_at = now(), result = $2,
                            verdict = case when batch_id is null then null else 'cancelled' end
                     where job_id = $1 returning batch_id",
                    &[&job.0, &result],
                )
                .await?
                .get(0);
            tx.execute(
                "select pg_notify($1, $2)",
                &[&CHANNEL_DONE, &job.0.to_string()],
            )
            .await?;
            tx.commit().await?;
            if let Some(b) = batch {
                finish_batch_if_done(&client, BatchId(b)).await?;
            }
            return Ok(Some(Cancelled::WhileQueued));
        }
        (_, Some(_)) => {
            tx.execute(
                "update queue set cancel_requested = true where job_id = $1",
                &[&job.0],
            )
            .await?;
            tx.execute(
                "select pg_notify($1, $2)",
                &[&CHANNEL_CANCEL, &job.0.to_string()],
            )
            .await?;
            Cancelled::WhileRunning
        }
        (_, None) => Cancelled::AlreadyEnded,
    };
    tx.commit().await?;
    Ok(Some(outcome))
}

/// Jobs waiting and running, for `/metrics`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn depth(db: &impl Db) -> Result<(i64, i64)> {
    let row = db
        .query_one(
            "select count(*) filter (where state = 'queued') as queued,
                    count(*) filter (where state = 'running') as running
             from queue",
            &[],
        )
        .await?;
    Ok((row.get("queued"), row.get("running")))
}
