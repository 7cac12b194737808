//! The worker loop: claims queued jobs from PostgreSQL and runs them on a backend.
//!
//! A runner registers, then loops: claim jobs for its free slots and, while its jobs are short,
//! a few more held ready (`prefetch`, so that a claim takes several jobs rather than one per
//! finished job), run each as a task, and sleep until a `NOTIFY` says jobs were queued, enough
//! places free, or the poll interval passes (the fallback when notifications are lost). Results
//! are recorded by one task, in groups of those that ended together. Beside it, a maintenance
//! task renews the leases of claimed jobs (stopping any whose lease was lost, or whose cancel
//! was asked), heartbeats, recovers other runners' expired leases and finishes batches left
//! unfinished. On shutdown it stops claiming, hands held jobs back without starting them, lets
//! running jobs finish and their results be recorded for a grace period, then hands the rest
//! back to the queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sbx_core::exec::{ExecOutcome, ExecStatus, Usage};
use sbx_core::ids::{JobId, RunnerId};
use sbx_core::notes::Note;
use sbx_store::Pool;
use sbx_store::exec::QueuedExec;
use sbx_store::notify::{self, Notes};
use sbx_store::queue::{self, Claimed};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use sbx_core::{Backend, BackendError};

mod live_logs;
use live_logs::pump_logs;

/// How a worker paces itself.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once.
    pub slots: usize,
    /// Jobs claimed beyond the free slots, held (leased) until a slot frees, while this
    /// runner's recent jobs took under [`SHORT_JOB`]. While the queue has work, a claim then
    /// waits until this many places are free and takes them in one statement. A held job waits
    /// only behind jobs expected to be short; once they run longer, this runner holds none, so
    /// that idle runners take them instead. 0 claims one job per finished job.
    pub prefetch: usize,
    /// How long a claim holds a job without renewal; renewed every third of it.
    pub lease: Duration,
    /// Longest sleep between claims when no notification comes.
    pub poll: Duration,
    /// How often expired leases are looked for.
    pub recover_every: Duration,
    /// How long running jobs may finish after shutdown begins before they are handed back.
    pub grace: Duration,
    /// How often live output is written to the database.
    pub log_flush: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            slots: 4,
            prefetch: 4,
            lease: Duration::from_secs(15),
            poll: Duration::from_secs(1),
            recover_every: Duration::from_secs(2),
            grace: Duration::from_secs(20),
            log_flush: Duration::from_millis(100),
        }
    }
}

/// A registered runner's worker.
pub struct Worker {
    id: RunnerId,
    pool: Pool,
    backend: Arc<dyn Backend>,
    notes: Notes,
    config: WorkerConfig,
    /// Claimed jobs not yet ended (running or held), with their cancel tokens.
    running: Mutex<HashMap<JobId, CancellationToken>>,
    /// Places for claimed jobs: `slots + prefetch`.
    held: Arc<Semaphore>,
    /// How long this runner's jobs have run lately (a moving average, µs); `u64::MAX` before
    /// the first.
    recent_run_us: std::sync::atomic::AtomicU64,
    /// Jobs running now: `slots`.
    slots: Arc<Semaphore>,
    slot_freed: Notify,
    /// Cancelled when shutdown begins: held jobs do not start after it.
    stopping: CancellationToken,
    /// Ended jobs' results, for the task that records them in groups.
    completions: tokio::sync::mpsc::UnboundedSender<Completion>,
    completions_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Completion>>>,
}

/// Jobs this short on average are claimed ahead (see [`WorkerConfig::prefetch`]): against
/// them, a claim per job is a cost worth saving; against longer ones it is not, and a held job
/// would wait behind them while another runner might idle.
pub const SHORT_JOB: Duration = Duration::from_millis(50);

/// Results recorded in one statement at most: the jobs that ended while the last group was
/// being written.
const COMPLETION_GROUP: usize = 64;

/// An ended job's result on its way to the database, and who waits for it to be recorded.
struct Completion {
    job: JobId,
    outcome: ExecOutcome,
    /// Whether it was recorded (`false`: the lease was lost), or why writing failed.
    recorded: tokio::sync::oneshot::Sender<Result<bool, sbx_store::StoreError>>,
}

impl Worker {
    /// Register a runner on `hostname` and make its worker.
    pub async fn register(
        pool: Pool,
        backend: Arc<dyn Backend>,
        notes: Notes,
        hostname: &str,
        config: WorkerConfig,
    ) -> sbx_store::Result<Arc<Self>> {
        let id = sbx_store::runners::register(&pool, hostname, config.slots as i32).await?;
        tracing::info!(runner_id = %id, slots = config.slots, "runner registered");
        let (completions, completions_rx) = tokio::sync::mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            completions,
            completions_rx: Mutex::new(Some(completions_rx)),
            stopping: CancellationToken::new(),
            id,
            pool,
            backend,
            notes,
            held: Arc::new(Semaphore::new(config.slots + config.prefetch)),
            recent_run_us: std::sync::atomic::AtomicU64::new(u64::MAX),
            slots: Arc::new(Semaphore::new(config.slots.max(1))),
            config,
            running: Mutex::new(HashMap::new()),
            slot_freed: Notify::new(),
        }))
    }

    /// This runner's id.
    pub fn id(&self) -> RunnerId {
        self.id
    }

    /// Claim and run jobs until `shutdown` fires; then finish or hand back what runs.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let maintenance = tokio::spawn(self.clone().maintain(shutdown.clone()));
        let completer = self
            .completions_rx
            .lock()
            .expect("completions lock")
            .take()
            .map(|rx| tokio::spawn(self.clone().record_results(rx)));
        let mut notes = self.notes.subscribe();
        let capacity = self.config.slots + self.config.prefetch;
        // Claim even one free place: jobs may have been queued since the queue was drained.
        let mut eager = true;
        // The last claim found fewer jobs than it asked for.
        let mut drained = false;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let prefetch = if self.jobs_are_short() {
                self.config.prefetch
            } else {
                0
            };
            let refill = prefetch.max(1);
            let claimed_now = capacity - self.held.available_permits();
            let free = (self.config.slots + prefetch).saturating_sub(claimed_now);
            if free > 0 && (eager || free >= refill) {
                match queue::claim(&self.pool, self.id, free as i64, self.config.lease).await {
                    Ok(claimed) => {
                        drained = claimed.len() < free;
                        let now = chrono::Utc::now();
                        for job in claimed {
                            let waited = (now - job.queued_at).to_std().unwrap_or_default();
                            metrics::histogram!("sbx_claim_latency_seconds")
                                .record(waited.as_secs_f64());
                            self.running
                                .lock()
                                .expect("running lock")
                                .insert(job.job_id, CancellationToken::new());
                            let held = self
                                .held
                                .clone()
                                .try_acquire_owned()
                                .expect("a free place was counted");
                            let me = self.clone();
                            tokio::spawn(async move {
                                // Claimed in order, started in order: the semaphore is fair.
                                let slot = me.slots.clone().acquire_owned().await;
                                if me.stopping.is_cancelled() {
                                    // Still in `running`: the drain hands it back.
                                    return;
                                }
                                let started = std::time::Instant::now();
                                me.execute(job).await;
                                me.ran_for(started.elapsed());
                                drop((slot, held));
                                me.slot_freed.notify_one();
                            });
                        }
                        if !drained {
                            eager = false;
                            continue;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming jobs failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            eager = false;
            tokio::select! {
                () = shutdown.cancelled() => break,
                // While the queue has work, places freeing are what to wait for.
                () = self.slot_freed.notified(), if !drained => {}
                woken = notify::wait(&mut notes, self.config.poll, |n| matches!(n, Note::JobsQueued)) => {
                    eager = true;
                    if woken == notify::Woken::Note {
                        drained = false;
                    }
                }
            }
        }
        self.drain().await;
        maintenance.abort();
        if let Some(c) = completer {
            c.abort();
        }
        let _ = sbx_store::runners::stopped(&self.pool, self.id).await;
    }

    /// Whether this runner's recent jobs were short enough to claim ahead of free slots.
    fn jobs_are_short(&self) -> bool {
        let us = self
            .recent_run_us
            .load(std::sync::atomic::Ordering::Relaxed);
        us <= SHORT_JOB.as_micros() as u64
    }

    /// Count a job that ran for `took` (from its slot to its recorded result) in the average.
    fn ran_for(&self, took: Duration) {
        let sample = took.as_micros().min(u64::MAX as u128 / 2) as u64;
        let _ = self.recent_run_us.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |avg| {
                Some(if avg == u64::MAX {
                    sample
                } else {
                    // An eighth of the way to the new sample.
                    avg - avg / 8 + sample / 8
                })
            },
        );
    }

    /// Let running jobs finish for the grace period, then stop and hand back the rest.
    async fn drain(&self) {
        // Held jobs that have not started will not: they go back to the queue below.
        self.stopping.cancel();
        let capacity = self.config.slots + self.config.prefetch;
        let deadline = tokio::time::Instant::now() + self.config.grace;
        // Every job's task has ended once all places are free: held ones at once, running ones
        // when their result is recorded.
        while self.held.available_permits() < capacity && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = self.claimed();
        if left.is_empty() {
            return;
        }
        // Handed back before they are stopped: a stopped job's outcome then finds its lease
        // gone and is dropped, rather than recorded as a cancel nobody asked for.
        match queue::hand_back(&self.pool, self.id, &left).await {
            Ok(n) => tracing::info!(jobs = n, "handed back unfinished jobs"),
            Err(e) => {
                tracing::warn!(error = %e, "could not hand back jobs; their leases will expire")
            }
        }
        let running = self.running.lock().expect("running lock");
        for id in &left {
            if let Some(token) = running.get(id) {
                token.cancel();
            }
        }
    }

    /// Renew leases, heartbeat, recover expired leases, and act on cancels, until shutdown.
    async fn maintain(self: Arc<Self>, shutdown: CancellationToken) {
        let mut notes = self.notes.subscribe();
        let mut renew = tokio::time::interval(self.config.lease / 3);
        let mut recover = tokio::time::interval(self.config.recover_every);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = renew.tick() => self.renew().await,
                _ = recover.tick() => {
                    match queue::recover_expired(&self.pool).await {
                        Ok((0, 0)) => {}
                        Ok((requeued, failed)) => {
                            metrics::counter!("sbx_lease_recoveries_total").increment(requeued + failed);
                            tracing::warn!(requeued, failed, "recovered jobs whose runner was lost");
                        }
                        Err(e) => tracing::warn!(error = %e, "lease recovery failed"),
                    }
                    if let Err(e) = queue::finish_idle_batches(&self.pool).await {
                        tracing::warn!(error = %e, "sweeping finished batches failed");
                    }
                }
                job = notify::next(&mut notes, |n| match n {
                    Note::CancelJob(j) => Some(j),
                    _ => None,
                }) => {
                    if let Some(id) = job
                        && let Some(token) = self.running.lock().expect("running lock").get(&id)
                    {
                        token.cancel();
                    }
                }
            }
        }
    }

    /// The jobs this runner holds a claim on: running, or held for a slot.
    fn claimed(&self) -> Vec<JobId> {
        self.running
            .lock()
            .expect("running lock")
            .keys()
            .copied()
            .collect()
    }

    async fn renew(&self) {
        let ids = self.claimed();
        let _ = sbx_store::runners::heartbeat(&self.pool, self.id).await;
        match queue::renew(&self.pool, self.id, &ids, self.config.lease).await {
            Ok(held) => {
                let held: HashMap<JobId, bool> = held.into_iter().collect();
                let running = self.running.lock().expect("running lock");
                for id in &ids {
                    // A job that ended while the renewal was on its way left the queue with
                    // its result: not renewed, and not lost either.
                    let Some(token) = running.get(id) else {
                        continue;
                    };
                    match held.get(id) {
                        Some(true) => token.cancel(),
                        Some(false) => {}
                        None => {
                            tracing::warn!(job_id = %id, "lease lost; stopping the job");
                            token.cancel();
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "renewing leases failed"),
        }
    }

    async fn execute(&self, job: Claimed) {
        // Registered at claim time, so a cancel notification finds the job from then on; one
        // that came between the claim and the registration is seen by the next lease renewal.
        let cancel = self
            .running
            .lock()
            .expect("running lock")
            .get(&job.job_id)
            .cloned()
            .unwrap_or_default();
        let span = tracing::info_span!("job", job_id = %job.job_id, project_id = %job.project_id, attempt = job.attempts);
        let _enter = span.enter();
        let outcome = if cancel.is_cancelled() {
            // Cancelled while it was held for a slot: it never runs.
            Some(ExecOutcome {
                status: ExecStatus::Cancelled,
                ..error_outcome("the job was cancelled before it started".to_owned())
            })
        } else {
            match serde_json::from_value::<QueuedExec>(job.spec)
                .map_err(|e| sbx_store::StoreError::Corrupt(e.to_string()))
                .and_then(QueuedExec::into_spec)
            {
                Err(e) => {
                    let why = match e {
                        sbx_store::StoreError::Corrupt(m) => m,
                        other => other.to_string(),
                    };
                    Some(error_outcome(format!("the queued job is corrupt: {why}")))
                }
                Ok((spec, limits)) => {
                    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                    let pump = tokio::spawn(pump_logs(
                        self.pool.clone(),
                        job.job_id,
                        rx,
                        self.config.log_flush,
                    ));
                    let control = sbx_core::Control {
                        cancel: cancel.clone(),
                        logs: Some(tx),
                        background: true,
                    };
                    let r = self.backend.run(spec, limits, control).await;
                    let _ = pump.await;
                    match r {
                        Ok(o) => Some(o),
                        Err(BackendError::ShuttingDown) => None,
                        Err(BackendError::InvalidModule(m)) => Some(error_outcome(format!(
                            "the module is not valid WebAssembly: {m}"
                        ))),
                        Err(e) => Some(error_outcome(e.to_string())),
                    }
                }
            }
        };
        self.running
            .lock()
            .expect("running lock")
            .remove(&job.job_id);
        let Some(outcome) = outcome else { return };
        let (recorded, answer) = tokio::sync::oneshot::channel();
        let _ = self.completions.send(Completion {
            job: job.job_id,
            outcome,
            recorded,
        });
        match answer.await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::warn!("the lease was lost before the job ended; its result is dropped")
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "recording the result failed; the lease will expire and the job run again")
            }
            Err(_) => tracing::warn!("the runner stopped before the result was recorded"),
        }
    }

    /// Record ended jobs' results, each group of those that ended meanwhile in one statement:
    /// one commit and one round trip for many jobs when they end faster than results are
    /// written, and no wait when they do not.
    async fn record_results(
        self: Arc<Self>,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<Completion>,
    ) {
        let mut group = Vec::with_capacity(COMPLETION_GROUP);
        while let Some(first) = rx.recv().await {
            group.push(first);
            while group.len() < COMPLETION_GROUP {
                match rx.try_recv() {
                    Ok(c) => group.push(c),
                    Err(_) => break,
                }
            }
            let items: Vec<(JobId, &ExecOutcome)> =
                group.iter().map(|c| (c.job, &c.outcome)).collect();
            let result = queue::complete_many(&self.pool, self.id, &items).await;
            if result.is_err() && group.len() > 1 {
                // One result the database refuses must not take the others with it: each is
                // tried on its own.
                for c in group.drain(..) {
                    let answer = queue::complete_many(&self.pool, self.id, &[(c.job, &c.outcome)])
                        .await
                        .map(|recorded| !recorded.is_empty());
                    let _ = c.recorded.send(answer);
                }
                continue;
            }
            match result {
                Ok(recorded) => {
                    for c in group.drain(..) {
                        let _ = c.recorded.send(Ok(recorded.contains(&c.job)));
                    }
                }
                // A group of one, as the others were tried on their own above.
                Err(e) => {
                    if let Some(c) = group.pop() {
                        let _ = c.recorded.send(Err(e));
                    }
                }
            }
        }
    }
}

/// An `error` outcome: the code never ran.
fn error_outcome(message: String) -> ExecOutcome {
    ExecOutcome {
        status: ExecStatus::Error,
        exit_code: None,
        stdout: String::new(),
        stderr: String::new(),
        truncated: vec![],
        duration_ms: 0.0,
        files: vec![],
        files_omitted: 0,
        message: Some(message),
        usage: Usage::default(),
    }
}
