-- Stripe's subscription schedules: the plan change a subscription waits to make at the end of
-- its paid period (a downgrade, or a shorter interval), so billing says "Changes to Starter on
-- …" and offers to keep the current plan. The row is what the latest read of the schedule from
-- Stripe found; an earlier read never overwrites a later one (`synced_at_ms`).
CREATE TABLE subscription_schedules (
    id                TEXT PRIMARY KEY NOT NULL,  -- Stripe's sub_sched_…
    subscription_id   TEXT NOT NULL,              -- the subscription it manages (or managed)
    status            TEXT NOT NULL,              -- not_started, active, completed, released, canceled
    -- The phase after the current one: the price it bills and when it starts (unix seconds);
    -- NULL when the current phase is the last.
    next_price_id     TEXT,
    next_starts_at    INTEGER,
    synced_at_ms      INTEGER NOT NULL,
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX subscription_schedules_subscription_idx ON subscription_schedules (subscription_id);
