-- Signed webhooks sbx received (a KYC provider's decisions), by their `webhook-id`: a message
-- replayed within the signature's tolerance is acknowledged but not applied again (Standard
-- Webhooks: receivers deduplicate by id). Rows older than the tolerance are purged.
create table webhook_receipts (
    source       text        not null,            -- who sent it: 'kyc'
    webhook_id   text        not null,            -- the sender's `webhook-id`
    received_at  timestamptz not null default now(),
    primary key (source, webhook_id)
);
create index webhook_receipts_age on webhook_receipts (received_at);
