"""Corrections of statement files: a corrected bill replaces the earlier one (runs read only the current
file; nothing turns into a phantom duplicate or line alone), a refused file never blocks the same bytes,
and a refused file is parsed again once its format is fixed."""

import io
from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import reconcile, txn, wechat_bill, wechat_rows

from reconciliation.models import Discrepancy, StatementFile, StatementFormat
from reconciliation.services.intake.corrections import CorrectionRefused, statement_parse_again, statement_replace
from reconciliation.services.intake.statements import StatementRefused, statement_parse, statement_receive


def take_in(channel, data: bytes, name="bill.csv", **kwargs) -> StatementFile:
    received = statement_receive(
        channel=channel,
        content=io.BytesIO(data),
        original_name=name,
        source="UPLOAD",
        acting_user=None,
        now=timezone.now(),
        **kwargs,
    )
    return statement_parse(statement_file=received, now=timezone.now(), reconcile=False)


@pytest.fixture
def first_bill(wx):
    """The channel's bill of D: P1 as ours, P2 which we never had, P3 for 31.00 where ours is 30.00."""
    rows = wechat_rows(3, start=1)
    rows[2] = rows[2]._replace(amount=Decimal("31.00"), fee=Decimal("0.19"))  # where ours says 30.00
    txn(wx, "P00000001", "6.00")
    txn(wx, "P00000003", "30.00")
    bill = take_in(wx, wechat_bill(rows), name="wx_20261124.csv")
    reconcile(wx)
    assert {(d.type, d.match_key) for d in Discrepancy.objects.all()} == {
        ("BANK_ONLY", "P00000002"),
        ("AMOUNT_MISMATCH", "P00000003"),
    }
    return bill


@pytest.mark.django_db
def test_a_corrected_bill_replaces_the_earlier_one_without_phantoms(wx, first_bill, clerk, django_capture_on_commit_callbacks):
    rows = wechat_rows(4, start=1)
    rows[2] = rows[2]._replace(amount=Decimal("30.00"), fee=Decimal("0.18"))  # P3 corrected
    del rows[1]  # P2 was never ours to list
    corrected = take_in(wx, wechat_bill(rows), name="wx_20261124_v2.csv")
    with django_capture_on_commit_callbacks(execute=True):
        statement_replace(
            replaced=first_bill,
            replacement=corrected,
            reason="the channel re-sent the bill with P3 fixed",
            acting_user=clerk,
            now=timezone.now(),
        )
    first_bill.refresh_from_db()
    assert (first_bill.superseded_by, first_bill.superseded_by_user) == (corrected, clerk)
    p2 = Discrepancy.objects.get(match_key="P00000002")
    p3 = Discrepancy.objects.get(match_key="P00000003")
    assert (p2.state, p2.closed_as) == ("RESOLVED", "WITHDRAWN")  # the corrected bill no longer lists it
    assert (p3.state, p3.closed_as) == ("RESOLVED", "REMATCHED")  # the run re-read the corrected line
    assert p3.statement_line.file == corrected
    live = Discrepancy.objects.exclude(state="RESOLVED")
    assert [(d.type, d.match_key) for d in live] == [("BANK_ONLY", "P00000004")]  # the one new line
    assert not Discrepancy.objects.filter(type="DUPLICATE").exists()
    assert set(p3.workflow_events.values_list("kind", flat=True)) >= {"FOUND", "LINE_REPLACED", "MATCHED"}
    reconcile(wx)  # and again: nothing moves
    assert [(d.type, d.match_key) for d in Discrepancy.objects.exclude(state="RESOLVED")] == [("BANK_ONLY", "P00000004")]


@pytest.mark.django_db
def test_the_earlier_file_stays_current_until_the_corrected_one_is_parsed(wx, first_bill, clerk):
    received = statement_receive(
        channel=wx,
        content=io.BytesIO(wechat_bill(wechat_rows(3, start=1))),
        original_name="v2.csv",
        source="UPLOAD",
        acting_user=clerk,
        now=timezone.now(),
    )
    statement_replace(
        replaced=first_bill, replacement=received, reason="corrected by the channel", acting_user=clerk, now=timezone.now()
    )
    reconcile(wx)  # the correction is not parsed yet: the earlier bill is still read, nothing changes
    assert Discrepancy.objects.exclude(state="RESOLVED").count() == 2


@pytest.mark.django_db
def test_replacements_are_refused_when_they_make_no_sense(wx, first_bill, clerk, auditor, make_channel):
    other_day = take_in(wx, wechat_bill(wechat_rows(1, start=9, day=(2026, 11, 25))), name="other.csv")
    with pytest.raises(CorrectionRefused, match="same channel, kind and date"):
        statement_replace(replaced=first_bill, replacement=other_day, reason="wrong day", acting_user=clerk, now=timezone.now())
    corrected = take_in(wx, wechat_bill(wechat_rows(2, start=1)), name="v2.csv")
    with pytest.raises(CorrectionRefused, match="why"):
        statement_replace(replaced=first_bill, replacement=corrected, reason="x", acting_user=clerk, now=timezone.now())
    with pytest.raises(CorrectionRefused, match="not allowed"):
        statement_replace(
            replaced=first_bill, replacement=corrected, reason="looks right", acting_user=auditor, now=timezone.now()
        )
    statement_replace(replaced=first_bill, replacement=corrected, reason="looks right", acting_user=clerk, now=timezone.now())
    with pytest.raises(CorrectionRefused, match="already replaced"):
        statement_replace(replaced=first_bill, replacement=corrected, reason="again", acting_user=clerk, now=timezone.now())


@pytest.mark.django_db
def test_a_refused_file_never_blocks_the_same_bytes_and_is_parsed_again_once_its_format_is_fixed(
    wx, clerk, django_capture_on_commit_callbacks
):
    fmt = StatementFormat.objects.create(channel=wx, kind="BUSINESS", format_code="WECHAT_TRADE", strict_totals=True)
    data = wechat_bill(wechat_rows(3)).replace(b"`3,`18.00", b"`4,`18.00")  # the footer says 4 lines
    with pytest.raises(StatementRefused) as excinfo:
        take_in(wx, data, kind="BUSINESS")
    refused = excinfo.value.statement_file
    assert refused.status == "FAILED"
    with pytest.raises(StatementRefused) as again:  # the same bytes are not blocked by the refused copy
        take_in(wx, data, kind="BUSINESS")
    assert again.value.duplicate_of is None and again.value.statement_file.status == "FAILED"
    fmt.strict_totals = False  # an admin decides to accept this channel's inexact footers
    fmt.save()
    with django_capture_on_commit_callbacks(execute=True):  # the worker's parse, eagerly
        statement_parse_again(statement_file=refused, acting_user=clerk, now=timezone.now())
    refused.refresh_from_db()
    assert (refused.status, refused.line_count) == ("PARSED", 3)
    assert "declares 4" in refused.warnings[0]["reason"]
    with pytest.raises(CorrectionRefused, match="Only a refused file"):
        statement_parse_again(statement_file=refused, acting_user=clerk, now=timezone.now())


@pytest.mark.django_db
def test_the_screens_show_the_replacement_on_both_files_and_the_auditor_cannot_make_one(client, wx, first_bill, clerk, auditor):
    corrected = take_in(wx, wechat_bill(wechat_rows(2, start=1)), name="v2.csv")
    client.force_login(auditor)
    url = f"/statements/{corrected.pk}/replace/"
    assert client.post(url, {"replaces": first_bill.pk, "reason": "looks right"}).status_code == 403
    client.force_login(clerk)
    page = client.get(f"/statements/{corrected.pk}/").content.decode()
    assert f"#{first_bill.pk} wx_20261124.csv" in page  # offered as the file it may replace
    response = client.post(url, {"replaces": first_bill.pk, "reason": "the channel re-sent it"}, follow=True)
    assert "this file replaces" in response.content.decode().lower()
    old_page = client.get(f"/statements/{first_bill.pk}/").content.decode()
    assert f"Replaced by file #{corrected.pk}" in old_page and "the channel re-sent it" in old_page
    assert f"replaced by #{corrected.pk}" in client.get("/statements/").content.decode()
