-- The balance Stripe holds for each customer (its `balance`, in the smallest currency unit:
-- negative is credit that pays the next invoices first), as the latest read of the customer said
-- it, stamped with when that read was sent (`synced_at_ms`: an older read never overwrites it).
-- Keyed by the Stripe customer, not the profile: `customer.updated` may come before the checkout
-- that links the customer to a profile.
CREATE TABLE customer_balances (
    stripe_customer_id TEXT PRIMARY KEY,
    balance            INTEGER NOT NULL,
    currency           TEXT,
    synced_at_ms       INTEGER NOT NULL
);
