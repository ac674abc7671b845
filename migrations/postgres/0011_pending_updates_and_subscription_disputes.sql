-- A plan change waiting for its invoice's payment (Stripe's `pending_update`, made by
-- `payment_behavior=pending_if_incomplete`), as the subscription's last read showed it: stored
-- in the subscription's own row by the same upsert (and under the same `synced_at_ms` guard), so
-- an older read never brings back a change that was applied or expired since. NULL: none.
ALTER TABLE subscriptions ADD COLUMN pending_price_id text;     -- the price it will have once paid
ALTER TABLE subscriptions ADD COLUMN pending_invoice_id text;   -- the invoice whose payment applies it
ALTER TABLE subscriptions ADD COLUMN pending_expires_at bigint;   -- unix seconds: Stripe drops it then

-- The subscription whose invoice a charge paid: a dispute of it suspends that subscription.
ALTER TABLE charges ADD COLUMN subscription_id text;
CREATE INDEX charges_subscription_idx ON charges (subscription_id);
