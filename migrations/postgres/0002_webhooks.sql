-- Webhooks (#6): subscriptions and invoices are stored as a fresh read from Stripe, and a read
-- never overwrites a later one (`synced_at_ms`, when the read came back); mail is claimed by
-- one sender at a time and retried later when the server refuses it.

ALTER TABLE subscriptions ADD COLUMN current_period_start bigint;
ALTER TABLE subscriptions ADD COLUMN synced_at_ms bigint NOT NULL DEFAULT 0;

CREATE TABLE invoices (
    id                  text PRIMARY KEY,              -- Stripe's in_…
    stripe_customer_id  text NOT NULL,
    subscription_id     text,
    number              text,
    status              text NOT NULL,                 -- draft | open | paid | void | uncollectible
    amount_due          bigint NOT NULL,
    amount_paid         bigint NOT NULL,
    currency            text NOT NULL,
    hosted_invoice_url  text,
    stripe_created      bigint NOT NULL,               -- unix seconds
    synced_at_ms        bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_customer_idx ON invoices (stripe_customer_id, stripe_created);

ALTER TABLE email_outbox ADD COLUMN next_attempt_at timestamptz;
