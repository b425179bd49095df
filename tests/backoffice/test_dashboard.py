"""The dashboard: today's files, runs and open discrepancies per channel, ageing, the user's own work,
a fixed number of queries, both languages."""

from datetime import date, time, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from helpers import local_dt

from backoffice.dashboard.selectors import FileCheck, channels_today
from backoffice.dashboard.views import ageing_bars
from reconciliation.models import Approval, Discrepancy, ReconciliationRun, Resolution, StatementFile
from reconciliation.selectors.workflow import awaiting_my_approval

_serial = count(1)
# 10:00 on 26 November in Shanghai: the statement date is the 25th.
NOW = local_dt(2026, 11, 26, 10, 0)
TODAY = date(2026, 11, 26)
STATEMENT_DATE = date(2026, 11, 25)
ALWAYS_DUE = time(0, 0)
# Queries of the whole page (session, user, permissions, groups, then the dashboard's own), pinned.
# 15 for the page, 3 for the session saved on every request (the idle timeout restarts with each one).
DASHBOARD_MAX_QUERIES = 18


def statement_file(channel, day, kind="BUSINESS", status="PARSED"):
    return StatementFile.objects.create(
        channel=channel,
        kind=kind,
        statement_date=day,
        format_code="WECHAT_TRADE" if kind == "BUSINESS" else "CAMT053",
        sha256=f"{next(_serial):064d}",
        raw_file="test",
        size=1,
        source="COMMAND",
        status=status,
        received_at=timezone.now(),
    )


def run(channel, day, status="SUCCEEDED", **counts):
    now = timezone.now()
    return ReconciliationRun.objects.create(
        channel=channel,
        business_date=day,
        status=status,
        trigger="COMMAND",
        created_at=now,
        finished_at=now,
        counts={"outcomes": {}, **counts},
    )


def discrepancy(channel, day, effect="10.00", *, type="BANK_ONLY", state="OPEN", currency="CNY", source_run=None, **fields):
    now = timezone.now()
    effect = Decimal(effect)
    extra = {}
    if state == "CARRIED_OVER":
        extra["carry_until"] = day + timedelta(days=2)
    if state == "RESOLVED":
        extra.update(resolved_at=now, closed_as="WRITTEN_OFF")
    return Discrepancy.objects.create(
        run=source_run or run(channel, day),
        channel=channel,
        business_date=day,
        type=type,
        state=state,
        batch_no=f"B{next(_serial)}",
        currency=currency,
        effect=effect,
        direction="OVERAGE" if effect > 0 else "SHORTAGE" if effect < 0 else "",
        created_at=now,
        updated_at=now,
        **extra,
        **fields,
    )


def proposal(item, by, status="PROPOSED"):
    return Resolution.objects.create(
        discrepancy=item,
        action="WRITE_OFF",
        status=status,
        reason="rounding difference",
        amount=abs(item.effect),
        currency=item.currency,
        needs_second_approval=status == "FIRST_APPROVED",
        proposed_by=by,
        proposed_at=timezone.now(),
    )


def first_approval(resolution, by):
    Approval.objects.create(resolution=resolution, level="CHECKER", decision="APPROVE", decided_by=by, decided_at=timezone.now())


def facts(now=NOW):
    return {c.channel.code: c for c in channels_today(now=now)}


@pytest.mark.django_db
def test_each_active_channel_shows_its_files_latest_run_and_open_items(client, clerk, make_channel):
    day = timezone.localdate() - timedelta(days=1)
    wx = make_channel("WX", statement_ready_time=ALWAYS_DUE)
    ali = make_channel("ALI", statement_ready_time=ALWAYS_DUE)
    make_channel("OLD", is_active=False)
    statement_file(wx, day)
    statement_file(wx, day, kind="FUND", status="FAILED")
    statement_file(ali, day - timedelta(days=3), kind="FUND")  # ALI sends fund statements: today's is missing
    earlier = run(wx, day, status="FAILED")
    latest = run(wx, day)
    discrepancy(wx, day, "10.00", source_run=latest)
    discrepancy(wx, day, "5.50", state="CARRIED_OVER", source_run=latest)
    discrepancy(wx, day, "-7.25", type="PLATFORM_ONLY", state="PROPOSED", source_run=latest)
    discrepancy(wx, day, "-1.00", type="AMOUNT_MISMATCH", state="APPROVED", currency="USD", source_run=latest)
    discrepancy(wx, day, "100.00", state="RESOLVED", source_run=latest)

    client.force_login(clerk)
    html = client.get("/").content.decode()

    found = facts(timezone.now())
    assert set(found) == {"WX", "ALI"}
    assert [f.check for f in found["WX"].files] == [FileCheck.PARSED, FileCheck.FAILED]
    assert [f.check for f in found["ALI"].files] == [FileCheck.MISSING, FileCheck.MISSING]
    assert found["WX"].run == latest and found["ALI"].run is None
    assert [(t.type, t.currency, t.count, t.overage, t.shortage) for t in found["WX"].by_type] == [
        ("BANK_ONLY", "CNY", 2, Decimal("15.50"), 0),
        ("PLATFORM_ONLY", "CNY", 1, 0, Decimal("-7.25")),
        ("AMOUNT_MISMATCH", "USD", 1, 0, Decimal("-1.00")),
    ]
    # Per currency, never added across currencies; the resolved item is not open.
    assert [(t.currency, t.count, t.overage, t.shortage) for t in found["WX"].totals] == [
        ("CNY", 3, Decimal("15.50"), Decimal("-7.25")),
        ("USD", 1, 0, Decimal("-1.00")),
    ]
    assert f'href="/runs/{latest.pk}/"' in html and f'href="/runs/{earlier.pk}/"' not in html
    assert f"/statements/?channel={wx.pk}&amp;date_from={day:%Y-%m-%d}&amp;date_to={day:%Y-%m-%d}" in html
    assert f"/discrepancies/?channel={wx.pk}&amp;type=BANK_ONLY" in html
    assert "15.50 CNY" in html and "-7.25 CNY" in html and "-1.00 USD" in html
    assert "Missing" in html and "Failed" in html
    assert "OLD" not in html


@pytest.mark.django_db
def test_a_missing_file_is_a_warning_only_once_the_channel_statements_are_due(make_channel):
    channel = make_channel("WX", statement_ready_time=time(10, 0))

    before = facts(local_dt(2026, 11, 26, 9, 59))["WX"]
    at_ready_time = facts(local_dt(2026, 11, 26, 10, 0))["WX"]

    # The fund statement is not expected from a channel that never sent one nor has one configured.
    assert [f.check for f in before.files] == [FileCheck.NOT_DUE, FileCheck.NOT_EXPECTED]
    assert not before.has_warning
    assert [f.check for f in at_ready_time.files] == [FileCheck.MISSING, FileCheck.NOT_EXPECTED]
    assert at_ready_time.has_warning
    statement_file(channel, STATEMENT_DATE, status="FAILED")
    statement_file(channel, STATEMENT_DATE)  # sent again, corrected
    business = facts()["WX"].files[0]
    assert business.check == FileCheck.PARSED
    assert business.breakdown == [("Parsed", 1), ("Failed", 1)]


@pytest.mark.django_db
def test_ageing_buckets_count_and_add_up_open_items_by_age(make_channel):
    channel = make_channel("WX")
    for age, effect in ((0, "1.00"), (1, "-2.00"), (2, "4.00"), (5, "-8.00"), (9, "16.00")):
        discrepancy(channel, TODAY - timedelta(days=age), effect)
    discrepancy(channel, TODAY - timedelta(days=9), "32.00", state="RESOLVED")

    buckets = facts()["WX"].ageing

    assert [(b.label, b.count, b.amounts) for b in buckets] == [
        ("0–1", 2, {"CNY": Decimal("3.00")}),
        ("2–3", 1, {"CNY": Decimal("4.00")}),
        ("4–7", 1, {"CNY": Decimal("8.00")}),
        (">7", 1, {"CNY": Decimal("16.00")}),
    ]
    # The bars scale to the fullest bucket.
    assert [bar.height for bar in ageing_bars(buckets)] == [46, 23, 23, 23]


@pytest.mark.django_db
def test_the_page_draws_the_ageing_chart_with_its_numbers_as_text(client, clerk, make_channel):
    channel = make_channel("WX")
    discrepancy(channel, timezone.localdate() - timedelta(days=30), "12.34")

    client.force_login(clerk)
    html = client.get("/").content.decode()

    assert '<svg class="chart ageing-chart"' in html
    assert html.count('class="age-3"') == 1 and 'class="age-0"' not in html  # only the >7 bucket has a bar
    assert "&gt;7" in html and "12.34 CNY" in html


@pytest.mark.django_db
def test_waiting_for_my_approval_leaves_out_my_own_proposals_and_my_first_approvals(client, clerk, checker, admin_staff, channel):
    items = [discrepancy(channel, STATEMENT_DATE, f"{n}.00") for n in range(1, 6)]
    proposal(items[0], by=checker)  # their own: never waiting for them
    by_clerk = proposal(items[1], by=clerk)
    first_by_admin = proposal(items[2], by=clerk, status="FIRST_APPROVED")
    first_approval(first_by_admin, admin_staff)  # one holding both roles gave it (written as it stands)
    first_by_checker = proposal(items[3], by=clerk, status="FIRST_APPROVED")
    first_approval(first_by_checker, checker)
    proposal(items[4], by=clerk, status="EXECUTED")

    assert list(awaiting_my_approval(user=checker)) == [by_clerk]
    # An administrator gives only second approvals, never one already given.
    assert set(awaiting_my_approval(user=admin_staff)) == {first_by_checker}
    assert not awaiting_my_approval(user=clerk).exists()
    client.force_login(checker)
    html = client.get("/").content.decode()
    assert f'href="/discrepancies/{items[1].pk}/"' in html
    assert f'href="/discrepancies/{items[0].pk}/"' not in html
    client.force_login(clerk)
    assert "Waiting for my approval" not in client.get("/").content.decode()


@pytest.mark.django_db
def test_assigned_to_me_lists_my_unresolved_items_only(client, clerk, checker, channel):
    mine = discrepancy(channel, STATEMENT_DATE, assigned_to=clerk)
    done = discrepancy(channel, STATEMENT_DATE, state="RESOLVED", assigned_to=clerk)
    theirs = discrepancy(channel, STATEMENT_DATE, assigned_to=checker)

    client.force_login(clerk)
    html = client.get("/").content.decode()

    assert f'href="/discrepancies/{mine.pk}/"' in html
    assert f'href="/discrepancies/{done.pk}/"' not in html
    assert f'href="/discrepancies/{theirs.pk}/"' not in html


def _populate(make_channel, clerk, checker, codes):
    """Channels with today's files, runs, discrepancies of several types and ages, proposals and
    assignments: everything the dashboard reads."""
    day = timezone.localdate() - timedelta(days=1)
    for code in codes:
        channel = make_channel(code, statement_ready_time=ALWAYS_DUE)
        statement_file(channel, day)
        statement_file(channel, day, kind="FUND", status="FAILED")
        source = run(channel, day, overage="10.00", shortage="-3.00")
        for age, kind in enumerate(("BANK_ONLY", "PLATFORM_ONLY", "AMOUNT_MISMATCH") * 6):
            item = discrepancy(
                channel,
                day - timedelta(days=age),
                "-3.00" if age % 2 else "10.00",
                type=kind,
                source_run=source,
                assigned_to=checker,
            )
            if age % 3 == 0:
                proposal(item, by=clerk)


@pytest.mark.django_db
def test_the_number_of_queries_does_not_grow_with_channels_or_discrepancies(
    client, clerk, checker, make_channel, django_assert_max_num_queries
):
    client.force_login(checker)
    _populate(make_channel, clerk, checker, ["Q1"])
    with CaptureQueriesContext(connection) as few:
        assert client.get("/").status_code == 200

    _populate(make_channel, clerk, checker, ["Q2", "Q3", "Q4", "Q5", "Q6"])
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES) as many:
        html = client.get("/").content.decode()

    assert all(f"Q{n}" in html for n in range(1, 7))
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.django_db
def test_the_dashboard_speaks_english_and_chinese(client, clerk, channel):
    discrepancy(channel, STATEMENT_DATE)
    client.force_login(clerk)

    en = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    zh = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()

    assert '<html lang="en">' in en and "Files and runs for" in en and "Overage" in en
    assert '<html lang="zh-hans">' in zh and "工作台" in zh and "长款" in zh and "短款" in zh
    assert "Dashboard" not in zh
    assert channel.name in en and channel.name in zh


@pytest.mark.django_db
def test_a_user_without_reconciliation_access_sees_no_channel_data(client, django_user_model, channel):
    user = django_user_model.objects.create_user(username="nobody", password="pw-for-tests-1", is_staff=True)
    client.force_login(user)

    html = client.get("/").content.decode()

    assert channel.code not in html
    assert "Your role does not include the reconciliation screens." in html
