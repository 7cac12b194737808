-- The durable queue: runners, the hot `queue` table holding only unfinished jobs, their live
-- logs, and batches of exec items.

create table runners (
    runner_id     uuid primary key,                    -- UUIDv7, one per runner process
    hostname      text not null,                       -- where it runs
    pid           integer not null,                    -- its process id there
    slots         integer not null,                    -- jobs it runs at once
    created_at    timestamptz not null default now(),
    heartbeat_at  timestamptz not null default now(),  -- renewed while alive
    stopped_at    timestamptz                          -- set by a graceful shutdown
);

create table batches (
    batch_id      uuid primary key,                    -- UUIDv7
    project_id    uuid not null references projects,
    api_key_id    uuid references api_keys,
    total         integer not null,                    -- items in the batch
    created_at    timestamptz not null default now(),
    cancelled_at  timestamptz,
    finished_at   timestamptz                          -- when the last item ended
);
create index batches_project_recent on batches (project_id, batch_id desc);

alter table jobs
    add column batch_id        uuid references batches, -- the batch an item belongs to
    add column item_id         text,                    -- the caller's id of a batch item
    add column expected_stdout text,                    -- a batch item's expected output
    add column verdict         text                     -- a batch item's verdict once ended
               check (verdict in ('passed', 'wrong_output', 'failed', 'timeout', 'memory_limit',
                                  'output_limit', 'cancelled', 'error')),
    add column attempts        integer not null default 0,  -- claims so far
    add column idempotency_key text,                    -- the caller's Idempotency-Key
    add column request_hash    bytea,                   -- SHA-256 of the body that key came with
    add column error           text;                    -- why the job failed, when it is our fault
create unique index jobs_idempotency on jobs (project_id, idempotency_key) where idempotency_key is not null;
create index jobs_batch_items on jobs (batch_id, job_id) where batch_id is not null;

-- Only unfinished jobs live here, so claims scan a small table however many jobs have ended.
create table queue (
    job_id            uuid primary key references jobs on delete cascade,
    project_id        uuid not null,                   -- for fair share between projects
    priority          smallint not null,               -- 0 interactive, 1 async, 2 batch
    state             text not null check (state in ('queued', 'running')),
    lease_owner       uuid,                            -- the runner holding it
    lease_expires_at  timestamptz,                     -- renewed while running
    attempts          integer not null default 0,      -- claims so far
    cancel_requested  boolean not null default false,  -- set by cancel; the runner stops it
    spec              jsonb not null,                  -- what to run, inputs included
    created_at        timestamptz not null default now()
);
create index queue_claim on queue (project_id, priority, created_at) where state = 'queued';
create index queue_leases on queue (lease_expires_at) where state = 'running';

create table job_logs (
    job_id      uuid not null references jobs on delete cascade,
    seq         integer not null,                      -- 1, 2, ... per job: the SSE event id
    stream      text not null check (stream in ('stdout', 'stderr')),
    data        text not null,                         -- the chunk, invalid UTF-8 replaced
    created_at  timestamptz not null default now(),
    primary key (job_id, seq)
);

-- A batch item's verdict: `passed` when it succeeded and its stdout matches the expected one
-- (both with trailing whitespace trimmed), `wrong_output` when it does not, else its status.
create function sbx_verdict(status text, stdout text, expected text) returns text
language sql immutable as $$
    select case
        when status <> 'succeeded' then status
        when expected is not null
             and rtrim(stdout, E' \t\n\r\f\v') <> rtrim(expected, E' \t\n\r\f\v') then 'wrong_output'
        else 'passed'
    end
$$;
