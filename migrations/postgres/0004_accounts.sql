-- Accounts you can trust: an email is proven by a mailed link before anything found under it
-- becomes the account's; sessions are rows, so signing out ends a token everywhere.

-- NULL until the owner follows a verification (or password reset) link, or an identity provider
-- we trust says the address is confirmed.
ALTER TABLE profiles ADD COLUMN email_verified_at timestamptz;

-- One row per signed-in browser or client: the token's `sid`. A revoked session's tokens are
-- refused by every instance (each polls the recent revocations).
CREATE TABLE sessions (
    id             text PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at_ms  bigint
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at_ms) WHERE revoked_at_ms IS NOT NULL;

-- Mailed single-use links (verify an email, reset a password). Only a SHA-256 of the token is
-- kept: whoever reads this table cannot follow a link.
CREATE TABLE auth_tokens (
    token_hash     TEXT PRIMARY KEY NOT NULL,
    purpose        TEXT NOT NULL,                 -- verify_email | reset_password
    user_id        uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    -- The address the link went to: following it proves this address and no other.
    email          TEXT NOT NULL,
    -- A sign-up on a profile that has no password (a Supabase user's): the password it chose,
    -- set only when the link is followed.
    password_hash  TEXT,
    expires_at_ms  bigint NOT NULL,
    used_at_ms     bigint,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id);

-- Stripe customers met under an email nobody has proven (a signed-out checkout): they become
-- the account's whose owner proves that email.
CREATE TABLE email_customers (
    stripe_customer_id  TEXT PRIMARY KEY NOT NULL,
    email               TEXT NOT NULL,
    claimed_by          uuid REFERENCES profiles (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_customers_email_idx ON email_customers (lower(email));

-- A mail holding a one-time link: its body is blanked once sent.
ALTER TABLE email_outbox ADD COLUMN sensitive BOOLEAN NOT NULL DEFAULT FALSE;
