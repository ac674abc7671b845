-- A date set for a subscription's cancellation other than its period's end (Stripe's
-- `cancel_at`, as the Dashboard or the API sets it), so billing says "Cancels on …" rather than
-- "Renews on …". Unix seconds, as Stripe sends them.
ALTER TABLE subscriptions ADD COLUMN cancel_at INTEGER;
