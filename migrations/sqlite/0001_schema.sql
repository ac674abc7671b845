-- The whole schema of DESIGN.md, in SQLite's dialect: uuids are hyphenated TEXT, timestamps are
-- RFC 3339 TEXT in UTC. Append-only: change it with a new migration, never by editing.

CREATE TABLE profiles (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    -- NULL for identities from elsewhere (a Supabase token, a signed-out checkout).
    password_hash TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Emails are unique whatever their case (the app stores them lower-cased; lower() covers ASCII).
CREATE UNIQUE INDEX profiles_email_key ON profiles (lower(email));

-- The seed's recommended table.
CREATE TABLE stripe_customers (
    id                 TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    stripe_customer_id TEXT NOT NULL UNIQUE,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX stripe_customers_user_id_idx ON stripe_customers (user_id);

CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY NOT NULL,  -- Stripe's sub_…
    -- NULL until the customer is linked to a profile (events arrive in any order).
    user_id               TEXT REFERENCES profiles (id) ON DELETE CASCADE,
    stripe_customer_id    TEXT NOT NULL,
    status                TEXT NOT NULL,
    price_id              TEXT NOT NULL,
    quantity              INTEGER NOT NULL DEFAULT 1,
    current_period_end    INTEGER,                    -- unix seconds, as Stripe sends them
    cancel_at_period_end  BOOLEAN NOT NULL DEFAULT FALSE,
    canceled_at           INTEGER,
    trial_end             INTEGER,
    -- Stripe's `created` of the event whose state is stored: an older event never overwrites it.
    stripe_created        INTEGER NOT NULL,
    created_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX subscriptions_user_id_idx ON subscriptions (user_id);
CREATE INDEX subscriptions_customer_idx ON subscriptions (stripe_customer_id);

CREATE TABLE purchases (
    id                   TEXT PRIMARY KEY NOT NULL,
    checkout_session_id  TEXT NOT NULL UNIQUE,
    payment_intent_id    TEXT,
    user_id              TEXT REFERENCES profiles (id) ON DELETE CASCADE,
    stripe_customer_id   TEXT,
    price_id             TEXT NOT NULL,
    amount_total         INTEGER NOT NULL,
    currency             TEXT NOT NULL,
    status               TEXT NOT NULL,               -- paid | unpaid | failed
    email                TEXT,
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX purchases_user_id_idx ON purchases (user_id);

-- The durable event log: an id is applied at most once.
CREATE TABLE stripe_events (
    id             TEXT PRIMARY KEY NOT NULL,         -- Stripe's evt_…
    type           TEXT NOT NULL,
    stripe_created INTEGER NOT NULL,
    livemode       BOOLEAN NOT NULL DEFAULT FALSE,
    payload        TEXT NOT NULL,
    received_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    processed_at   TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT
);
CREATE INDEX stripe_events_unprocessed_idx ON stripe_events (received_at) WHERE processed_at IS NULL;

-- Mail is written in the same transaction as the event that causes it, sent later by a worker.
CREATE TABLE email_outbox (
    id          TEXT PRIMARY KEY NOT NULL,
    -- One mail per cause (e.g. `invoice.payment_failed:in_…`), however often the cause arrives.
    dedupe_key  TEXT NOT NULL UNIQUE,
    to_email    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    sent_at     TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX email_outbox_pending_idx ON email_outbox (created_at) WHERE sent_at IS NULL;
