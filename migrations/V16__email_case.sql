-- Emails compare without case (sign-in, KYC decisions): one account per email whatever its case,
-- and an index for the lookups.
update users set email = lower(email) where email <> lower(email)
    and not exists (select 1 from users u2 where u2.email = lower(users.email));
create unique index users_email_lower on users (lower(email));
