"""The configuration that drives money is on the audit trail, and the trail is append-only."""

from datetime import date
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import DatabaseError, transaction

from reconciliation.models import FeeTier, Holiday, StatementFormat, StatementSource

pytestmark = pytest.mark.django_db


def _events(model):
    return apps.get_model(model._meta.app_label, f"{model.__name__}Event").objects


def test_fee_tiers_statement_formats_sources_and_holidays_keep_their_history(wx):
    fee_model = wx.fee_models.first()
    tier = FeeTier.objects.create(fee_model=fee_model, lower_bound=Decimal("1000.00"), rate=Decimal("0.005"))
    tier.rate = Decimal("0.004")
    tier.save()
    fmt = StatementFormat.objects.create(channel=wx, kind="BUSINESS", format_code="WECHAT_TRADE")
    fmt.strict_totals = False
    fmt.save()
    holiday = Holiday.objects.create(day=date(2026, 10, 1), kind="HOLIDAY", name="National Day")
    holiday.delete()
    source = StatementSource.objects.create(
        channel=wx, kind="BUSINESS", transport="DIRECTORY", path="/srv/bills", filename_pattern="*.csv", fetch_time="09:00"
    )
    source.last_result = "fetched 1 file"  # what a fetch writes back is not configuration
    source.save()

    assert list(_events(FeeTier).filter(pgh_obj_id=tier.pk).values_list("pgh_label", "rate")) == [
        ("insert", Decimal("0.005")),
        ("update", Decimal("0.004")),
    ]
    assert list(_events(StatementFormat).filter(pgh_obj_id=fmt.pk).values_list("pgh_label", "strict_totals")) == [
        ("insert", True),
        ("update", False),
    ]
    assert list(_events(Holiday).values_list("pgh_label", flat=True)) == ["insert", "delete"]
    assert list(_events(StatementSource).filter(pgh_obj_id=source.pk).values_list("pgh_label", flat=True)) == ["insert"]


def test_history_rows_cannot_be_changed_or_deleted(wx):
    wx.name = "renamed"
    wx.save()
    events = _events(type(wx))
    assert events.filter(pgh_obj_id=wx.pk).exists()
    with pytest.raises(DatabaseError), transaction.atomic():
        events.filter(pgh_obj_id=wx.pk).update(name="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        events.filter(pgh_obj_id=wx.pk).delete()


def test_the_audit_screen_reads_as_people_read(client, auditor, wx):
    wx.approval_threshold = Decimal("1000.00")
    wx.save()
    wx.approval_threshold = Decimal("2500.10")
    wx.is_active = False
    wx.save()
    client.force_login(auditor)

    page = client.get("/admin/backoffice/auditevent/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "1000.0000 → 2500.1000" in page  # the stored decimal (4 places), never a float's digits
    assert "yes → no" in page
    assert "{&#x27;" not in page and "None" not in page  # no Python dict text, no None


def test_the_audit_screen_looks_each_related_record_up_once_per_page(client, auditor, wx, bank):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reconciliation.models import Bank

    other = Bank.objects.create(code="OTHER", name="另一银行")
    for _ in range(4):  # eight changes naming the same two banks
        wx.bank = other
        wx.save()
        wx.bank = bank
        wx.save()
    client.force_login(auditor)

    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/backoffice/auditevent/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert str(other) in page and str(bank) in page
    bank_lookups = [q for q in queries.captured_queries if 'FROM "reconciliation_bank"' in q["sql"]]
    assert len(bank_lookups) <= 2
