-- What `GET /v1/sandboxes/{id}/metrics` shows besides CPU and memory: the disk a container
-- sandbox's folders use at the sample, and the bytes its network interfaces (loopback aside)
-- received and sent over the sampled interval. Null where the meter could not read them.
alter table usage_samples add column disk_used bigint;
alter table usage_samples add column net_rx_bytes bigint;
alter table usage_samples add column net_tx_bytes bigint;
create index usage_samples_sandbox_at on usage_samples (sandbox_id, at) where sandbox_id is not null;

-- Samples are kept at one second for a day, then merged into one row per minute (sums of
-- seconds, costs and bytes; allocations weighted by time, so every billed sum stays the same).
alter table usage_samples add column merged boolean not null default false;
create index usage_samples_unmerged on usage_samples (at) where not merged;
