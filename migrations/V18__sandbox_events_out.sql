-- Sandbox events go out: each state change gets a type (`sandbox.pending`, `.running`,
-- `.paused`, `.resumed` (running again after a pause), `.terminated`, `.failed`), is queued
-- in the webhook outbox for every endpoint of its project that asks for it
-- (`POST /v1/webhooks`), and wakes `GET /v1/events` readers (notify `sbx_events`, payload:
-- the project's id).
create table webhook_endpoints (
    endpoint_id  uuid primary key,
    project_id   uuid not null references projects on delete cascade,
    url          text not null,
    events       text[] not null,          -- event types, or 'sandbox.*' for all of them
    description  text,
    created_at   timestamptz not null default now()
);
create index webhook_endpoints_project on webhook_endpoints (project_id);

alter table sandbox_events add column type text;
update sandbox_events set type = 'sandbox.' || state;

create or replace function sbx_sandbox_event() returns trigger
language plpgsql as $$
declare
    kind text;
    ev   sandbox_events%rowtype;
    sent boolean := false;
    ep   record;
begin
    if tg_op = 'INSERT' or new.state is distinct from old.state then
        kind := 'sandbox.' || new.state;
        -- Running again after a pause (containers pass through `pending` on the way back).
        if new.state = 'running' and tg_op = 'UPDATE' and (
            select e.state from sandbox_events e
            where e.sandbox_id = new.sandbox_id and e.state <> 'pending'
            order by e.event_id desc limit 1) = 'paused' then
            kind := 'sandbox.resumed';
        end if;
        insert into sandbox_events (sandbox_id, state, reason, detail, snapshot_bytes, type)
        values (new.sandbox_id, new.state, new.state_reason, new.state_detail,
                new.snapshot_bytes, kind)
        returning * into ev;
        for ep in select url from webhook_endpoints
                  where project_id = new.project_id
                    and (kind = any(events) or 'sandbox.*' = any(events)) loop
            insert into webhook_deliveries (project_id, url, payload)
            values (new.project_id, ep.url, jsonb_build_object(
                'type', kind,
                'timestamp', to_char(ev.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                'data', jsonb_build_object(
                    'event_id', ev.event_id, 'sandbox_id', new.sandbox_id,
                    'state', new.state, 'reason', new.state_reason, 'detail', new.state_detail)));
            sent := true;
        end loop;
        if sent then
            perform pg_notify('sbx_webhooks', new.project_id::text);
        end if;
        perform pg_notify('sbx_events', new.project_id::text);
    end if;
    return new;
end $$;
