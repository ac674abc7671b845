-- Webhooks (#6): subscriptions and invoices are stored as a fresh read from Stripe, and a read
-- never overwrites a later one (`synced_at_ms`, when the read came back); mail is claimed by
-- one sender at a time and retried later when the server refuses it.

ALTER TABLE subscriptions ADD COLUMN current_period_start INTEGER;
ALTER TABLE subscriptions ADD COLUMN synced_at_ms INTEGER NOT NULL DEFAULT 0;

CREATE TABLE invoices (
    id                  TEXT PRIMARY KEY NOT NULL,     -- Stripe's in_…
    stripe_customer_id  TEXT NOT NULL,
    subscription_id     TEXT,
    number              TEXT,
    status              TEXT NOT NULL,                 -- draft | open | paid | void | uncollectible
    amount_due          INTEGER NOT NULL,
    amount_paid         INTEGER NOT NULL,
    currency            TEXT NOT NULL,
    hosted_invoice_url  TEXT,
    stripe_created      INTEGER NOT NULL,              -- unix seconds
    synced_at_ms        INTEGER NOT NULL,
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX invoices_customer_idx ON invoices (stripe_customer_id, stripe_created);

ALTER TABLE email_outbox ADD COLUMN next_attempt_at TEXT;
