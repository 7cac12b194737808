-- Webhooks: a job created with a `callback_url` is announced there when it ends, signed with
-- its project's secret (Standard Webhooks), retried with backoff until it is taken.

alter table projects
    -- `whsec_` and 32 bytes of base64, as Standard Webhooks names a signing secret.
    add column webhook_secret text not null
        default 'whsec_' || encode(sha256((gen_random_uuid()::text || gen_random_uuid()::text)::bytea), 'base64');

alter table jobs
    add column callback_url text;                      -- where to announce the job's end, if anywhere

-- The outbox: one row per announcement, written in the transaction that ends the job, so an
-- ended job with a callback always has one, whichever way it ended (result, cancel, lost runner).
create table webhook_deliveries (
    delivery_id      uuid primary key default gen_random_uuid(), -- the `webhook-id`, the same on every attempt
    job_id           uuid not null references jobs on delete cascade,
    project_id       uuid not null references projects,
    url              text not null,                    -- the job's callback_url
    attempts         integer not null default 0,       -- sends tried so far
    next_attempt_at  timestamptz not null default now(), -- when it may be sent next; a sender leases it by pushing this on
    delivered_at     timestamptz,                      -- when a 2xx answer took it
    failed_at        timestamptz,                      -- when the last attempt allowed failed
    last_error       text,                             -- what the last failed attempt met
    created_at       timestamptz not null default now()
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
    where delivered_at is null and failed_at is null;
create index webhook_deliveries_job on webhook_deliveries (job_id);

create function sbx_job_webhook() returns trigger
language plpgsql as $$
begin
    insert into webhook_deliveries (job_id, project_id, url)
    values (new.job_id, new.project_id, new.callback_url);
    perform pg_notify('sbx_webhooks', new.job_id::text);
    return new;
end
$$;

create trigger jobs_webhook after update of finished_at on jobs
    for each row
    when (old.finished_at is null and new.finished_at is not null and new.callback_url is not null)
    execute function sbx_job_webhook();
