-- Templates: a project's own container images, built by a runner's Docker from a Dockerfile and
-- a build context (a tar, kept here so that any runner can build it again on first use). Each
-- build of a name is a new version; `image: "<name>"` runs the newest ready one,
-- `image: "<name>:<version>"` that version. Docker tags the image `sbx-templates/<template_id
-- without dashes>`.
create table templates (
    template_id    uuid primary key,                  -- UUIDv7, one per version
    project_id     uuid not null references projects,
    name           text not null,                     -- [a-z0-9][a-z0-9._-]{0,62}, per project
    version        integer not null,                  -- 1, 2, … per (project, name)
    state          text not null default 'queued'
                   check (state in ('queued', 'building', 'ready', 'failed')),
    dockerfile     text not null,                     -- the Dockerfile's path in the context
    context        bytea not null,                    -- the build context, a tar
    network        boolean not null,                  -- whether RUN steps may reach the network
    bases          jsonb not null default '{}',       -- {"<image as written>": "<template_id>"}:
                                                      -- the template versions it starts from
    timeout_s      integer not null,                  -- longest the build may take
    runner_id      uuid,                              -- the runner building it, or that built it
    image_id       text,                              -- Docker's id (sha256:…) once built
    size_bytes     bigint,                            -- the image's size once built
    error          text,                              -- why it failed
    created_at     timestamptz not null default now(),
    started_at     timestamptz,
    ended_at       timestamptz,
    unique (project_id, name, version)
);
create index templates_queued on templates (created_at) where state in ('queued', 'building');

create table template_logs (
    template_id uuid not null references templates on delete cascade,
    seq         integer not null,
    stream      text not null,
    data        text not null,
    primary key (template_id, seq)
);
