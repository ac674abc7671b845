-- The product's own data, as far as this site shows it: the URLs a customer watches. How
-- many they may have is their plan's `monitors` entitlement.
CREATE TABLE monitors (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    url         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX monitors_user_idx ON monitors (user_id);
