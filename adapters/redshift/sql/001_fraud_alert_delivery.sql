-- fraud-alerts' own bookkeeping, one row per alert (one per transaction, however many times the
-- model scored it). predicted_fraud stays the model team's table: fraud-alerts only sets its
-- email_sent flag. Redshift does not enforce keys; the claim protocol (LOCK, then insert what is
-- missing) is what keeps alert_key unique.
CREATE TABLE IF NOT EXISTS {delivery} (
    alert_key      VARCHAR(256) NOT NULL,
    transaction_id VARCHAR(256),
    state          VARCHAR(16)  NOT NULL,
    claim_token    VARCHAR(128),
    claimed_until  TIMESTAMP,
    attempts       INTEGER      NOT NULL,
    deferrals      INTEGER      NOT NULL,
    message_id     VARCHAR(512),
    sent_at        TIMESTAMP,
    reason         VARCHAR(64),
    reason_detail  VARCHAR(256),
    flagged_at     TIMESTAMP    NOT NULL,
    first_seen_at  TIMESTAMP    NOT NULL,
    updated_at     TIMESTAMP    NOT NULL
)
DISTKEY (alert_key)
SORTKEY (state, flagged_at);
