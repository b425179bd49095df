"""The stage-1 engine: every outcome, money effects, carry-over, batches, refunds, re-runs, concurrency."""

import json
import threading
from datetime import time, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from helpers import D, lines, local_dt, reconcile, txn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.devtools.simulation import simulate_day
from reconciliation.models import (
    BusinessType,
    Channel,
    Discrepancy,
    FeeModel,
    ReconciliationRun,
    WorkflowEvent,
)
from reconciliation.services.channels.fees import FeeSpec, fee_compute
from reconciliation.services.engine import stage1 as matching
from reconciliation.services.engine.runs import RunAlreadyActive, run_execute, run_start


def found(channel, **filters):
    return {(d.type, d.match_key, d.state) for d in Discrepancy.objects.filter(channel=channel, **filters)}


def counts(run):
    return {k: v["count"] for k, v in run.counts["outcomes"].items()}


@pytest.mark.django_db
def test_a_clean_day_matches_everything(wx):
    for n in range(3):
        txn(wx, f"P{n}", "100.00")
    lines(wx, D, *({"txn_no": f"P{n}", "amount": "100.00"} for n in range(3)))
    run = reconcile(wx)
    assert counts(run) == {"MATCHED": 3}
    assert run.counts["overage"] == "0" and run.counts["shortage"] == "0"
    assert not Discrepancy.objects.exists()


@pytest.mark.django_db
def test_every_discrepancy_type_with_its_money_effect(wx):
    txn(wx, "OK", "10.00")
    txn(wx, "OURS", "45.00")  # platform only: we booked it, the bank did not
    txn(wx, "UNK", "18.00", status="UNKNOWN")  # timed out, but the bank says success
    txn(wx, "REV", "20.00")  # we say success, the bank says failed
    txn(wx, "AMT", "88.00")  # keyed wrong on our side
    txn(wx, "FEE", "100.00")  # the channel charged 0.65 instead of 0.60
    txn(wx, "DUP", "30.00")  # the channel lists it twice
    payee = {"counterparty_account": "6222020000001111"}
    txn(wx, "PO1", "1500.00", status="FAILED", business_type="PAYOUT", **payee)
    retry = txn(wx, "PO2", "1500.00", business_type="PAYOUT", **payee)
    retry.created_at += timedelta(minutes=10)
    retry.save()
    lines(
        wx,
        D,
        {"txn_no": "OK", "amount": "10.00"},
        {"txn_no": "BANK", "amount": "66.00"},  # bank only
        {"txn_no": "UNK", "amount": "18.00"},
        {"txn_no": "REV", "amount": "20.00", "status": "FAILED"},
        {"txn_no": "AMT", "amount": "80.00"},
        {"txn_no": "FEE", "amount": "100.00", "fee": "0.65"},
        {"txn_no": "DUP", "amount": "30.00"},
        {"txn_no": "DUP", "amount": "30.00"},
        {"txn_no": "PO1", "amount": "1500.00", "line_type": "PAYOUT", "fee": "2.00"},
        {"txn_no": "PO2", "amount": "1500.00", "line_type": "PAYOUT", "fee": "2.00"},
    )
    run = reconcile(wx)
    by_key = {d.match_key + ("*" if d.type == "DUPLICATE" else ""): d for d in Discrepancy.objects.filter(channel=wx)}
    expected = {
        "BANK": ("BANK_ONLY", "CARRIED_OVER", "66.00", "OVERAGE"),
        "OURS": ("PLATFORM_ONLY", "CARRIED_OVER", "-45.00", "SHORTAGE"),
        "UNK": ("STATUS_MISMATCH", "OPEN", "18.00", "OVERAGE"),
        "REV": ("STATUS_MISMATCH", "OPEN", "-20.00", "SHORTAGE"),
        "AMT": ("AMOUNT_MISMATCH", "OPEN", "-8.00", "SHORTAGE"),
        "FEE": ("FEE_MISMATCH", "OPEN", "-0.05", "SHORTAGE"),
        "DUP*": ("DUPLICATE", "OPEN", "30.00", "OVERAGE"),
        "PO1": ("DOUBLE_PAYMENT_RISK", "OPEN", "-1500.00", "SHORTAGE"),
    }
    assert {k: (d.type, d.state, str(d.effect.quantize(Decimal("0.01"))), d.direction) for k, d in by_key.items()} == expected
    assert by_key["PO1"].related_txn == retry
    assert by_key["FEE"].expected_fee == Decimal("0.60") and by_key["FEE"].bank_fee == Decimal("0.65")
    assert by_key["UNK"].platform_status == "UNKNOWN" and by_key["UNK"].bank_status == "SUCCESS"
    assert counts(run) == {
        "MATCHED": 3,
        "BANK_ONLY": 1,
        "PLATFORM_ONLY": 1,
        "STATUS_MISMATCH": 2,
        "AMOUNT_MISMATCH": 1,
        "FEE_MISMATCH": 1,
        "DUPLICATE": 1,
        "DOUBLE_PAYMENT_RISK": 1,
    }
    assert Decimal(run.counts["overage"]) == Decimal("114.00")
    assert Decimal(run.counts["shortage"]) == Decimal("-1573.05")


@pytest.mark.django_db
def test_a_payout_the_bank_made_while_we_recorded_failure_is_a_shortage(wx):
    txn(wx, "PO1", "500.00", status="FAILED", business_type="PAYOUT")  # no retry: a plain status mismatch
    lines(wx, D, {"txn_no": "PO1", "amount": "500.00", "line_type": "PAYOUT", "fee": "2.00"})
    reconcile(wx)
    d = Discrepancy.objects.get()
    assert (d.type, d.effect, d.direction) == ("STATUS_MISMATCH", Decimal("-500.00"), "SHORTAGE")


@pytest.mark.django_db
def test_carry_over_matched_on_t_plus_1_and_expired_after_t_plus_2(wx):
    txn(wx, "LATE", "45.00")  # the bank lists it the next day
    txn(wx, "NEVER", "12.00")  # the bank never lists it
    lines(wx, D, {"txn_no": "X1", "amount": "1.00"}, {"txn_no": "BLATE", "amount": "9.00"})
    txn(wx, "X1", "1.00")
    reconcile(wx)
    assert found(wx) == {
        ("PLATFORM_ONLY", "LATE", "CARRIED_OVER"),
        ("PLATFORM_ONLY", "NEVER", "CARRIED_OVER"),
        ("BANK_ONLY", "BLATE", "CARRIED_OVER"),
    }
    assert Discrepancy.objects.get(match_key="NEVER").carry_until == D + timedelta(days=2)

    # T+1: the late line arrives, and our record for the bank's line of yesterday.
    lines(wx, D + timedelta(days=1), {"txn_no": "LATE", "amount": "45.00"})
    txn(wx, "BLATE", "9.00", day=D + timedelta(days=1))
    run = reconcile(wx, D + timedelta(days=1))
    assert counts(run) == {"MATCHED_CROSS_DAY": 2, "PLATFORM_ONLY": 1}
    late = Discrepancy.objects.get(match_key="LATE")
    assert (late.state, late.closed_as, late.matched_run) == ("RESOLVED", "CROSS_DAY_MATCH", run)
    assert late.statement_line.txn_no == "LATE"
    assert Discrepancy.objects.get(match_key="BLATE").state == "RESOLVED"
    assert Discrepancy.objects.get(match_key="NEVER").state == "CARRIED_OVER"

    # T+2: the last chance; still alone, so it opens for a clerk.
    lines(wx, D + timedelta(days=2), {"txn_no": "X2", "amount": "1.00"})
    txn(wx, "X2", "1.00", day=D + timedelta(days=2))
    reconcile(wx, D + timedelta(days=2))
    assert Discrepancy.objects.get(match_key="NEVER").state == "OPEN"


@pytest.mark.django_db
def test_an_unknown_transaction_moves_on_by_itself_once_confirmed(wx):
    pending = txn(wx, "U1", "18.00", status="UNKNOWN")
    txn(wx, "U2", "25.00", status="UNKNOWN")
    lines(wx, D, {"txn_no": "Z", "amount": "1.00"})
    txn(wx, "Z", "1.00")
    reconcile(wx)
    assert {(t, k) for t, k, _s in found(wx)} == {("PLATFORM_ONLY", "U1"), ("PLATFORM_ONLY", "U2")}
    assert Discrepancy.objects.get(match_key="U1").direction == ""  # nothing booked on either side yet

    # The payment core learns U1 succeeded; the bank's next file lists both.
    pending.status = "SUCCESS"
    pending.save()
    lines(wx, D + timedelta(days=1), {"txn_no": "U1", "amount": "18.00"}, {"txn_no": "U2", "amount": "25.00"})
    reconcile(wx, D + timedelta(days=1))
    u1, u2 = Discrepancy.objects.get(match_key="U1"), Discrepancy.objects.get(match_key="U2")
    assert (u1.state, u1.closed_as) == ("RESOLVED", "CROSS_DAY_MATCH")
    assert (u2.type, u2.state, u2.direction) == ("STATUS_MISMATCH", "OPEN", "OVERAGE")  # still unknown here: 补单


@pytest.mark.django_db
def test_batch_payout_matches_one_to_many_and_waits_for_a_late_return(wx):
    for n in range(3):
        txn(wx, f"B1-{n}", "100.00", business_type="BATCH_PAYOUT", batch_no="B1")
    txn(wx, "B2-0", "50.00", business_type="BATCH_PAYOUT", batch_no="B2")
    txn(wx, "B2-1", "70.00", status="FAILED", business_type="BATCH_PAYOUT", batch_no="B2")
    lines(
        wx,
        D,
        {"batch_ref": "B1", "amount": "300.00", "line_type": "BATCH_PAYOUT", "fee": "3.00"},
        # The bank debited the whole of B2; the failed item's money comes back the next day.
        {"batch_ref": "B2", "amount": "120.00", "line_type": "BATCH_PAYOUT", "fee": "2.00"},
    )
    run = reconcile(wx)
    # Both debits cover every item: the items are judged one by one. B2-1, failed here, was paid by the
    # debit until its return comes back: it waits.
    assert counts(run) == {"MATCHED": 4, "STATUS_MISMATCH": 1}
    b2 = Discrepancy.objects.get()
    assert (b2.platform_txn.txn_no, b2.bank_status, b2.state, b2.effect) == ("B2-1", "SUCCESS", "CARRIED_OVER", Decimal("-70.00"))

    lines(wx, D + timedelta(days=1), {"batch_ref": "B2", "amount": "70.00", "line_type": "REFUND", "fee": "0"})
    reconcile(wx, D + timedelta(days=1))
    b2.refresh_from_db()
    assert (b2.state, b2.closed_as) == ("RESOLVED", "CROSS_DAY_MATCH")


@pytest.mark.django_db
def test_refunds_match_their_own_lines_and_keep_their_original(wx):
    original = txn(wx, "P1", "100.00")
    txn(wx, "R1", "40.00", business_type="REFUND", original=original)
    txn(wx, "R2", "10.00", business_type="REFUND", original=original)
    lines(
        wx,
        D,
        {"txn_no": "P1", "amount": "100.00"},
        {"txn_no": "R1", "amount": "40.00", "line_type": "REFUND", "fee": "-0.24", "original_txn_no": "P1"},
        {"txn_no": "R2", "amount": "15.00", "line_type": "REFUND", "fee": "-0.09", "original_txn_no": "P1"},
        {"txn_no": "R3", "amount": "5.00", "line_type": "REFUND", "fee": "-0.03", "original_txn_no": "P1"},
    )
    run = reconcile(wx)
    assert counts(run) == {"MATCHED": 2, "AMOUNT_MISMATCH": 1, "BANK_ONLY": 1}
    r2 = Discrepancy.objects.get(type="AMOUNT_MISMATCH")
    assert r2.platform_txn.original == original
    assert (r2.effect, r2.direction) == (Decimal("-5.00"), "SHORTAGE")  # the bank refunded 5.00 more than we did
    r3 = Discrepancy.objects.get(type="BANK_ONLY")
    assert (r3.effect, r3.direction, r3.statement_line.original_txn_no) == (Decimal("-5.00"), "SHORTAGE", "P1")


@pytest.mark.django_db
def test_a_re_run_with_the_same_inputs_changes_nothing_and_says_so(wx):
    txn(wx, "A", "10.00")
    txn(wx, "B", "20.00")
    lines(wx, D, {"txn_no": "A", "amount": "11.00"}, {"txn_no": "B", "amount": "21.00"})
    first = reconcile(wx)
    before = {d.pk: (d.type, d.state, d.effect, d.run_id, d.updated_at) for d in Discrepancy.objects.all()}
    second = reconcile(wx)
    assert counts(first) == counts(second) == {"AMOUNT_MISMATCH": 2}
    assert {d.pk: (d.type, d.state, d.effect, d.run_id, d.updated_at) for d in Discrepancy.objects.all()} == before
    assert first.counts["discrepancies"] == {"FOUND": 2} and second.counts["discrepancies"] == {"CONFIRMED": 2}
    assert second.findings.count() == 2 and not WorkflowEvent.objects.filter(source=f"run #{second.pk}").exists()
    assert set(WorkflowEvent.objects.filter(source=f"run #{first.pk}").values_list("kind", flat=True)) == {"FOUND"}


@pytest.mark.django_db(transaction=True)
def test_two_starts_at_once_one_wins(wx):
    barrier, outcomes = threading.Barrier(2), []

    def start():
        barrier.wait()
        try:
            outcomes.append(run_start(channel=wx, business_date=D, trigger="CLERK", now=timezone.now(), execute=False))
        except RunAlreadyActive as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["ReconciliationRun", "RunAlreadyActive"]
    assert ReconciliationRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_leaves_nothing_and_the_retry_gives_the_same_result(wx, monkeypatch):
    txn(wx, "A", "10.00")
    txn(wx, "ONLY", "5.00")
    lines(wx, D, {"txn_no": "A", "amount": "12.00"}, {"txn_no": "BANK", "amount": "7.00"})
    run = run_start(channel=wx, business_date=D, trigger="COMMAND", now=timezone.now(), execute=False)
    real_write = matching.write_results

    def write_then_die(params):
        real_write(params)
        raise KeyboardInterrupt("worker killed")  # not an Exception: nothing catches it, as with SIGKILL

    monkeypatch.setattr(matching, "write_results", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_execute(run=run, now=timezone.now())
    assert not Discrepancy.objects.exists()
    run.refresh_from_db()
    assert run.status == "RUNNING"  # as the killed worker left it

    monkeypatch.setattr(matching, "write_results", real_write)
    retried = run_execute(run=run, now=timezone.now())  # acks_late: the task is delivered again
    assert retried.status == "SUCCEEDED"
    assert found(wx) == {
        ("AMOUNT_MISMATCH", "A", "OPEN"),
        ("PLATFORM_ONLY", "ONLY", "CARRIED_OVER"),
        ("BANK_ONLY", "BANK", "CARRIED_OVER"),
    }
    assert run_execute(run=retried, now=timezone.now()).status == "SUCCEEDED"  # a third delivery changes nothing
    assert Discrepancy.objects.count() == 3


_channels = count(1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(min_value=1, max_value=60),
    rate=st.sampled_from([0.05, 0.1, 0.2, 0.5]),
    seed=st.integers(min_value=0, max_value=10_000),
)
@pytest.mark.django_db
def test_property_the_engine_finds_exactly_the_injected_differences(
    size, rate, seed, make_channel, make_fee_model, general_account
):
    channel = make_channel(f"SIM{next(_channels)}", carry_over_days=2)
    make_fee_model(channel, business_type=BusinessType.COLLECTION, rate=Decimal("0.006"))
    make_fee_model(
        channel,
        business_type=BusinessType.PAYOUT,
        rate=Decimal(0),
        fixed_amount=Decimal("2.00"),
        charging_mode=FeeModel.ChargingMode.EXTERNAL,
        charged_account=general_account,
    )
    day = simulate_day(channel=channel, business_date=D, count=size, difference_rate=rate, seed=seed)
    run = reconcile(channel)
    assert {(d.type, d.match_key) for d in Discrepancy.objects.filter(channel=channel)} == day.injected
    discrepancies = sum(v["count"] for k, v in run.counts["outcomes"].items() if k not in matching.MATCHED_OUTCOMES)
    assert discrepancies == len(day.injected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amount=st.decimals(min_value=0, max_value=Decimal("9999999.99"), places=2),
    rate=st.decimals(min_value=0, max_value=Decimal("0.03"), places=5),
    fixed=st.decimals(min_value=0, max_value=Decimal("9.99"), places=2),
    rounding=st.sampled_from(["ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_DOWN"]),
    limits=st.tuples(
        st.one_of(st.none(), st.decimals(min_value=0, max_value=5, places=2)),
        st.one_of(st.none(), st.decimals(min_value=5, max_value=500, places=2)),
    ),
    tier=st.one_of(
        st.none(),
        st.tuples(
            st.decimals(min_value=1, max_value=100000, places=2), st.decimals(min_value=0, max_value=Decimal("0.02"), places=5)
        ),
    ),
)
@pytest.mark.django_db
def test_property_the_engine_computes_fees_exactly_as_the_fee_service(amount, rate, fixed, rounding, limits, tier, wx):
    """The engine computes expected fees in SQL for millions of rows; it must agree with the Python
    fee service (the reference) to the cent for any model."""
    FeeModel.objects.filter(channel=wx).delete()
    model = FeeModel.objects.create(
        channel=wx,
        business_type="COLLECTION",
        rate=rate,
        fixed_amount=fixed,
        min_fee=limits[0],
        max_fee=limits[1],
        rounding=rounding,
        valid_from=local_dt(2025, 1, 1),
    )
    if tier:
        model.tiers.create(lower_bound=tier[0], rate=tier[1])
    run = ReconciliationRun(channel=wx, business_date=D)
    params = matching.day_params(run=run, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT fee_check")
        matching.collect_fee_brackets(params.channel_id)
        cursor.execute(
            f"SELECT {matching.expected_fee_sql('%(amount)s::numeric')} FROM rc_fee f "
            "WHERE %(amount)s::numeric >= f.lower_bound AND (f.upper_bound IS NULL OR %(amount)s::numeric < f.upper_bound)",
            {"amount": amount, "places": 2, "scale": Decimal(100)},
        )
        (sql_fee,) = cursor.fetchone()
        cursor.execute("ROLLBACK TO SAVEPOINT fee_check")
    model.refresh_from_db()
    assert sql_fee == fee_compute(spec=FeeSpec.of(model), amount=amount).fee


@pytest.mark.django_db
def test_reconcile_command_prints_the_documented_json(wx, capsys):
    txn(wx, "A", "10.00", status="UNKNOWN")
    lines(wx, D, {"txn_no": "A", "amount": "10.00"}, {"txn_no": "B", "amount": "3.50"})
    call_command("reconcile", "--channel", "WX", "--date", "2026-11-24", "--json")
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"run_id", "status", "counts", "discrepancies"}
    assert out["status"] == "SUCCEEDED" and out["counts"] == {"STATUS_MISMATCH": 1, "BANK_ONLY": 1}
    by_type = {d["type"]: d for d in out["discrepancies"]}
    assert by_type["STATUS_MISMATCH"] | {"id": 0} == {
        "id": 0,
        "type": "STATUS_MISMATCH",
        "state": "OPEN",
        "business_date": "2026-11-24",
        "txn_no": "A",
        "channel_txn_no": by_type["STATUS_MISMATCH"]["channel_txn_no"],
        "related_txn_no": "",
        "batch_no": "",
        "platform_amount": "10.00",
        "bank_amount": "10.00",
        "bank_fee": "0.06",
        "platform_fee": None,
        "expected_fee": "0.06",
        "currency": "CNY",
        "effect": "10.00",
        "direction": "OVERAGE",
    }
    assert by_type["BANK_ONLY"]["txn_no"] == "" and by_type["BANK_ONLY"]["state"] == "CARRIED_OVER"
    assert Channel.objects.get(code="WX").runs.count() == 1


@pytest.mark.django_db
def test_each_channel_has_a_daily_run_after_its_statement_time(wx):
    from django_celery_beat.models import PeriodicTask

    from reconciliation.services.channels.schedules import channel_schedule_sync

    wx.statement_ready_time = time(9, 45)
    task = channel_schedule_sync(channel=wx)
    assert (task.task, task.crontab.hour, task.crontab.minute) == ("reconciliation.run_start", "10", "15")
    assert json.loads(task.kwargs) == {"channel_id": wx.pk, "trigger": "SCHEDULE"}
    funds = PeriodicTask.objects.get(name__startswith=f"reconcile funds: {wx.pk} ")  # stage 2, an hour after stage 1
    assert (funds.crontab.hour, funds.crontab.minute) == ("11", "15")
    assert json.loads(funds.kwargs) == {"channel_id": wx.pk, "trigger": "SCHEDULE", "stage": "FUND"}
    wx.is_active = False
    channel_schedule_sync(channel=wx)
    assert PeriodicTask.objects.filter(name__startswith=f"reconcile: {wx.pk} ").get().enabled is False
    assert PeriodicTask.objects.get(name__startswith=f"reconcile funds: {wx.pk} ").enabled is False


@pytest.mark.django_db
def test_scheduled_task_reconciles_yesterday_and_retries_while_a_run_is_active(wx, django_capture_on_commit_callbacks):
    from reconciliation.tasks import run_start_task

    yesterday = timezone.localdate() - timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        run_start_task.apply(kwargs={"channel_id": wx.pk, "trigger": "SCHEDULE"})
    run = ReconciliationRun.objects.get()
    assert (run.business_date, run.trigger, run.status) == (yesterday, "SCHEDULE", "SUCCEEDED")


@pytest.mark.django_db
def test_expired_carry_overs_open_even_without_a_run(wx):
    from reconciliation.services.engine.runs import discrepancies_open_expired

    txn(wx, "ALONE", "5.00")
    lines(wx, D, {"txn_no": "Q", "amount": "1.00"})
    reconcile(wx)
    assert discrepancies_open_expired(today=D + timedelta(days=2), now=timezone.now()) == 0  # T+2: still waiting
    assert discrepancies_open_expired(today=D + timedelta(days=3), now=timezone.now()) == 2
    assert found(wx) == {("PLATFORM_ONLY", "ALONE", "OPEN"), ("BANK_ONLY", "Q", "OPEN")}
