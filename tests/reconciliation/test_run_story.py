"""One story per run: the run list, the run page, the queue filtered by the run, the dashboard, the API
and the runs report give the same numbers for the same run — found by it, closed by it, still live —
all counted from its RunFinding rows, whatever later runs and people did since.

Three days run by the engine: the first finds four items, the second closes two of them across
midnight (and finds one more, and still sees one), a person settles one by 调账, the third opens one
after its window and still sees another.
"""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from helpers import lines, reconcile, txn
from lxml import html as lxml_html
from rest_framework.test import APIClient

from reconciliation.api.presenters import run_summary
from reconciliation.models import Discrepancy, RunFinding
from reconciliation.models.runs import LIVE_FINDINGS
from reconciliation.selectors.runs import run_discrepancies, run_stories, run_story
from reconciliation.services.workflow.resolution import discrepancy_propose, resolution_approve
from reconciliation.web.presenters import covered_dates
from reconciliation.web.views.statements import LIST_PAGE_SIZE

# The third day is yesterday: the dashboard's statement date, so its latest run is the third one.
D2 = timezone.localdate() - timedelta(days=1)
D1 = D2 - timedelta(days=1)
D0 = D2 - timedelta(days=2)


@pytest.fixture
def three_days(wx, clerk, checker):
    txn(wx, "OK0", "1.00", day=D0)
    txn(wx, "LATE", "45.00", day=D0)  # the channel lists it on D1: closed across midnight by the second run
    txn(wx, "NEVER", "12.00", day=D0)  # never listed: carried, then opened when its window ends (D2)
    txn(wx, "AMT", "10.00", day=D0)  # the channel has 9.99: open at once, settled by 调账
    lines(wx, D0, {"txn_no": "OK0", "amount": "1.00"}, {"txn_no": "AMT", "amount": "9.99"}, {"txn_no": "BLATE", "amount": "9.00"})
    lines(wx, D1, {"txn_no": "LATE", "amount": "45.00"}, {"txn_no": "GHOST", "amount": "3.00"})
    txn(wx, "BLATE", "9.00", day=D1)  # ours of the channel's D0 line: closed across midnight too
    txn(wx, "OK2", "2.00", day=D2)
    lines(wx, D2, {"txn_no": "OK2", "amount": "2.00"})

    first = reconcile(wx, D0)
    second = reconcile(wx, D1)
    amt = Discrepancy.objects.get(match_key="AMT")
    now = timezone.now()
    proposal = discrepancy_propose(
        discrepancy=amt,
        action="ADJUSTMENT",
        reason="fee difference booked",
        params={"debit_account": "6711.02", "credit_account": "2241.01", "amount": "0.01", "memo": "rounding"},
        acting_user=clerk,
        now=now,
        source="test",
    )
    resolution_approve(resolution=proposal, acting_user=checker, now=now, source="test")
    third = reconcile(wx, D2)
    return first, second, third


def counted(run) -> tuple[int, int, int, int]:
    """(new, found, closed, live) straight from the run's RunFinding rows and the discrepancies' states now."""
    findings = RunFinding.objects.filter(run=run).select_related("discrepancy")
    found = [f for f in findings if f.change in LIVE_FINDINGS]
    return (
        sum(f.change == "FOUND" for f in findings),
        len(found),
        sum(f.change == "CLOSED" for f in findings),
        sum(f.discrepancy.state != "RESOLVED" for f in found),
    )


def numbers(element) -> tuple[int, int, int]:
    return tuple(int(element.get(f"data-{name}")) for name in ("found", "closed", "live"))


def story_on(page: str, run) -> tuple[int, int, int]:
    """The story a page tells of ``run`` (the shared run-story fragment)."""
    (element,) = lxml_html.fromstring(page).xpath(f'//span[@class="run-story"][@data-run="{run.pk}"]')
    return numbers(element)


def run_list_row(page: str, run) -> tuple[int, int, int]:
    (row,) = lxml_html.fromstring(page).xpath(f'//table[contains(@class, "runs")]//tr[@data-run="{run.pk}"]')
    return tuple(int(row.xpath(f".//td[@data-{name}]")[0].get(f"data-{name}")) for name in ("found", "closed", "live"))


def queue_rows(client, **params) -> int:
    page = client.get("/discrepancies/", params).content.decode()
    return len(lxml_html.fromstring(page).xpath('//table[contains(@class, "queue")]//input[@name="ids"]'))


@pytest.mark.django_db
def test_the_engine_tells_each_run_its_own_story(three_days):
    first, second, third = three_days
    stories = run_stories(run_ids=[first.pk, second.pk, third.pk])
    # (new, found, closed, live): the first run's LATE and BLATE were closed by the second, AMT by 调账.
    assert [(s.new, s.found, s.closed, s.live) for s in stories.values()] == [(4, 4, 0, 1), (1, 2, 2, 2), (0, 2, 0, 2)]
    for run in three_days:
        story = stories[run.pk]
        assert (story.new, story.found, story.closed, story.live) == counted(run)
        # The engine's own tally when it ran, and the list of the story, agree with the counts.
        told = run.counts["discrepancies"]
        assert (told.get("FOUND", 0), told.get("CLOSED", 0)) == (story.new, story.closed)
        assert sum(told.values()) == story.total == run_discrepancies(run=run).count()
        assert run_discrepancies(run=run, finding="found").count() == story.found
        assert run_discrepancies(run=run, finding="closed").count() == story.closed
    closed_by_second = {d.match_key for d in run_discrepancies(run=second, finding="closed")}
    assert closed_by_second == {"LATE", "BLATE"}
    assert {d.match_key: d.finding for d in run_discrepancies(run=third)} == {"NEVER": "OPENED", "GHOST": "CONFIRMED"}


@pytest.mark.django_db
def test_run_list_run_page_queue_and_dashboard_give_the_same_numbers(client, clerk, three_days):
    client.force_login(clerk)
    run_list = client.get("/runs/").content.decode()
    dashboard = client.get("/").content.decode()
    for run in three_days:
        story = run_story(run=run)
        expected = (story.found, story.closed, story.live)
        run_page = client.get(f"/runs/{run.pk}/").content.decode()
        queue = client.get("/discrepancies/", {"run": run.pk}).content.decode()

        assert run_list_row(run_list, run) == expected
        assert story_on(run_page, run) == expected
        assert story_on(queue, run) == expected
        # The lists behind the numbers: the queue filtered by the run, what it found, closed, left live.
        assert queue_rows(client, run=run.pk) == story.total
        assert queue_rows(client, run=run.pk, finding="found") == story.found
        assert queue_rows(client, run=run.pk, finding="closed") == story.closed
        assert queue_rows(client, run=run.pk, state="UNRESOLVED") == story.live
        assert len(lxml_html.fromstring(run_page).xpath('//td[contains(@class, "finding")]')) == story.total

    # The dashboard shows the statement date's latest run: the third.
    third = three_days[2]
    story = run_story(run=third)
    assert story_on(dashboard, third) == (story.found, story.closed, story.live) == (2, 0, 2)


@pytest.mark.django_db
def test_the_api_and_the_runs_report_tell_the_same_story(client, clerk, three_days):
    api = APIClient()
    api.force_authenticate(clerk)
    client.force_login(clerk)
    streamed = b"".join(client.get("/runs/export.csv").streaming_content).decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(streamed))
    by_run = {row[0]: row for row in rows}
    for run in three_days:
        story = run_story(run=run)
        listed = api.get("/api/discrepancies/", {"run": run.pk}).json()
        assert listed["count"] == story.total
        assert len(run_summary(run)["discrepancies"]) == story.total  # reconcile --json
        row = by_run[str(run.pk)]
        assert [row[header.index(name)] for name in ("Found", "Closed", "Still live")] == [
            str(story.found),
            str(story.closed),
            str(story.live),
        ]


@pytest.mark.django_db
def test_a_run_says_which_days_its_overage_and_shortage_cover(client, clerk, three_days):
    first, second, _third = three_days
    # The second run's live findings: NEVER (ours of D0, shortage) and GHOST (the channel's of D1, overage).
    assert second.counts["dates"] == [D0.isoformat(), D1.isoformat()]
    assert Decimal(second.counts["overage"]) == Decimal("3.00") and Decimal(second.counts["shortage"]) == Decimal("-12.00")
    span = f"{D0.isoformat()} – {D1:%m-%d}"
    assert covered_dates(second.counts) == span
    assert covered_dates(first.counts) == D0.isoformat()
    assert covered_dates({}) == ""
    client.force_login(clerk)
    run_page = client.get(f"/runs/{second.pk}/").content.decode()
    assert f"items of {span}" in run_page and "3.00 CNY" in run_page and "-12.00 CNY" in run_page
    (row,) = lxml_html.fromstring(client.get("/runs/").content.decode()).xpath(f'//tr[@data-run="{second.pk}"]')
    assert row.xpath('.//td[contains(@class, "dates")]')[0].text_content().strip() == span
    assert f"items of {span}" in client.get("/discrepancies/", {"run": second.pk}).content.decode()


@pytest.mark.django_db
def test_the_run_page_lists_the_first_page_of_its_story_newest_first(client, clerk, wx):
    """The run page lists what a queue page holds, newest found first (served by the finding's own index:
    (run, discrepancy)), and links to the whole list when there is more."""
    for n in range(LIST_PAGE_SIZE + 5):
        txn(wx, f"MISS{n:03d}", "1.00", day=D0)  # ours, not on the channel's list: each one found by the run
    lines(wx, D0, {"txn_no": "NONE", "amount": "2.00"})
    run = reconcile(wx, D0)
    story = run_story(run=run)
    assert story.total == LIST_PAGE_SIZE + 6

    client.force_login(clerk)
    page = lxml_html.fromstring(client.get(f"/runs/{run.pk}/").content.decode())
    listed = [int(row.xpath("./td[1]/a")[0].text) for row in page.xpath('//table[contains(@class, "queue")]//tbody/tr')]
    newest = list(
        RunFinding.objects.filter(run=run).order_by("-discrepancy_id").values_list("discrepancy_id", flat=True)[:LIST_PAGE_SIZE]
    )
    assert listed == newest
    assert page.xpath(f'//a[@href="/discrepancies/?run={run.pk}"][contains(., "All of them")]')
