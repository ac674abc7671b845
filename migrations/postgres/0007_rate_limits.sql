-- Rate limits shared by every instance on this database: one row per limiter, key and time
-- bucket, counted by one upsert per attempt and swept once its bucket has ended. Unlogged:
-- counters are worth no WAL, and a crash forgiving everyone is harmless. (SQLite sites are one
-- process and count in memory; their schema has no such table.)
CREATE UNLOGGED TABLE rate_limits (
    limiter       text NOT NULL,
    key_hash      bytea NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (limiter, key_hash, window_start)
);
CREATE INDEX rate_limits_expiry_idx ON rate_limits (expires_at);
