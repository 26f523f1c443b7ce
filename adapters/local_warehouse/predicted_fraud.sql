-- The contract table the fraud model writes, in Redshift's dialect; loader.py fills in the name.
-- No NOT NULL constraints: the model's exports can lack any field, ids included, and fraud-alerts
-- rejects such rows itself. Distributed by customer and sorted by prediction time for the sweep.
CREATE TABLE IF NOT EXISTS {table} (
    transaction_id   VARCHAR(64),
    customer_id      VARCHAR(64),
    customer_email   VARCHAR(320),
    customer_name    VARCHAR(512),
    card_last4       VARCHAR(16),
    amount           DECIMAL(18, 2),
    currency         CHAR(3),
    merchant_name    VARCHAR(512),
    transaction_time TIMESTAMP,
    fraud_score      DOUBLE PRECISION,
    model_version    VARCHAR(64),
    predicted_at     TIMESTAMP,
    email_sent       BOOLEAN DEFAULT FALSE
)
DISTKEY (customer_id)
SORTKEY (predicted_at)
