"""The production adapter's SQL on a real engine, beyond the shared contract."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from adapters.redshift.alert_source import DeliveryPolicy
from domain.outcomes import Rejected, RejectReason, Sent
from domain.ports import Claim
from tests.fakes import FakeClock, register
from tests.warehouse import TestWarehouse, model_row


def _warehouse(**options) -> TestWarehouse:
    return TestWarehouse(":memory:", FakeClock(), **options)


def _claim(warehouse: TestWarehouse, token: str, lease: float = 900) -> Claim:
    return Claim(token, 100, warehouse.clock.now() + timedelta(seconds=lease))


def test_claimed_rows_carry_every_column_with_its_type():
    warehouse = _warehouse()
    warehouse.insert([model_row("t1", amount=Decimal("427100.00"), currency="KRW")])
    source = warehouse.source()
    register(source, warehouse.clock.now())

    [row] = source.claim(_claim(warehouse, "a"), warehouse.clock.now())

    assert row.amount == Decimal("427100.00")
    assert row.currency == "KRW"
    assert row.transaction_time == datetime(2026, 11, 30, 10, 45, 25)
    assert row.customer_email == "t1@example.com"
    assert row.attempts == 1


def test_nulls_in_every_column_reach_the_domain_as_none():
    warehouse = _warehouse()
    nulls = {column: None for column in model_row("x") if column != "transaction_id"}
    warehouse.insert([model_row("t1", **nulls)])
    source = warehouse.source()
    register(source, warehouse.clock.now())

    [row] = source.claim(_claim(warehouse, "a"), warehouse.clock.now())

    assert row.customer_email is None
    assert row.amount is None
    assert row.transaction_time is None
    assert row.fraud_score is None


def test_the_latest_scoring_of_a_duplicate_transaction_is_the_one_emailed():
    warehouse = _warehouse()
    warehouse.insert(
        [
            model_row(
                "t1", customer_email="old@example.com", predicted_at=datetime(2026, 11, 30, 9)
            ),
            model_row(
                "t1", customer_email="new@example.com", predicted_at=datetime(2026, 11, 30, 11)
            ),
        ]
    )
    source = warehouse.source()
    register(source, warehouse.clock.now())

    rows = source.claim(_claim(warehouse, "a"), warehouse.clock.now())

    assert [row.customer_email for row in rows] == ["new@example.com"]


def test_sent_marks_every_duplicate_row_and_keeps_the_message_id():
    warehouse = _warehouse()
    warehouse.insert([model_row("t1"), model_row("t1"), model_row("t2")])
    source = warehouse.source()
    register(source, warehouse.clock.now())
    claim = _claim(warehouse, "a")
    source.claim(claim, warehouse.clock.now())

    source.record(
        claim,
        [Sent("t1", "ses-1"), Rejected("t2", RejectReason.INVALID_EMAIL)],
        warehouse.clock.now(),
    )

    assert warehouse.email_sent() == {"t1": True, "t2": False}
    delivery = warehouse.delivery()
    assert delivery["t1"]["message_id"] == "ses-1"
    assert delivery["t1"]["state"] == "sent"
    assert delivery["t2"]["state"] == "rejected"
    assert delivery["t2"]["reason"] == "invalid_email"


def test_rows_already_emailed_or_without_an_id_are_never_claimed():
    warehouse = _warehouse()
    warehouse.insert(
        [
            model_row("t1", email_sent=True),
            model_row(None, customer_id="cust-9"),
            model_row("  ", customer_id="cust-8"),
            model_row("t2"),
        ]
    )
    source = warehouse.source()

    rows = source.claim(_claim(warehouse, "a"), warehouse.clock.now(), register_new=True)

    assert [row.alert_key for row in rows] == ["t2"]
    reasons = {
        entry["reason"] for key, entry in warehouse.delivery().items() if key.startswith("row:")
    }
    assert reasons == {"missing_transaction_id"}


def test_at_most_once_parks_an_expired_claim_as_unknown():
    warehouse = _warehouse()
    warehouse.insert([model_row("t1")])
    source = warehouse.source(policy=DeliveryPolicy.AT_MOST_ONCE)
    register(source, warehouse.clock.now())
    source.claim(_claim(warehouse, "a", lease=60), warehouse.clock.now())
    warehouse.clock.advance(61)

    again = source.claim(_claim(warehouse, "b"), warehouse.clock.now())
    status = source.status(warehouse.clock.now(), 5)

    assert again == []
    assert status.unknown == 1
    assert warehouse.delivery()["t1"]["state"] == "unknown"


def test_a_commit_that_fails_with_a_serialisation_error_is_retried_and_lands_once():
    warehouse = _warehouse()
    warehouse.insert([model_row("t1")])
    source = warehouse.source()
    register(source, warehouse.clock.now())
    claim = _claim(warehouse, "a")
    source.claim(claim, warehouse.clock.now())
    warehouse.client.inject_failure(
        lambda sqls: any("batch_outcome" in sql for sql in sqls),
        "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100, transactions"
        " forming the cycle are: 1, 2",
    )

    source.record(claim, [Sent("t1", "ses-1")], warehouse.clock.now())

    assert warehouse.delivery()["t1"]["state"] == "sent"
    assert warehouse.email_sent() == {"t1": True}


def test_status_reports_stuck_and_old_work():
    warehouse = _warehouse()
    warehouse.insert([model_row("t1"), model_row("t2"), model_row("t3")])
    source = warehouse.source()
    register(source, warehouse.clock.now())
    source.claim(
        Claim("a", 1, warehouse.clock.now() + timedelta(seconds=60)), warehouse.clock.now()
    )
    warehouse.clock.advance(120)

    status = source.status(warehouse.clock.now(), 5)

    assert status.pending == 2
    assert status.claimed == 1
    assert status.expired_claims == 1
    flagged = datetime(2026, 11, 30, 10, 48, 59)
    assert status.oldest_pending_age_seconds == (warehouse.clock.now() - flagged).total_seconds()


def test_status_counts_as_pending_only_what_the_next_claim_would_register():
    warehouse = _warehouse()
    warehouse.insert(
        [
            model_row("   ", customer_id="blank-id"),
            model_row(None, customer_id="no-id"),
            model_row("mixed", email_sent=True),
            model_row("mixed", email_sent=False),
            model_row("new"),
        ]
    )
    source = warehouse.source()
    register(source, warehouse.clock.now())
    warehouse.insert([model_row("later")])

    status = source.status(warehouse.clock.now(), 5)

    # "new" is registered and pending; "later" is not registered yet but will be; the rows
    # without an id are rejected, and "mixed" was emailed before: none of those is pending.
    assert status.pending == 2
    assert status.duplicate_rows == 1
    assert status.rejected_by_reason == {"missing_transaction_id": 2}
