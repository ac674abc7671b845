-- A plan change waiting for its invoice's payment (Stripe's `pending_update`, made by
-- `payment_behavior=pending_if_incomplete`), as the subscription's last read showed it. A row
-- with no price says the last read showed none; `synced_at_ms` keeps an older read from
-- bringing back a change that was applied or expired since.
CREATE TABLE subscription_pending_updates (
    subscription_id  text PRIMARY KEY,            -- Stripe's sub_…
    price_id         text,                        -- the price it will have once paid
    invoice_id       text,                        -- the invoice whose payment applies it
    expires_at       bigint,                      -- unix seconds: Stripe discards it then
    synced_at_ms     bigint NOT NULL
);

-- The subscription whose invoice a charge paid: a dispute of it suspends that subscription.
ALTER TABLE charges ADD COLUMN subscription_id text;
CREATE INDEX charges_subscription_idx ON charges (subscription_id);
