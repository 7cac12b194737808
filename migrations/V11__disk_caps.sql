-- Disk caps: a project's ceiling on any workload's disk, each sandbox's own cap, and the
-- status of a run that failed on a full disk.
alter table projects
    add column max_disk_mb bigint not null default 10240;  -- ceiling on disk_mb and disk, in MiB

alter table sandboxes
    add column disk_bytes bigint;                          -- /workspace (+ /outputs, /tmp) cap
update sandboxes set disk_bytes = case kind when 'interpreter' then 512 * 1048576
                                            else 2048 * 1048576::bigint end;
alter table sandboxes alter column disk_bytes set not null;

alter table jobs drop constraint jobs_status_check;
alter table jobs add constraint jobs_status_check
    check (status in ('queued', 'running', 'succeeded', 'failed', 'timeout', 'memory_limit',
                      'output_limit', 'disk_limit', 'cancelled', 'error'));
alter table jobs drop constraint jobs_verdict_check;
alter table jobs add constraint jobs_verdict_check
    check (verdict in ('passed', 'wrong_output', 'failed', 'timeout', 'memory_limit',
                       'output_limit', 'disk_limit', 'cancelled', 'error'));
