-- Container sandboxes reached through the database only, so that the API and the runner
-- holding a sandbox need not share a host, and paused on their host with a copy kept here.

-- A command the API asks the holder to run; the holder writes its outcome, the API takes it
-- (and the row with it).
create table sandbox_commands (
    command_id  uuid primary key,
    sandbox_id  uuid not null references sandboxes on delete cascade,
    argv        text[] not null,
    timeout_ms  bigint not null,
    output_cap  bigint not null,
    created_at  timestamptz not null default now(),
    started_at  timestamptz,                           -- taken by the holder
    outcome     jsonb                                  -- {"ran": {...}} or {"error": "..."}
);
create index sandbox_commands_untaken on sandbox_commands (sandbox_id) where started_at is null;

-- A container sandbox's output (its command's stdout and stderr), numbered over all its
-- placements, kept with the sandbox.
create table sandbox_logs (
    sandbox_id  uuid not null references sandboxes on delete cascade,
    seq         integer not null,
    stream      text not null,
    data        text not null,
    primary key (sandbox_id, seq)
);

-- Pause keeps a container sandbox's folders on the host it ran on, where a resume finds them
-- at once, and copies them here in the background, from where any runner can resume it.
alter table sandboxes
    add column snapshot_gen     integer not null default 0, -- counts pauses
    add column snapshot_host    text,                  -- the host (and folder) keeping the last pause's files
    add column snapshot_stored  integer;               -- the pause whose copy here is complete
create table sandbox_snapshot_chunks (
    sandbox_id  uuid not null references sandboxes on delete cascade,
    nth         integer not null,                      -- of which pause
    seq         integer not null,
    data        bytea not null,                        -- zstd frames of the files' stream
    primary key (sandbox_id, nth, seq)
);
alter table sandbox_snapshot_chunks alter column data set storage external; -- already compressed
