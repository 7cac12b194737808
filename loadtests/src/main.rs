//! Load scenarios against a real `sbx serve` process on this machine, each printing a table:
//!
//! - `burst`: tool calls, N concurrent clients on `POST /v1/exec`;
//! - `batch`: one batch of 10 000 Python items end to end, against the backend's own rate;
//! - `rate-limited`: a key far over its rate: what each 429 costs the server;
//! - `queue`: no-op jobs straight into the queue: jobs/s claimed and completed, add → start.
//! - `containers`: container sandboxes on the local Docker: create → running against a bare
//!   `docker run` of the same image, 20 concurrent creates, pause and resume, the meter's CPU.
//! - `files`: a large file into and out of each kind of sandbox through the files API,
//!   against `docker cp`, with the API's memory meanwhile.
//! - `processes`: background processes in a container sandbox: the start call against
//!   `docker exec -d`, and the time to the first output line through the log stream.
//! - `terminal`: keystroke echo round trips in a container sandbox's terminal, through the
//!   API against the runner's endpoint straight.
//! - `ports`: HTTP requests to a server in a container sandbox through the API, against the
//!   same requests straight to the container.
//! - `fork`: forks of a code-interpreter sandbox holding a 10 MiB DataFrame, against a new
//!   sandbox replaying its cell.
//! - `sessions`: code-interpreter sandboxes: call latency against a fresh exec, pause and
//!   resume of a pandas session, memory per idle and paused session, many sessions open.
//!
//! Each scenario makes its own database on the PostgreSQL at `SBX_DATABASE_URL`, starts
//! `sbx serve` (the binary beside this one) against it on a free loopback port, and drops the
//! database at the end. Run them with `scripts/loadtest SCENARIO [flags]`, which sets up and
//! builds first. Loopback only, bounded in count and time.

mod batch;
mod burst;
mod containers;
mod files;
mod fork;
mod meter;
mod ports;
mod processes;
mod queue;
mod server;
mod sessions;
mod terminal;

use clap::Parser;

#[derive(Parser)]
#[command(about = "sbx load scenarios")]
enum Scenario {
    /// N concurrent clients calling POST /v1/exec.
    Burst {
        /// Clients sending at once.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Requests in all.
        #[arg(long, default_value_t = 3000)]
        requests: usize,
        /// The Python each call runs.
        #[arg(long, default_value = "print(1+1)")]
        code: String,
    },
    /// One batch of small Python items, end to end.
    Batch {
        /// Items in the batch.
        #[arg(long, default_value_t = 10_000)]
        items: usize,
    },
    /// Requests far over the key's rate limit.
    RateLimited {
        /// Requests in all.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Clients sending at once.
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
    /// No-op jobs straight into the queue.
    Queue {
        /// Jobs queued at once for the throughput figure.
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Jobs per second queued one at a time for the add → start figure.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// The runner's slots (`SBX_RUNNER_SLOTS`).
        #[arg(long, default_value_t = 16)]
        slots: usize,
    },
    /// Container sandboxes (image `python`, the local build).
    Containers {
        /// Sequential creates timed.
        #[arg(long, default_value_t = 20)]
        creates: usize,
        /// Concurrent creates.
        #[arg(long, default_value_t = 20)]
        concurrent: usize,
        /// Live sandboxes for the meter's CPU figure.
        #[arg(long, default_value_t = 100)]
        live: usize,
    },
    /// The meter's error over a long run: container sandboxes live for `secs`, half of them
    /// paused for the last tenth; each one's metered seconds against its recorded states.
    Meter {
        /// Sandboxes metered.
        #[arg(long, default_value_t = 10)]
        sandboxes: usize,
        /// Seconds they run.
        #[arg(long, default_value_t = 3600)]
        secs: u64,
    },
    /// A large file into and out of each kind of sandbox through the files API.
    Files {
        /// The file's size in MiB.
        #[arg(long, default_value_t = 1024)]
        mib: usize,
        /// Uploads and downloads timed per kind.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Background processes in a container sandbox.
    Processes {
        /// Starts timed, each way.
        #[arg(long, default_value_t = 100)]
        count: usize,
    },
    /// Keystroke echo round trips in a container sandbox's terminal.
    Terminal {
        /// Keys timed, each way.
        #[arg(long, default_value_t = 500)]
        count: usize,
    },
    /// HTTP requests to a server in a container sandbox.
    Ports {
        /// Requests timed, each way.
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
    /// Forks of a code-interpreter sandbox holding a 10 MiB DataFrame.
    Fork {
        /// Rounds timed (a fork of one, a fork of eight, a replay each).
        #[arg(long, default_value_t = 30)]
        rounds: usize,
    },
    /// Code-interpreter sessions.
    Sessions {
        /// Sequential calls timed, for the call latency.
        #[arg(long, default_value_t = 1000)]
        calls: usize,
        /// Pause/resume cycles timed.
        #[arg(long, default_value_t = 30)]
        cycles: usize,
        /// Sessions opened for the memory figures.
        #[arg(long, default_value_t = 50)]
        idle: usize,
        /// Sessions opened in all for the capacity figure.
        #[arg(long, default_value_t = 1000)]
        open: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let scenario = Scenario::parse();
    actix_web::rt::System::new().block_on(async {
        match scenario {
            Scenario::Burst {
                clients,
                requests,
                code,
            } => burst::burst(clients, requests, code).await,
            Scenario::Batch { items } => batch::batch(items).await,
            Scenario::RateLimited { requests, clients } => {
                burst::rate_limited(requests, clients).await
            }
            Scenario::Queue { jobs, rate, slots } => queue::queue(jobs, rate, slots).await,
            Scenario::Containers {
                creates,
                concurrent,
                live,
            } => containers::containers(creates, concurrent, live).await,
            Scenario::Meter { sandboxes, secs } => meter::meter(sandboxes, secs).await,
            Scenario::Files { mib, rounds } => files::files(mib, rounds).await,
            Scenario::Processes { count } => processes::processes(count).await,
            Scenario::Terminal { count } => terminal::terminal(count).await,
            Scenario::Ports { count } => ports::ports(count).await,
            Scenario::Fork { rounds } => fork::forks(rounds).await,
            Scenario::Sessions {
                calls,
                cycles,
                idle,
                open,
            } => sessions::sessions(calls, cycles, idle, open).await,
        }
    })
}
