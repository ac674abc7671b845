-- Sign-ins from elsewhere (a Supabase user) are linked to an account by who they are (provider
-- and subject), never merged into one by email.
CREATE TABLE identities (
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    -- The address the provider gave, and whether it vouched for it.
    email         TEXT NOT NULL,
    email_proven  BOOLEAN NOT NULL,
    -- Set when someone else proved the address: this identity's tokens open nothing any more.
    detached_at_ms bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX identities_user_idx ON identities (user_id);
CREATE INDEX identities_email_idx ON identities (lower(email));

-- Whether the profile is the one account its email addresses (sign-in, sign-up, a reset): at
-- most one per address. An unproven identity whose address another account holds gets a profile
-- of its own that does not hold it.
ALTER TABLE profiles ADD COLUMN holds_email BOOLEAN NOT NULL DEFAULT TRUE;
DROP INDEX profiles_email_key;
CREATE UNIQUE INDEX profiles_email_key ON profiles (lower(email)) WHERE holds_email;

-- "Sign out everywhere" and a reset: tokens from elsewhere issued before this (unix ms) are
-- refused, as our own sessions are revoked.
ALTER TABLE profiles ADD COLUMN tokens_valid_after_ms bigint;

-- A verification link no longer carries a password chosen at sign-up (whoever clicked it would
-- have set someone else's choice): the links that still do are spent.
UPDATE auth_tokens SET used_at_ms = 0 WHERE password_hash IS NOT NULL AND used_at_ms IS NULL;
