"""Parses the shared conformance corpus (real excerpts from other projects) when it is present.

Several samples are excerpts whose footers do not match their rows: they are parsed with
strict_totals=False and the mismatch must be reported as a warning.
"""

import os
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation import parsers
from reconciliation.parsers import Direction, LineType

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLES = Path(os.environ.get("SHARED_FORMATS_DIR", REPO_ROOT / ".." / "shared" / "formats" / "samples"))

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared conformance samples are not present")


def parsed(code: str, name: str):
    data = (SAMPLES / name).read_bytes()
    assert parsers.detect(data).format == code
    statement = parsers.parse(code, data, strict_totals=False)
    return statement, list(statement.rows)


def test_every_sample_parses():
    names = sorted(path.name for path in SAMPLES.iterdir())
    assert names, "the samples folder is empty"
    for name in names:
        data = (SAMPLES / name).read_bytes()
        found = parsers.detect(data)
        assert found is not None, name
        statement = parsers.parse(found.format, data, strict_totals=False)
        assert list(statement.rows), name
        assert statement.totals.count > 0


def test_wechat_current_all_bill():
    statement, rows = parsed("WECHAT_TRADE", "wechat_trade_all.csv")
    assert rows[0].amount == Decimal("6.00") and rows[0].fee == Decimal("0.04000")
    assert rows[0].fee_rate == Decimal("0.0060")
    assert any("总交易单数 declares 48, parsed rows give 1" in w.message for w in statement.warnings)


def test_wechat_legacy_and_refund_bills():
    statement, rows = parsed("WECHAT_TRADE", "wechat_trade_all_legacy.csv")
    assert statement.metadata.variant == "ALL_LEGACY"
    assert [r.amount for r in rows] == [Decimal("0.01"), Decimal("0.01")]
    assert rows[0].occurred_at.hour == 16 and rows[0].occurred_at.minute == 33
    assert statement.warnings == []
    statement, rows = parsed("WECHAT_TRADE", "wechat_trade_refund.csv")
    assert rows[0].line_type is LineType.REFUND and rows[0].amount == Decimal("0.01")
    assert statement.warnings


def test_alipay_samples():
    statement, rows = parsed("ALIPAY_TRADE", "alipay_trade_20190916.csv")
    assert len(rows) == 10 and statement.warnings == []
    assert statement.totals.count_by_type[LineType.REFUND] == 4
    statement, rows = parsed("ALIPAY_ACCOUNT", "alipay_account_20121229.csv")
    assert rows[0].amount == Decimal("2274.00") and rows[0].balance_after == Decimal("14533.03")
    assert [w.message for w in statement.warnings] == [
        "footer #收入合计 count declares 18, parsed rows give 3",
        "footer #收入合计 amount declares 14989.00, parsed rows give 3778.00",
    ]


def test_mt940_sample():
    statement, rows = parsed("MT940", "mt940_ing.sta")
    assert len(rows) == 7
    assert statement.metadata.closing_balance == Decimal("3.47") and statement.currency == "EUR"
    assert rows[0].memo.startswith("RC AFREKENING BETALINGSVERKEER")
    assert statement.warnings and statement.warnings[0].field == ":62F:"


def test_camt053_sample():
    statement, rows = parsed("CAMT053", "camt053_001_02.xml")
    assert len(rows) == 3
    batch = rows[1]
    assert batch.is_reversal and batch.direction is Direction.DEBIT and batch.amount == Decimal("664.05")
    assert [item.amount for item in batch.items] == [Decimal("564.05"), Decimal("100.00")]
    assert batch.items[0].reference == "TESTBANK/NL/20141229/01206408"
    assert statement.metadata.account_ref == "NL77ABNA0574908765"
    assert statement.warnings[0].field == "Bal/CLBD"
