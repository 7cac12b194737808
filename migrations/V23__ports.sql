-- Declared ports (`ports: [8000]` at create, `POST /v1/sandboxes/{id}/ports` later): the
-- ports of a container sandbox its owner says a server listens on, ascending, at most 16.
-- Calls through the API reach any port; declared ones are listed with whether they listen.
alter table sandboxes add column ports integer[] not null default '{}';
