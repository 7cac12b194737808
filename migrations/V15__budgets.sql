-- A monthly spend limit per project: at 80 % its budget webhook gets `budget.warning`, at 100 %
-- `budget.exceeded`, new work is refused (402) and running sandboxes are paused.
alter table projects
    add column monthly_budget_usd  double precision                    -- null: no limit
        check (monthly_budget_usd is null or monthly_budget_usd >= 0),
    add column budget_webhook_url  text,                                -- where budget events go
    add column budget_state        text not null default 'ok'          -- as last checked
        check (budget_state in ('ok', 'warning', 'exceeded')),
    add column budget_month        date,                                -- the UTC month budget_state is about
    add column budget_spent_usd    double precision not null default 0, -- spent that month, as last checked
    add column budget_checked_at   timestamptz;

-- The outbox carries other events than a job's end: those have their body ready.
alter table webhook_deliveries
    alter column job_id drop not null,
    add column payload jsonb;                                          -- the body, for events without a job
