-- Container jobs: a one-off command in an image, run to completion as a container sandbox of
-- its own; its output is kept as the job's log, the files it writes under /outputs as artifacts.

alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check check (kind in ('exec', 'container'));
alter table jobs add column sandbox_id uuid references sandboxes;  -- a container job's sandbox

alter table sandboxes add column job_id uuid references jobs;      -- the job a sandbox runs, if any

create table job_artifacts (
    job_id      uuid not null references jobs on delete cascade,
    path        text not null,                         -- relative to /outputs
    size        bigint not null,
    data        bytea not null,
    created_at  timestamptz not null default now(),
    primary key (job_id, path)
);
alter table job_artifacts alter column data set storage external;
