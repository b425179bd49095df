"""The discrepancy tally the database keeps (``DiscrepancyTally``): whatever is written to the
discrepancies — bulk inserts, updates of any column, deletes, in any sequence, with compactions between —
it adds up to exactly what the discrepancies add up to; the queue's totals read from it agree with the
totals summed over the list for every filter; and a writer never waits for another writer or for a
compaction because of it."""

from __future__ import annotations

import importlib
import threading
from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from helpers import D, RolledBackMachine, stored_discrepancy, stored_run
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule, run_state_machine_as_test

from reconciliation.filters import UNRESOLVED
from reconciliation.models import Discrepancy, DiscrepancyState, DiscrepancyTally
from reconciliation.selectors.discrepancies import discrepancy_queue, effect_totals, queue_totals, tally_differences
from reconciliation.services.tally import discrepancy_tally_compact

DAYS = [D - timedelta(days=n) for n in range(4)]
TODAY = D + timedelta(days=3)
TYPES = ["PLATFORM_ONLY", "BANK_ONLY", "AMOUNT_MISMATCH"]
STATES = ["OPEN", "CARRIED_OVER", "PROPOSED", "RESOLVED"]
EFFECTS = [Decimal("0"), Decimal("12.50"), Decimal("-7.25"), Decimal("1000.0001"), Decimal("-0.0001")]
_batches = count(1)


def _state_fields(state: str, now) -> dict:
    """What the discrepancy table's checks ask of a state: a deadline to carry over to, a time and an
    outcome once resolved."""
    return {
        "state": state,
        "carry_until": D + timedelta(days=5) if state == "CARRIED_OVER" else None,
        "resolved_at": now if state == "RESOLVED" else None,
        "closed_as": "REMATCHED" if state == "RESOLVED" else "",
    }


def _effect_fields(effect: Decimal) -> dict:
    return {"effect": effect, "direction": "OVERAGE" if effect > 0 else "SHORTAGE" if effect < 0 else ""}


# Filters as a person sets them on the queue: each alone or together, on the tally's keys or not.
queue_params = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(TYPES),
        "state": st.sampled_from([*STATES, UNRESOLVED]),
        "direction": st.sampled_from(["OVERAGE", "SHORTAGE"]),
        "date_from": st.sampled_from(DAYS).map(str),
        "date_to": st.sampled_from(DAYS).map(str),
        "age_min": st.integers(0, 6).map(str),
        "age_max": st.integers(0, 6).map(str),
        "amount_min": st.sampled_from(["0", "7.25", "12.5"]),
        "sort": st.sampled_from(["-date", "abs", "-effect"]),
    },
)


class TallyOverWrites(RolledBackMachine):
    @initialize()
    def set_up(self):
        self.channels = [self.fixtures["make_channel"](f"TL{n}{next(_batches)}") for n in range(2)]
        self.runs = {channel.pk: stored_run(channel) for channel in self.channels}

    def _some(self, pick: int) -> list[int]:
        ids = list(Discrepancy.objects.order_by("id").values_list("id", flat=True))
        return ids[pick % 3 :: 2] if ids else []

    @rule(
        found=st.lists(
            st.tuples(
                st.integers(0, 1),
                st.sampled_from(DAYS),
                st.sampled_from(TYPES),
                st.sampled_from(STATES),
                st.sampled_from(EFFECTS),
                st.sampled_from(["CNY", "USD"]),
            ),
            min_size=1,
            max_size=12,
        )
    )
    def a_run_finds_discrepancies(self, found):
        now = timezone.now()
        Discrepancy.objects.bulk_create(
            Discrepancy(
                run=self.runs[self.channels[which].pk],
                channel=self.channels[which],
                business_date=day,
                type=type_,
                currency=currency,
                batch_no=f"B{next(_batches)}",
                created_at=now,
                updated_at=now,
                **_state_fields(state, now),
                **_effect_fields(effect),
            )
            for which, day, type_, state, effect, currency in found
        )

    @rule(pick=st.integers(0, 2), state=st.sampled_from(STATES))
    def people_move_some_to_a_state(self, pick, state):
        Discrepancy.objects.filter(id__in=self._some(pick)).update(**_state_fields(state, timezone.now()))

    @rule(pick=st.integers(0, 2), effect=st.sampled_from(EFFECTS), days=st.integers(-1, 1))
    def a_run_finds_some_different(self, pick, effect, days):
        chosen = Discrepancy.objects.filter(id__in=self._some(pick))
        for d in chosen:  # one statement per row as well as whole sets
            d.business_date = DAYS[(DAYS.index(d.business_date) + days) % len(DAYS)]
            d.effect, d.direction = _effect_fields(effect).values()
            d.save(update_fields=["business_date", "effect", "direction"])

    @rule(pick=st.integers(0, 2))
    def someone_takes_some_on(self, pick):
        rows = DiscrepancyTally.objects.count()
        Discrepancy.objects.filter(id__in=self._some(pick)).update(workflow_started_at=timezone.now(), match_key="x")
        assert DiscrepancyTally.objects.count() == rows, "a change of nothing the tally counts wrote to it"

    @rule(pick=st.integers(0, 2))
    def some_are_removed(self, pick):
        Discrepancy.objects.filter(id__in=self._some(pick)).delete()

    @rule()
    def the_tally_is_compacted(self):
        discrepancy_tally_compact()
        keys = DiscrepancyTally.objects.values_list("channel", "business_date", "type", "state", "direction", "currency")
        assert len(keys) == len(set(keys)), "a key left with more than one row"
        assert not DiscrepancyTally.objects.filter(items_change=0, overage_change=0, shortage_change=0).exists()

    @rule(params=queue_params, which=st.sampled_from([None, 0, 1]))
    def the_queue_totals_agree_with_the_list(self, params, which):
        if which is not None:
            params = {**params, "channel": str(self.channels[which].pk)}
        queue = discrepancy_queue(params=params, today=TODAY)
        assert queue_totals(queue) == effect_totals(queue.qs), params

    @invariant()
    def the_tally_adds_up_to_the_discrepancies(self):
        assert tally_differences() == []


@pytest.mark.django_db
def test_the_tally_holds_over_any_sequence_of_writes_and_compactions(make_channel):
    TallyOverWrites.fixtures = {"make_channel": make_channel}
    run_state_machine_as_test(
        TallyOverWrites,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


@pytest.mark.django_db
def test_totals_come_from_the_tally_when_the_filters_allow_and_from_the_list_otherwise(channel, django_assert_num_queries):
    stored_discrepancy(channel, "5.00")
    stored_discrepancy(channel, "-3.00", state="PROPOSED")
    expected = [{"currency": "CNY", "overage": Decimal("5.00"), "shortage": Decimal("-3.00"), "items": 2}]
    by_keys = discrepancy_queue(params={"state": UNRESOLVED, "channel": channel.code}, today=TODAY)
    assert by_keys.is_valid()  # the channel is looked up here, not counted below
    with django_assert_num_queries(1) as queries:
        assert queue_totals(by_keys) == expected
    assert "reconciliation_discrepancytally" in queries.captured_queries[0]["sql"]
    by_amount = discrepancy_queue(params={"state": UNRESOLVED, "amount_min": "1"}, today=TODAY)
    assert by_amount.is_valid()
    with django_assert_num_queries(1) as queries:
        assert queue_totals(by_amount) == expected
    assert "reconciliation_discrepancytally" not in queries.captured_queries[0]["sql"]


@pytest.mark.django_db
def test_a_filter_refused_as_invalid_is_left_out_of_the_tally_as_it_is_of_the_list(channel):
    stored_discrepancy(channel, "5.00")
    queue = discrepancy_queue(params={"date_from": "not a date", "state": "OPEN"}, today=TODAY)
    assert not queue.is_valid()
    assert queue_totals(queue) == effect_totals(queue.qs) != []


@pytest.mark.django_db
def test_compaction_folds_each_key_into_one_row_and_drops_keys_that_add_up_to_nothing(channel):
    kept = stored_discrepancy(channel, "5.00")
    moved = stored_discrepancy(channel, "-2.00")
    for state in ("PROPOSED", "OPEN", "PROPOSED"):
        Discrepancy.objects.filter(pk=moved.pk).update(state=state)
    Discrepancy.objects.filter(pk=kept.pk).delete()
    assert DiscrepancyTally.objects.count() == 9  # two inserts, three moves out and in, a delete
    before, after = discrepancy_tally_compact()
    assert (before, after) == (9, 1)
    row = DiscrepancyTally.objects.get()
    assert (row.state, row.items_change, row.overage_change, row.shortage_change) == ("PROPOSED", 1, 0, Decimal("-2.00"))
    assert tally_differences() == []


@pytest.mark.django_db
def test_the_check_names_a_key_the_tally_gets_wrong(channel):
    stored_discrepancy(channel, "5.00")
    DiscrepancyTally.objects.update(items_change=2)
    (difference,) = tally_differences()
    assert difference["key"]["state"] == "OPEN" and difference["key"]["channel_id"] == channel.pk
    assert difference["discrepancies"] == (1, Decimal("5.00"), 0)
    assert difference["tally"] == (2, Decimal("5.00"), 0)


@pytest.mark.django_db
def test_the_migration_counts_the_discrepancies_already_there(channel):
    stored_discrepancy(channel, "5.00")
    stored_discrepancy(channel, "-1.00", state="CARRIED_OVER", carry_until=D + timedelta(days=2))
    DiscrepancyTally.objects.all().delete()
    migration = importlib.import_module("reconciliation.migrations.0021_discrepancy_tally").Migration
    with connection.cursor() as cursor:
        cursor.execute(migration.operations[-1].sql)
    assert DiscrepancyTally.objects.count() == 2
    assert tally_differences() == []


def _in_thread(work) -> threading.Thread:
    def target():
        try:
            work()
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_writers_of_the_same_key_and_a_compaction_never_wait_for_each_other(channel):
    """A run's long transaction and a clerk's change of an item with the same key both append to the
    tally; neither waits for the other, nor for a compaction, and nothing is lost."""
    first, second = stored_discrepancy(channel, "5.00"), stored_discrepancy(channel, "3.00")
    holding, release = threading.Event(), threading.Event()

    def a_long_run():
        with transaction.atomic():
            Discrepancy.objects.filter(pk=first.pk).update(state="PROPOSED")
            holding.set()
            release.wait(30)

    run = _in_thread(a_long_run)
    try:
        assert holding.wait(30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            Discrepancy.objects.filter(pk=second.pk).update(state="PROPOSED")  # same key as the run's
            discrepancy_tally_compact()
    finally:
        release.set()
        run.join(30)
    assert not run.is_alive()
    assert tally_differences() == []
    discrepancy_tally_compact()
    assert list(DiscrepancyTally.objects.values_list("state", "items_change")) == [(DiscrepancyState.PROPOSED, 2)]
