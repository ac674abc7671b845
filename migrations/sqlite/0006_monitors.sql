-- The product's own data, as far as this site shows it: the URLs a customer watches. How
-- many they may have is their plan's `monitors` entitlement.
CREATE TABLE monitors (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX monitors_user_idx ON monitors (user_id);
