"""The queue's rows, built in Python (reconciliation_tags.discrepancy_rows): what each cell says."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import timezone, translation
from helpers import D, stored_discrepancy

from reconciliation.models import Discrepancy


def cells(html: str, pk: int) -> str:
    row = next(r for r in html.split("<tr>") if f'value="{pk}"' in r)
    return row


@pytest.mark.django_db
def test_each_kind_of_row_says_what_the_template_said(channel, clerk):
    carried = stored_discrepancy(channel, "-12.50", state="CARRIED_OVER", carry_until=D + timedelta(days=3))
    fee = stored_discrepancy(
        channel, "0.40", type="FEE_MISMATCH", bank_fee=Decimal("1.00"), expected_fee=Decimal("0.60"), bank_amount=Decimal("100")
    )
    closed = stored_discrepancy(channel, "5", state="RESOLVED", closed_as="CROSS_DAY_MATCH", resolved_at=timezone.now())
    closed.assigned_to = clerk
    closed.save(update_fields=["assigned_to"])
    rows = Discrepancy.objects.select_related("channel", "platform_txn", "statement_line", "related_txn").order_by("pk")
    with translation.override("en"):
        html = render_to_string("reconciliation/_discrepancy_table.html", {"rows": rows, "selectable": True})
    age = (timezone.localdate() - D).days
    row = cells(html, carried.pk)
    assert f"waits until {(D + timedelta(days=3)).isoformat()}" in row
    assert '<span class="badge badge-shortage">Shortage</span>' in row and "-12.50 CNY" in row
    assert f"{age} days" in row and f"batch {carried.batch_no}" in row
    assert f'<a href="/discrepancies/{carried.pk}/">{carried.pk}</a><' in row  # not assigned: no marker
    row = cells(html, fee.pk)
    assert "fee 1.00 CNY, expected 0.60 CNY" in row and "100.00 CNY" in row and "—" in row  # our amount unknown
    row = cells(html, closed.pk)
    assert closed.get_closed_as_display() in row and '<td class="num nowrap"></td>' in row  # resolved: no age
    assert 'title="assigned">●' in row
    with translation.override("zh-hans"):
        html = render_to_string("reconciliation/_discrepancy_table.html", {"rows": rows, "selectable": True})
    assert "短款" in cells(html, carried.pk) and f"{age} 天" in cells(html, carried.pk)


@pytest.mark.django_db
def test_an_empty_queue_says_so():
    with translation.override("en"):
        html = render_to_string("reconciliation/_discrepancy_table.html", {"rows": [], "selectable": True})
    assert "No discrepancy." in html
