-- Sandboxes: long-lived, project-scoped environments with a lifecycle. Image `code-interpreter`
-- is a stateful Python interpreter (a wasm session); other images are containers.

create table sandboxes (
    sandbox_id      uuid primary key,                  -- UUIDv7: time-ordered, the list cursor
    project_id      uuid not null references projects,
    api_key_id      uuid references api_keys,          -- the key that created it
    image           text not null,                     -- catalog name or image reference
    kind            text not null check (kind in ('interpreter', 'container')),
    state           text not null default 'pending'
                    check (state in ('pending', 'running', 'paused', 'terminated', 'failed')),
    state_reason    text not null default 'created',   -- why it is in its state (`user`, `timeout`, `idle`, …)
    state_detail    text,                              -- a person-readable account, for failures
    memory_bytes    bigint not null,                   -- memory limit
    cpu_millis      integer not null default 1000,     -- CPU share, in thousandths of a core
    gpu             jsonb,                             -- {type, count, fraction}, for GPU sandboxes
    env_keys        text[] not null default '{}',      -- names of the env vars it was made with (values are not kept)
    command         jsonb,                             -- a container's command
    timeout_s       integer not null,                  -- lifetime from creation, extendable
    expires_at      timestamptz not null,              -- created_at + timeout_s (+ extensions)
    idle_pause_s    integer,                           -- pause when idle this long; null: never
    holder          uuid,                              -- the process the live sandbox runs in
    holder_seen_at  timestamptz,                       -- the holder's last sign of life for it
    snapshot_bytes  bigint,                            -- size of its snapshot while paused
    calls           bigint not null default 0,         -- exec calls made in it
    idempotency_key text,                              -- the caller's Idempotency-Key
    request_hash    bytea,                             -- SHA-256 of the body that key came with
    created_at      timestamptz not null default now(),
    started_at      timestamptz,                       -- first running
    last_active_at  timestamptz not null default now(),-- last call or state change
    ended_at        timestamptz                        -- terminated or failed
);
create index sandboxes_project_recent on sandboxes (project_id, sandbox_id desc);
create unique index sandboxes_idempotency on sandboxes (project_id, idempotency_key)
    where idempotency_key is not null;
-- What the timeout sweeper reads: only sandboxes that have not ended.
create index sandboxes_open_expiry on sandboxes (expires_at)
    where state in ('pending', 'running', 'paused');
create index sandboxes_open_holder on sandboxes (holder)
    where state = 'running';

-- Every state change, with its time and reason.
create table sandbox_events (
    event_id    bigserial primary key,
    sandbox_id  uuid not null references sandboxes on delete cascade,
    at          timestamptz not null default now(),
    state       text not null,
    reason      text not null,
    detail      text
);
create index sandbox_events_sandbox on sandbox_events (sandbox_id, event_id);

-- A paused sandbox's state, readable by every runner: a code-interpreter session's snapshot.
create table sandbox_snapshots (
    sandbox_id  uuid primary key references sandboxes on delete cascade,
    data        bytea not null,
    created_at  timestamptz not null default now()
);
alter table sandbox_snapshots alter column data set storage external; -- already compressed

-- Record each state change as an event, in the transaction that makes it.
create function sbx_sandbox_event() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' or new.state is distinct from old.state then
        insert into sandbox_events (sandbox_id, state, reason, detail)
        values (new.sandbox_id, new.state, new.state_reason, new.state_detail);
    end if;
    return new;
end $$;
create trigger sandboxes_event after insert or update of state on sandboxes
    for each row execute function sbx_sandbox_event();
