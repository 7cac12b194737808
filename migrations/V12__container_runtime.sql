-- The OCI runtime a runner's containers run under: 'runsc' (gVisor) or 'runc'.
alter table runners add column container_runtime text;
