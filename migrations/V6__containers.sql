-- Container sandboxes: placement on runners (CPU, memory, GPU shares), the per-second meter,
-- and what runners offer.

alter table sandboxes
    add column network        boolean not null default false, -- a network interface besides lo
    add column registry_auth  bytea,                   -- registry credentials, sealed (never plain text)
    add column env_sealed     bytea,                   -- a container's env values, sealed (names are in env_keys)
    add column docker_image   text,                    -- the image reference a runner runs
    add column container_id   text,                    -- the Docker container while running
    add column gpu_alloc      jsonb,                   -- {cards: [uuid], quarters} while placed
    add column waiting_for    text;                    -- why a pending sandbox is not placed yet
create index sandboxes_pending_containers on sandboxes (created_at)
    where state = 'pending' and kind = 'container';

alter table runners
    add column cpu_millis    integer,                  -- CPU it offers to containers
    add column memory_bytes  bigint,                   -- memory it offers to containers
    add column gpus          jsonb;                    -- its cards: [{uuid, model, memory_bytes, declared}]

-- The meter: one row per workload per sample (about a second), with the cost of each resource
-- at the prices in force when it was taken (USD). What is allocated is billed; what is used is
-- recorded beside it.
create table usage_samples (
    sample_id      bigserial primary key,
    project_id     uuid not null references projects,
    sandbox_id     uuid references sandboxes on delete set null,
    job_id         uuid references jobs on delete set null,
    at             timestamptz not null,               -- end of the sampled interval
    seconds        double precision not null,          -- length of the interval
    state          text not null,                      -- running | paused
    cpu_cores      double precision not null default 0, -- CPU allocated, in cores (billed)
    memory_bytes   bigint not null default 0,          -- memory allocated (billed)
    cpu_used       double precision,                   -- CPU used over the interval, in cores (Docker's account)
    memory_used    bigint,                             -- memory in use at the sample
    gpu_model      text,
    gpu_share      double precision not null default 0, -- cards (or fraction of one) held
    storage_bytes  bigint not null default 0,          -- snapshot size while paused
    cpu_cost       double precision not null default 0,
    memory_cost    double precision not null default 0,
    gpu_cost       double precision not null default 0,
    storage_cost   double precision not null default 0
);
create index usage_samples_project_at on usage_samples (project_id, at);

-- A paused sandbox is billed for its snapshot's size over the time it stays paused: each
-- event keeps the size the sandbox had when it entered its state.
alter table sandbox_events add column snapshot_bytes bigint;
create or replace function sbx_sandbox_event() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' or new.state is distinct from old.state then
        insert into sandbox_events (sandbox_id, state, reason, detail, snapshot_bytes)
        values (new.sandbox_id, new.state, new.state_reason, new.state_detail, new.snapshot_bytes);
    end if;
    return new;
end $$;
