"""Screens that show what happened: a filtered list says so, an executed resolution shows what it did and
who did it on the discrepancy page, lists show the newest first, and the API browser is reached from the
admin (not a clerk's menu) with a way back to the site."""

from datetime import timedelta

import pytest
from django.utils import timezone
from helpers import D, lines, reconcile, txn
from lxml import html as lxml_html

from reconciliation.models import Discrepancy, Resolution, StatementFile
from reconciliation.services.workflow.resolution import discrepancy_propose, resolution_approve


def propose(d, action, user, **params):
    return discrepancy_propose(
        discrepancy=d,
        action=action,
        reason="checked with the channel",
        params=params,
        acting_user=user,
        now=timezone.now(),
        source="t",
    )


def approve(resolution, user, comment=""):
    return resolution_approve(resolution=resolution, comment=comment, acting_user=user, now=timezone.now(), source="t")


def tree(response):
    return lxml_html.fromstring(response.content.decode())


def notice(response):
    """The filtered-list notice as (its parts, its "Show all" address), or None when there is none."""
    found = tree(response).xpath('//div[@class="filter-notice"]')
    if not found:
        return None
    (element,) = found
    parts = [p.text_content().strip() for p in element.xpath('.//span[@class="filter-part"]')]
    return parts, element.xpath('.//a[@class="show-all"]')[0].get("href")


@pytest.fixture
def day(wx):
    """One reconciled day of WX with an item for each kind of resolution."""
    txn(wx, "OK", "1.00")
    txn(wx, "AMT", "10.00")  # the channel has 9.99: 调账
    txn(wx, "NEVER", "12.00")  # the channel never had it: claim from the bank
    txn(wx, "U1", "88.00", status="UNKNOWN")  # the channel paid it: 补单
    lines(
        wx,
        D,
        {"txn_no": "OK", "amount": "1.00"},
        {"txn_no": "AMT", "amount": "9.99"},
        {"txn_no": "GHOST", "amount": "3.00"},  # ours has no record: refund
        {"txn_no": "U1", "amount": "88.00"},
    )
    run = reconcile(wx)
    return run, {d.match_key: d for d in Discrepancy.objects.filter(run=run)}


# --- A filtered list says that it is filtered ------------------------------------------------------------


@pytest.mark.django_db
def test_the_queue_says_when_it_is_filtered_and_how_to_show_everything(client, clerk, wx, day):
    run, _items = day
    client.force_login(clerk)
    assert notice(client.get("/discrepancies/")) is None
    assert notice(client.get("/discrepancies/", {"sort": "type", "page": "1"})) is None  # arranging is not filtering

    parts, show_all = notice(client.get("/discrepancies/", {"run": run.pk, "channel": wx.pk, "state": "OPEN", "sort": "type"}))
    assert parts == [f"Run #{run.pk}", "Channel: WX", "State: Open"] and show_all == "/discrepancies/?sort=type"
    parts, show_all = notice(client.get("/discrepancies/", {"run": run.pk, "finding": "closed"}))
    assert parts == [f"Run #{run.pk}, closed by the run"] and show_all == "/discrepancies/"
    parts, _ = notice(client.get("/discrepancies/", {"type": "BANK_ONLY", "date_from": "2026-11-01", "amount_min": "2"}))
    assert parts == ["Type: Bank only", "From: 2026-11-01", "Effect at least: 2"]
    # A value the filter refuses is reported by the form and not applied: the notice does not claim it.
    assert notice(client.get("/discrepancies/", {"amount_min": "lots"})) is None


@pytest.mark.django_db
def test_the_run_list_and_the_statement_list_say_when_they_are_filtered(client, clerk, wx, day):
    client.force_login(clerk)
    assert notice(client.get("/runs/")) is None
    assert notice(client.get("/runs/", {"channel": wx.pk, "status": "SUCCEEDED"})) == (
        ["Channel: WX", "Status: Done"],
        "/runs/",
    )
    # The statement list hands its screen the same notice (its template shows it with _filter_notice.html).
    assert client.get("/statements/").context["filter_notice"] is None
    statements = client.get("/statements/", {"kind": "BUSINESS", "channel": "WX"}).context["filter_notice"]
    assert statements.parts == ["Channel: WX", "Kind: Business detail"] and statements.clear_url == "/statements/"


# --- What an executed resolution did, on the discrepancy page --------------------------------------------


def section(client, d, resolution):
    (card,) = tree(client.get(f"/discrepancies/{d.pk}/")).xpath(f'//section[@id="resolution-{resolution.pk}"]')
    return dict(
        zip(
            (dt.text_content().strip() for dt in card.xpath(".//dt")),
            (dd.text_content().strip() for dd in card.xpath(".//dd")),
            strict=True,
        )
    ), card


@pytest.mark.django_db
def test_an_executed_adjustment_shows_accounts_amount_memo_outcome_and_who(client, clerk, checker, day):
    _run, items = day
    done = approve(
        propose(
            items["AMT"], "ADJUSTMENT", clerk, debit_account="6711.02", credit_account="2241.01", amount="0.01", memo="rounding"
        ),
        checker,
        comment="ok, booked",
    )
    client.force_login(clerk)
    facts, card = section(client, items["AMT"], done)
    adjustment = done.adjustment
    assert facts["Debit account"] == "6711.02" and facts["Credit account"] == "2241.01"
    assert facts["Amount"] == "0.01 CNY" and facts["Memo"] == "rounding"
    assert facts["Posting"] == f"Posted · voucher {adjustment.voucher.number}"
    assert facts["Proposed by"].startswith(f"{clerk.username}, ") and facts["Reason"] == "checked with the channel"
    assert facts["Checker"].startswith(f"Approve · {checker.username}, ") and facts["Checker"].endswith("— ok, booked")
    assert facts["Executed"] == timezone.localtime(done.executed_at).strftime("%Y-%m-%d %H:%M")
    assert "Approved and executed" in card.text_content()


@pytest.mark.django_db
def test_a_refund_a_claim_and_a_supplement_show_what_they_did(client, clerk, checker, day, wx):
    _run, items = day
    refund = approve(propose(items["GHOST"], "REFUND", clerk, amount="3.00"), checker)
    claim = approve(propose(items["NEVER"], "CLAIM", clerk), checker)
    supplement = approve(propose(items["U1"], "SUPPLEMENT", clerk), checker)
    client.force_login(clerk)

    facts, _card = section(client, items["GHOST"], refund)
    assert facts["Refund order"] == refund.refund_order.refund_no and facts["Amount"] == "3.00 CNY"
    assert facts["Status"] == "Waiting for the payment core"

    facts, card = section(client, items["NEVER"], claim)
    assert facts["Kind"] == "Claim from the bank" and facts["From whom"] == wx.bank.name
    assert facts["Amount"] == "12.00 CNY" and facts["Status"] == "Open"
    assert card.xpath('.//form//input[@name="claim"]')[0].get("value") == str(claim.claim.pk)  # mark it recovered here

    facts, _card = section(client, items["U1"], supplement)
    assert facts["Our transaction"] == "U1" and facts["Status"] == "Unknown (timed out) → Success"


# --- Newest first ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_lists_show_the_newest_first(client, clerk, checker, wx, day):
    run, items = day
    lines(wx, D + timedelta(days=1), {"txn_no": "LATER", "amount": "5.00"})
    again = reconcile(wx, D)  # a re-run of the earlier date is the newest run
    later = reconcile(wx, D + timedelta(days=1))
    first = propose(items["AMT"], "ADJUSTMENT", clerk, debit_account="6711.02", credit_account="2241.01", amount="0.01")
    second = propose(items["NEVER"], "CLAIM", clerk)
    client.force_login(checker)

    runs = [int(r.get("data-run")) for r in tree(client.get("/runs/")).xpath("//tr[@data-run]")]
    assert runs == [later.pk, again.pk, run.pk]
    approvals = [a.get("href") for a in tree(client.get("/approvals/")).xpath("//tbody//a")]
    assert approvals == [f"/discrepancies/{second.discrepancy_id}/", f"/discrepancies/{first.discrepancy_id}/"]
    queue = [int(i.get("value")) for i in tree(client.get("/discrepancies/")).xpath('//input[@name="ids"]')]
    newest = Discrepancy.objects.order_by("-business_date", "-id").values_list("id", flat=True)
    assert queue == list(newest) and queue[0] == Discrepancy.objects.get(match_key="LATER").pk
    statements = [int(a.text) for a in tree(client.get("/statements/")).xpath("//tbody/tr/td[1]/a")]
    assert statements == list(StatementFile.objects.order_by("-received_at", "-id").values_list("id", flat=True))

    approve(first, checker)
    history = tree(client.get(f"/discrepancies/{items['AMT'].pk}/")).xpath('//section[contains(@class, "history")]//tbody/tr')
    steps = [row.xpath("./td[2]")[0].text_content().strip() for row in history]
    times = [row.xpath("./td[1]")[0].text_content().strip() for row in history]
    assert steps[0].startswith("Executed") and steps[-1] == "Found by a run" and times == sorted(times, reverse=True)
    assert Resolution.objects.get(pk=first.pk).status == "EXECUTED"


# --- The API browser: from the admin, with a way back ------------------------------------------------------


@pytest.mark.django_db
def test_the_api_browser_is_reached_from_the_admin_and_leads_back_to_the_site(client, clerk, admin_staff):
    client.force_login(clerk)
    home = tree(client.get("/"))
    assert not home.xpath('//nav[@class="mainnav"]//a[@href="/docs/api/"]')
    client.force_login(admin_staff)
    assert tree(client.get("/admin/")).xpath('//a[@href="/docs/api/"]')
    docs = client.get("/docs/api/")
    assert docs.status_code == 200
    page = tree(docs)
    assert page.xpath('//a[@class="back-home"][@href="/"]') and page.xpath('//a[@href="/admin/"]')
    assert page.xpath('//div[@id="swagger-ui"]')  # still the API browser
    # ReDoc too, with every asset from our own site (its web-font links are dropped).
    redoc = client.get("/docs/api/redoc/")
    page = tree(redoc)
    assert page.xpath('//a[@class="back-home"][@href="/"]') and page.xpath('//div[@id="redoc-container"] | //redoc')
    external = page.xpath("//link/@href | //script/@src")
    assert external and not [url for url in external if "//" in url], external
