-- Money going back: each charge's refunds and dispute, as Stripe last reported them. A
-- one-time purchase finds its charge by payment intent.
CREATE TABLE charges (
    id                    TEXT PRIMARY KEY NOT NULL,   -- Stripe's ch_…
    payment_intent_id     TEXT,
    amount                INTEGER NOT NULL,
    amount_refunded       INTEGER NOT NULL DEFAULT 0,
    currency              TEXT NOT NULL,
    -- When the stored refunds were read from Stripe (unix ms): an older read never replaces them.
    refund_synced_at_ms   INTEGER NOT NULL DEFAULT 0,
    dispute_id            TEXT,
    dispute_status        TEXT,                        -- needs_response | under_review | won | lost | …
    dispute_synced_at_ms  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX charges_payment_intent_idx ON charges (payment_intent_id);
