-- People sign in to the dashboard: a password, lockout after failed attempts, operators;
-- projects have members; sessions are kept server-side. API keys stay for programs.
alter table users
    add column password_hash   text,                                 -- argon2id PHC string; null: cannot sign in
    add column operator        boolean not null default false,       -- sees the Admin page
    add column failed_logins   integer not null default 0,           -- consecutive wrong passwords
    add column locked_until    timestamptz;                          -- no sign-in before this

create table memberships (
    user_id     uuid not null references users on delete cascade,
    project_id  uuid not null references projects on delete cascade,
    role        text not null check (role in ('owner', 'member')),  -- owners manage keys and members
    created_at  timestamptz not null default now(),
    primary key (user_id, project_id)
);
create index memberships_project on memberships (project_id);

-- Projects' owners are their first members.
insert into memberships (user_id, project_id, role)
select owner_user_id, project_id, 'owner' from projects where owner_user_id is not null
on conflict do nothing;

create table sessions (
    session_id    uuid primary key,                                  -- UUIDv7
    token_hash    bytea not null unique,                             -- SHA-256 of the cookie's secret
    user_id       uuid not null references users on delete cascade,
    csrf_token    text not null,                                     -- sent back in X-CSRF-Token
    user_agent    text,                                              -- as signed in with, for the person's list
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null                               -- absolute end; sign in again after
);
create index sessions_user on sessions (user_id);
