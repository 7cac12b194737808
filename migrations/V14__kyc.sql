-- Identity checks (KYC): what a person submits from the dashboard, and how it was decided, by
-- an operator or a provider's webhook. users.kyc_status stays the answer work is gated on.
create table kyc_submissions (
    submission_id     uuid primary key,                                   -- UUIDv7
    user_id           uuid not null references users on delete cascade,
    legal_name        text not null,                                      -- as on the document
    country           text not null check (country ~ '^[A-Z]{2}$'),       -- ISO 3166-1 alpha-2
    date_of_birth     date not null,
    document_name     text not null,                                      -- the uploaded file's name
    document_type     text not null,                                      -- its media type
    document_sealed   bytea not null,                                     -- the file, sealed (AES-256-GCM)
    status            text not null default 'pending'
                      check (status in ('pending', 'verified', 'rejected')),
    decided_at        timestamptz,
    decided_by        uuid references users,                              -- the operator; null for a provider
    decision_note     text,                                               -- a rejection's reason, a provider's reference
    created_at        timestamptz not null default now()
);
create index kyc_submissions_user on kyc_submissions (user_id);
create index kyc_submissions_pending on kyc_submissions (created_at) where status = 'pending';
