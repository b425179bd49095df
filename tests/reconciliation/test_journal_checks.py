"""The journal's checking pass: the shortcut that lets a record whose every field is fine skip the list of its
problems never hides one (journal_sql.in_sql, ``_problems``)."""

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.services.intake import journal_sql as sql
from reconciliation.services.intake.transactions import _copy_rows

PADDINGS = ["", " ", "\t", "\u3000", "\xa0"]
GOOD = {
    "txn_no": "P1", "channel": "TESTCH", "channel_txn_no": "4200000001", "business_type": "collection",
    "amount": "100.00", "currency": "CNY", "fee": "0.60", "status": "success", "created_at": "2026-11-24 10:00:00",
    "completed_at": "2026-11-24 10:00:05", "business_date": "2026-11-24", "merchant_no": "", "account_no": "",
    "batch_no": "", "original_txn_no": "", "counterparty_account": "", "counterparty_name": "", "order_no": "ORD1",
}  # fmt: skip
TIMES = [
    "2026-11-24 10:00:00", "2026-11-24T10:00:00+08:00", "2026-11-24 10:00:00Z", "2026-02-30 10:00:00",
    "2026-11-24 24:00:00", "2026-11-24", "", "24/11/2026 10:00",
]  # fmt: skip
# Each field's values near its edges: fine, refused, and fine by a slower test than the shortcut's.
EDGES = {
    "txn_no": ["P1", "", "X" * 64, "X" * 65, "交易" * 32, "交易" * 33],
    "channel": ["TESTCH", ""],
    "channel_txn_no": ["", "4200000001", "S" * 65],
    "business_type": ["collection", "REFUND", "refund", "payout", "teleport", ""],
    "amount": [
        "100.00", "0.01", "+5", ".5", "5.", "-", ".", "0", "0.00", "-1", "1.00001", "1.00000", "1e5", "NaN",
        "999999999999999.9999", "1000000000000000", "0001000000000000000", "1,000.00", "5-", "--5", "+-5", "",
        "١٢٣",
    ],
    "currency": ["CNY", "cny", "XXX", "USD", ""],
    "fee": ["", "0.60", "-0.60", "-.5", "+0", "0.00001", "1234567890123456", "-1234567890123456", "abc", "-"],
    "status": ["success", "PROCESSING", "failed", "lost", ""],
    "created_at": TIMES,
    "completed_at": TIMES,
    "business_date": ["2026-11-24", "2026-02-29", "2024-02-29", "1899-12-31", "2026-13-01", "", "2026-11-24 10:00:00"],
    "merchant_no": ["", "M1"],
    "account_no": ["", "A1"],
    "batch_no": ["", "B" * 64, "B" * 65],
    "original_txn_no": ["", "P0", "O" * 65],
    "counterparty_account": ["", "6222000011112222"],
    "counterparty_name": ["", "张三", "名" * 200, "名" * 201],
    "order_no": ["", "ORD1", "O" * 65],
}  # fmt: skip
VALUES = {
    name: st.one_of(
        st.tuples(st.sampled_from(PADDINGS), st.sampled_from(edges), st.sampled_from(PADDINGS)).map("".join),
        st.text(max_size=8),
        st.none(),
    )
    for name, edges in EDGES.items()
}
# A good record with none, one or a few of its fields changed (so that each field's own shortcut condition is
# often the one that decides).
RECORDS = (
    st.sets(st.sampled_from(sorted(VALUES)), max_size=3)
    .flatmap(lambda changed: st.fixed_dictionaries({name: VALUES[name] for name in changed}))
    .map(lambda changes: {**GOOD, **changes})
)


def _stage(cursor, records) -> None:
    for table in sql.TEMP_TABLES:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
    cursor.execute(sql.stage_sql(numbered=False))
    _copy_rows(cursor, ((n, [r.get(name) for name in sql.FIELDS]) for n, r in enumerate(records, 1)))
    for step in sql.dictionaries_sql():
        cursor.execute(step)


def _checked(cursor, *, shortcut: bool) -> list[tuple]:
    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{sql.IN}")
    cursor.execute(sql.in_sql(nul=False, shortcut=shortcut))
    cursor.execute(f"SELECT ref, problems, amount, fee, created_at, completed_at, business_date FROM {sql.IN} ORDER BY ref")
    return cursor.fetchall()


@pytest.mark.django_db
def test_every_edge_of_every_field_is_checked_the_same_with_the_shortcut():
    records = [{**GOOD, name: f"{pad}{value}{pad}"} for name, edges in EDGES.items() for value in edges for pad in PADDINGS[:3]]
    with transaction.atomic(), connection.cursor() as cursor:
        _stage(cursor, records)
        full = _checked(cursor, shortcut=False)
        assert _checked(cursor, shortcut=True) == full
        assert sum(1 for row in full if row[1]) > len(records) / 3  # many are refused, for many reasons
        transaction.set_rollback(True)


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(RECORDS, min_size=1, max_size=12))
def test_a_record_that_skips_its_list_of_problems_has_none(records):
    with transaction.atomic(), connection.cursor() as cursor:
        _stage(cursor, records)
        full = _checked(cursor, shortcut=False)
        assert _checked(cursor, shortcut=True) == full
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_the_shortcut_is_taken_by_a_clean_record_and_not_by_one_with_a_problem():
    """Both paths are exercised: a clean record skips the list, a record with a problem builds it."""
    with transaction.atomic(), connection.cursor() as cursor:
        _stage(cursor, [GOOD, {**GOOD, "amount": "0"}, {**GOOD, "txn_no": "交易" * 32}])
        cursor.execute(f"SELECT {sql.fine_sql()} FROM {sql.checked_rows_sql()} ORDER BY ref")
        # The third is fine, but by more than the shortcut's test (64 characters, 192 bytes).
        assert [row[0] for row in cursor.fetchall()] == [True, False, False]
        transaction.set_rollback(True)
