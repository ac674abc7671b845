-- Stripe's subscription schedules: the plan change a subscription waits to make at the end of
-- its paid period (a downgrade, or a shorter interval), so billing says "Changes to Starter on
-- …" and offers to keep the current plan. The row is what the latest read of the schedule from
-- Stripe found; an earlier read never overwrites a later one (`synced_at_ms`).
CREATE TABLE subscription_schedules (
    id                text PRIMARY KEY NOT NULL,  -- Stripe's sub_sched_…
    subscription_id   text NOT NULL,              -- the subscription it manages (or managed)
    status            text NOT NULL,              -- not_started, active, completed, released, canceled
    -- The phase after the current one: the price it bills and when it starts (unix seconds);
    -- NULL when the current phase is the last.
    next_price_id     text,
    next_starts_at    bigint,
    synced_at_ms      bigint NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscription_schedules_subscription_idx ON subscription_schedules (subscription_id);
