"""A far page of the discrepancy queue picks its rows by id first (QueueQuerySet): the same rows, in the
same order, as the plain slice, whatever the sort and filter."""

import pytest
from django.utils import timezone
from helpers import D, stored_discrepancy

from reconciliation.selectors import discrepancies as selectors
from reconciliation.selectors.discrepancies import QueueQuerySet


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{}, {"sort": "-abs"}, {"sort": "abs"}, {"state": "UNRESOLVED", "sort": "type"}])
def test_a_far_page_holds_the_rows_of_the_plain_slice(channel, monkeypatch, params):
    for n in range(12):
        resolved = {"state": "RESOLVED", "resolved_at": timezone.now(), "closed_as": "ADJUSTED"} if n % 4 == 0 else {}
        stored_discrepancy(channel, f"{(n % 5) - 2}.00", **resolved)
    monkeypatch.setattr(selectors, "FAR_PAGE_OFFSET", 3)
    found = selectors.discrepancy_queue(params=params, today=D).qs
    assert isinstance(found, QueueQuerySet)
    every = list(found.values_list("id", flat=True))
    assert len(every) == (9 if params.get("state") else 12)
    assert [d.pk for d in found[3:7]] == every[3:7]
    assert [d.pk for d in found[8:20]] == every[8:20]
    assert [d.pk for d in found[0:2]] == every[0:2]  # near pages: the plain slice
