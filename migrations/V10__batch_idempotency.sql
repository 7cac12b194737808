-- POST /v1/batches honours Idempotency-Key, as every creating POST does: the same key and body
-- answer with the batch the first request made; another body with the key is refused.
alter table batches
    add column idempotency_key text,                    -- the caller's Idempotency-Key
    add column request_hash    bytea;                   -- SHA-256 of the body that key came with
create unique index batches_idempotency on batches (project_id, idempotency_key)
    where idempotency_key is not null;
