"""The SQL of the claim protocol, in Redshift's dialect, with every value bound as a parameter.

Only validated table names (see `tables.py`) and integers from configuration are formatted into
the text. Redshift has no SELECT ... FOR UPDATE, SKIP LOCKED or UPDATE ... RETURNING, so a claim
is: LOCK the delivery table, mark a batch with our token, read back by token, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.redshift.tables import TableNames
from domain.outcomes import Delivery, Rejected, Sent

ALERT_COLUMNS = (
    "transaction_id",
    "customer_id",
    "customer_email",
    "customer_name",
    "card_last4",
    "amount",
    "currency",
    "merchant_name",
    "transaction_time",
    "fraud_score",
    "model_version",
    "predicted_at",
)

# `predicted_fraud` as the model team owns it: the alert's columns and the flag we set.
TABLE_COLUMNS = (*ALERT_COLUMNS, "email_sent")

_MAX_DETAIL = 256


@dataclass(frozen=True, slots=True)
class BoundSql:
    """Statements to run as one transaction, their shared parameters, and which one returns rows."""

    sqls: tuple[str, ...]
    parameters: dict[str, str]
    result_index: int | None = None


class LedgerSql:
    """Builds the protocol's statements for one pair of tables."""

    def __init__(self, tables: TableNames) -> None:
        self._alerts = tables.alerts
        self._delivery = tables.delivery

    def _registration(self) -> list[str]:
        """Register every flagged transaction not seen before; reject rows that lack an id; mark
        rows of already-emailed transactions `email_sent`. Runs inside a claim, under its LOCK."""
        new_alerts = f"""
            INSERT INTO {self._delivery}
                (alert_key, transaction_id, state, attempts, deferrals,
                 flagged_at, first_seen_at, updated_at)
            SELECT p.transaction_id, p.transaction_id, 'pending', 0, 0,
                   COALESCE(MIN(p.predicted_at), CAST(:now AS TIMESTAMP)),
                   CAST(:now AS TIMESTAMP), CAST(:now AS TIMESTAMP)
            FROM {self._alerts} p
            WHERE NULLIF(TRIM(p.transaction_id), '') IS NOT NULL
              AND NOT EXISTS (
                  SELECT 1 FROM {self._delivery} d WHERE d.alert_key = p.transaction_id)
            GROUP BY p.transaction_id
            HAVING MAX(CASE WHEN p.email_sent THEN 1 ELSE 0 END) = 0"""
        rows_without_id = f"""
            INSERT INTO {self._delivery}
                (alert_key, transaction_id, state, attempts, deferrals, reason,
                 flagged_at, first_seen_at, updated_at)
            SELECT f.alert_key, NULL, 'rejected', 0, 0, 'missing_transaction_id',
                   COALESCE(MIN(f.predicted_at), CAST(:now AS TIMESTAMP)),
                   CAST(:now AS TIMESTAMP), CAST(:now AS TIMESTAMP)
            FROM (
                SELECT 'row:' || MD5(
                           COALESCE(p.customer_id, '') || '|' || COALESCE(p.customer_email, '')
                           || '|' || COALESCE(CAST(p.amount AS VARCHAR), '')
                           || '|' || COALESCE(CAST(p.transaction_time AS VARCHAR), '')
                           || '|' || COALESCE(CAST(p.predicted_at AS VARCHAR), '')
                           || '|' || COALESCE(p.model_version, '')) AS alert_key,
                       p.predicted_at
                FROM {self._alerts} p
                WHERE NULLIF(TRIM(p.transaction_id), '') IS NULL
                  AND COALESCE(p.email_sent, FALSE) = FALSE
            ) f
            WHERE NOT EXISTS (SELECT 1 FROM {self._delivery} d WHERE d.alert_key = f.alert_key)
            GROUP BY f.alert_key"""
        # A transaction scored again after its email went out is not a new alert, but its new
        # row must say so too: `email_sent` is the model team's view of what was emailed.
        rescored_after_send = f"""
            UPDATE {self._alerts}
            SET email_sent = TRUE
            FROM {self._delivery} d
            WHERE {_column(self._alerts, "transaction_id")} = d.alert_key AND d.state = 'sent'
              AND COALESCE({_column(self._alerts, "email_sent")}, FALSE) = FALSE"""
        return [new_alerts, rows_without_id, rescored_after_send]

    def claim(
        self,
        token: str,
        limit: int,
        now: str,
        lease_until: str,
        *,
        park_expired: bool,
        register_new: bool = False,
    ) -> BoundSql:
        """Lease up to `limit` pending alerts (oldest first) to `token` and read them back.

        With `register_new` (a run's first claim) newly flagged transactions are registered
        first, in the same transaction: one round trip, not two, before the first email. With
        `park_expired` (the at-most-once policy) an expired claim, whose batch may have reached
        SES before its run died, is parked as `unknown` instead of being claimed again.
        """
        sqls = [f"LOCK {self._delivery}"]
        if register_new:
            sqls.extend(self._registration())
        if park_expired:
            sqls.append(f"""
                UPDATE {self._delivery}
                SET state = 'unknown', reason = 'lease_expired', claim_token = NULL,
                    claimed_until = NULL, updated_at = CAST(:now AS TIMESTAMP)
                WHERE state = 'claimed' AND claimed_until < CAST(:now AS TIMESTAMP)""")
        sqls.append(f"""
            UPDATE {self._delivery}
            SET state = 'claimed', claim_token = :token,
                claimed_until = CAST(:lease_until AS TIMESTAMP), attempts = attempts + 1,
                updated_at = CAST(:now AS TIMESTAMP)
            WHERE alert_key IN (
                SELECT alert_key FROM {self._delivery}
                WHERE state = 'pending'
                   OR (state = 'claimed' AND claimed_until < CAST(:now AS TIMESTAMP))
                ORDER BY flagged_at, alert_key
                LIMIT {int(limit)})""")
        sqls.append(self._claimed_rows())
        parameters = {"token": token, "now": now, "lease_until": lease_until}
        return BoundSql(tuple(sqls), parameters, result_index=len(sqls))

    def claimed_rows(self, token: str) -> BoundSql:
        """Read a claim's rows again (when the claim's own result has expired)."""
        return BoundSql((self._claimed_rows(),), {"token": token}, result_index=1)

    def _claimed_rows(self) -> str:
        # One row per claimed alert: the latest scoring of the transaction. A LEFT JOIN keeps an
        # alert whose rows were deleted meanwhile, so it can be closed rather than stuck.
        columns = ", ".join(f"p.{column}" for column in ALERT_COLUMNS)
        ranked_columns = ", ".join(ALERT_COLUMNS)
        return f"""
            SELECT d.alert_key, d.attempts, {columns}
            FROM {self._delivery} d
            LEFT JOIN (
                SELECT {ranked_columns},
                       ROW_NUMBER() OVER (
                           PARTITION BY transaction_id
                           ORDER BY predicted_at DESC NULLS LAST, fraud_score DESC NULLS LAST,
                                    customer_email NULLS LAST) AS row_rank
                FROM {self._alerts}
                WHERE transaction_id IN (
                    SELECT alert_key FROM {self._delivery} WHERE claim_token = :token)
            ) p ON p.transaction_id = d.alert_key AND p.row_rank = 1
            WHERE d.claim_token = :token
            ORDER BY d.flagged_at, d.alert_key"""

    def record(self, token: str, deliveries: Sequence[Delivery], now: str) -> BoundSql:
        """Commit one batch's outcomes in one transaction; running it twice changes nothing more.

        A send is a fact, so `sent` is recorded even if the lease was lost meanwhile; a rejection
        or deferral only applies while the claim is still ours.
        """
        values, parameters = _outcome_values(deliveries)
        parameters.update({"token": token, "now": now})
        delivery = self._delivery
        release = "claim_token = NULL, claimed_until = NULL, updated_at = CAST(:now AS TIMESTAMP)"
        sqls = (
            """CREATE TEMP TABLE batch_outcome (
                   alert_key VARCHAR(256), outcome VARCHAR(16), message_id VARCHAR(512),
                   reason VARCHAR(64), reason_detail VARCHAR(256))""",
            f"INSERT INTO batch_outcome VALUES {values}",
            f"""UPDATE {delivery}
                SET state = 'sent', message_id = o.message_id, sent_at = CAST(:now AS TIMESTAMP),
                    reason = NULL, reason_detail = NULL, {release}
                FROM batch_outcome o
                WHERE {_column(delivery, "alert_key")} = o.alert_key AND o.outcome = 'sent'""",
            f"""UPDATE {delivery}
                SET state = 'rejected', reason = o.reason, reason_detail = o.reason_detail,
                    {release}
                FROM batch_outcome o
                WHERE {_column(delivery, "alert_key")} = o.alert_key AND o.outcome = 'rejected'
                  AND {_column(delivery, "claim_token")} = :token""",
            f"""UPDATE {delivery}
                SET state = 'pending', reason = o.reason, reason_detail = o.reason_detail,
                    deferrals = deferrals + 1, {release}
                FROM batch_outcome o
                WHERE {_column(delivery, "alert_key")} = o.alert_key AND o.outcome = 'deferred'
                  AND {_column(delivery, "claim_token")} = :token""",
            f"""UPDATE {self._alerts}
                SET email_sent = TRUE
                FROM batch_outcome o
                WHERE {_column(self._alerts, "transaction_id")} = o.alert_key
                  AND o.outcome = 'sent'
                  AND COALESCE({_column(self._alerts, "email_sent")}, FALSE) = FALSE""",
            "DROP TABLE batch_outcome",
        )
        return BoundSql(sqls, parameters)

    def status(self, now: str, max_deferrals: int) -> BoundSql:
        """Counts per state and reason, stuck work, and what the model table holds unseen."""
        by_state = f"""
            SELECT state, COALESCE(reason, '') AS reason, COUNT(*) AS alerts,
                   SUM(CASE WHEN state = 'claimed' AND claimed_until < CAST(:now AS TIMESTAMP)
                            THEN 1 ELSE 0 END) AS expired_claims,
                   SUM(CASE WHEN state = 'pending' AND deferrals > {int(max_deferrals)}
                            THEN 1 ELSE 0 END) AS deferred_too_often,
                   MIN(CASE WHEN state IN ('pending', 'claimed') THEN flagged_at END)
                       AS oldest_pending
            FROM {self._delivery}
            GROUP BY state, COALESCE(reason, '')"""
        # What the model table holds that fraud-alerts has not registered yet: transactions with
        # an id, none of whose rows is already emailed (exactly what the next claim registers).
        model_table = f"""
            SELECT (SELECT COUNT(transaction_id) - COUNT(DISTINCT transaction_id)
                    FROM {self._alerts}) AS duplicate_rows,
                   (SELECT SUM(CASE WHEN email_sent THEN 1 ELSE 0 END)
                    FROM {self._alerts}) AS flagged_sent_rows,
                   COUNT(*) AS unseen_alerts,
                   MIN(u.flagged_at) AS oldest_unseen
            FROM (
                SELECT a.transaction_id, MIN(a.predicted_at) AS flagged_at
                FROM {self._alerts} a
                WHERE NULLIF(TRIM(a.transaction_id), '') IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM {self._delivery} d
                                  WHERE d.alert_key = a.transaction_id)
                GROUP BY a.transaction_id
                HAVING MAX(CASE WHEN a.email_sent THEN 1 ELSE 0 END) = 0
            ) u"""
        return BoundSql((by_state, model_table), {"now": now}, result_index=1)


def _outcome_values(deliveries: Sequence[Delivery]) -> tuple[str, dict[str, str]]:
    rows: list[str] = []
    parameters: dict[str, str] = {}
    for index, delivery in enumerate(deliveries):
        key = f"k{index}"
        parameters[key] = delivery.alert_key
        if isinstance(delivery, Sent):
            parameters[f"m{index}"] = delivery.message_id
            rows.append(f"(:{key}, 'sent', :m{index}, NULL, NULL)")
            continue

        outcome = "rejected" if isinstance(delivery, Rejected) else "deferred"
        parameters[f"r{index}"] = delivery.reason.value
        # Parameters cannot be empty or NULL in the Data API: an absent detail is a NULL literal.
        detail = "NULL"
        if delivery.detail:
            parameters[f"d{index}"] = delivery.detail[:_MAX_DETAIL]
            detail = f":d{index}"
        rows.append(f"(:{key}, '{outcome}', NULL, :r{index}, {detail})")
    return ", ".join(rows), parameters


def _column(table: str, column: str) -> str:
    # In UPDATE ... FROM, the target's columns are qualified by its bare name, without schema.
    return f"{table.rsplit('.', 1)[-1]}.{column}"
