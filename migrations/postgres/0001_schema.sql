-- The whole schema of DESIGN.md. Append-only: change it with a new migration, never by editing.

CREATE TABLE profiles (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    -- NULL for identities from elsewhere (a Supabase token, a signed-out checkout).
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX profiles_email_key ON profiles (lower(email));

-- Exactly the seed's recommended table.
create table stripe_customers (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references profiles (id) on delete cascade,
    stripe_customer_id text not null unique,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index stripe_customers_user_id_idx on stripe_customers (user_id);

CREATE TABLE subscriptions (
    id                    text PRIMARY KEY,          -- Stripe's sub_…
    -- NULL until the customer is linked to a profile (events arrive in any order).
    user_id               uuid REFERENCES profiles (id) ON DELETE CASCADE,
    stripe_customer_id    text NOT NULL,
    status                text NOT NULL,
    price_id              text NOT NULL,
    quantity              bigint NOT NULL DEFAULT 1,
    current_period_end    bigint,                    -- unix seconds, as Stripe sends them
    cancel_at_period_end  boolean NOT NULL DEFAULT false,
    canceled_at           bigint,
    trial_end             bigint,
    -- Stripe's `created` of the event whose state is stored: an older event never overwrites it.
    stripe_created        bigint NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_user_id_idx ON subscriptions (user_id);
CREATE INDEX subscriptions_customer_idx ON subscriptions (stripe_customer_id);

CREATE TABLE purchases (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    checkout_session_id  text NOT NULL UNIQUE,
    payment_intent_id    text,
    user_id              uuid REFERENCES profiles (id) ON DELETE CASCADE,
    stripe_customer_id   text,
    price_id             text NOT NULL,
    amount_total         bigint NOT NULL,
    currency             text NOT NULL,
    status               text NOT NULL,              -- paid | unpaid | failed
    email                text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchases_user_id_idx ON purchases (user_id);

-- The durable event log: an id is applied at most once.
CREATE TABLE stripe_events (
    id            text PRIMARY KEY,                  -- Stripe's evt_…
    type          text NOT NULL,
    stripe_created bigint NOT NULL,
    livemode      boolean NOT NULL DEFAULT false,
    payload       text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX stripe_events_unprocessed_idx ON stripe_events (received_at) WHERE processed_at IS NULL;

-- Mail is written in the same transaction as the event that causes it, sent later by a worker.
CREATE TABLE email_outbox (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- One mail per cause (e.g. `invoice.payment_failed:in_…`), however often the cause arrives.
    dedupe_key    text NOT NULL UNIQUE,
    to_email      text NOT NULL,
    subject       text NOT NULL,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX email_outbox_pending_idx ON email_outbox (created_at) WHERE sent_at IS NULL;
