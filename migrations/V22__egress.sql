-- Egress rules (`network: {"allow": [...]}`): the allow list of a container sandbox whose
-- traffic goes only through its runner's egress gate. `network` is true for such a sandbox
-- too (it has an interface besides loopback); `egress` null means no rules.
alter table sandboxes add column egress text[];

-- One sandbox event, typed `kind`, recorded, queued for the project's webhook endpoints that
-- ask for it and announced to `GET /v1/events` readers. State changes (the trigger below) and
-- events that are not (`sandbox.egress_denied`, recorded by runners) both go through here.
create function sbx_record_sandbox_event(
    sid uuid, project uuid, kind text, st text, why text, what text, snap bigint
) returns bigint
language plpgsql as $$
declare
    ev   sandbox_events%rowtype;
    sent boolean := false;
    ep   record;
begin
    insert into sandbox_events (sandbox_id, state, reason, detail, snapshot_bytes, type)
    values (sid, st, why, what, snap, kind)
    returning * into ev;
    for ep in select url from webhook_endpoints
              where project_id = project
                and (kind = any(events) or 'sandbox.*' = any(events)) loop
        insert into webhook_deliveries (project_id, url, payload)
        values (project, ep.url, jsonb_build_object(
            'type', kind,
            'timestamp', to_char(ev.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'data', jsonb_build_object(
                'event_id', ev.event_id, 'sandbox_id', sid,
                'state', st, 'reason', why, 'detail', what)));
        sent := true;
    end loop;
    if sent then
        perform pg_notify('sbx_webhooks', project::text);
    end if;
    perform pg_notify('sbx_events', project::text);
    return ev.event_id;
end $$;

create or replace function sbx_sandbox_event() returns trigger
language plpgsql as $$
declare
    kind text;
begin
    if tg_op = 'INSERT' or new.state is distinct from old.state then
        kind := 'sandbox.' || new.state;
        -- Running again after a pause (containers pass through `pending` on the way back).
        if new.state = 'running' and tg_op = 'UPDATE' and (
            select e.state from sandbox_events e
            where e.sandbox_id = new.sandbox_id and e.state <> 'pending'
              and e.type not in ('sandbox.egress_denied')
            order by e.event_id desc limit 1) = 'paused' then
            kind := 'sandbox.resumed';
        end if;
        perform sbx_record_sandbox_event(new.sandbox_id, new.project_id, kind, new.state,
            new.state_reason, new.state_detail, new.snapshot_bytes);
    end if;
    return new;
end $$;
