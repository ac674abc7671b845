-- Reliability (#8): a mail server that is down is not a refusal. `attempts` counts every try;
-- `refusals` only the mail server's permanent answers, which alone can make a mail give up.
ALTER TABLE email_outbox ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
