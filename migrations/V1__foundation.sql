-- The foundation: people, projects, their API keys, and jobs (every exec is one).

create table users (
    user_id     uuid primary key,                      -- UUIDv7
    email       text not null unique,                  -- how an operator names the user
    kyc_status  text not null default 'unverified'     -- GPU work needs 'verified'
                check (kyc_status in ('unverified', 'pending', 'verified', 'rejected')),
    created_at  timestamptz not null default now()
);

create table projects (
    project_id              uuid primary key,          -- UUIDv7; every object belongs to one
    name                    text not null,             -- shown to people, not unique
    owner_user_id           uuid references users,     -- whose KYC status the project's keys carry
    max_timeout_ms          bigint not null default 300000,    -- ceiling on an exec's timeout_ms
    max_memory_mb           bigint not null default 2048,      -- ceiling on an exec's memory_mb
    max_output_limit_bytes  bigint not null default 16777216,  -- ceiling on output_limit_bytes
    max_concurrent_execs    integer not null default 32,       -- execs running at once
    created_at              timestamptz not null default now()
);

create table api_keys (
    api_key_id  uuid primary key,                      -- UUIDv7
    project_id  uuid not null references projects,    -- the only project the key can see
    name        text not null,                         -- the operator's label
    prefix      text not null,                         -- the key's first characters, for listings
    key_hash    bytea not null unique,                 -- SHA-256 of the whole key; the key is never stored
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz                            -- set once; a revoked key authenticates nothing
);
create index api_keys_project on api_keys (project_id);

create table jobs (
    job_id       uuid primary key,                     -- UUIDv7: time-ordered, the list cursor
    project_id   uuid not null references projects,
    api_key_id   uuid references api_keys,             -- the key that created it
    kind         text not null check (kind in ('exec')),
    status       text not null                         -- an ExecStatus, or 'queued'/'running'
                 check (status in ('queued', 'running', 'succeeded', 'failed', 'timeout',
                                   'memory_limit', 'output_limit', 'cancelled', 'error')),
    language     text not null,                        -- 'python' or 'wasi'
    request      jsonb not null,                       -- the request, less file contents and module bytes
    result       jsonb,                                -- the ExecOutcome once finished
    exit_code    integer,                              -- copied from result, for filtering
    duration_ms  double precision,                     -- copied from result
    wall_ms      double precision,                     -- metered run time (usage)
    memory_peak_bytes bigint,                          -- metered peak linear memory (usage)
    created_at   timestamptz not null default now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
create index jobs_project_recent on jobs (project_id, job_id desc);
