"""Stage 1 matching: our transactions of a channel and date against its business-detail lines.

Set-based: the whole day is matched in PostgreSQL with a handful of statements (temporary tables,
one full outer hash join, set updates and inserts), never row by row in Python. Runs inside the
caller's transaction, so a run either writes all of its results or none.

Vocabulary (DESIGN.md §4):
- items: our transactions, the channel's lines (of the date's current files: a replaced file is not
  read), and batches. An item is *settled* once a discrepancy about it is resolved (by a person or by
  a run that matched it): no run looks at it again. An item has at most one *live* discrepancy.
- candidates: the date's unsettled items, plus the items of other dates whose live discrepancy this
  date may concern: an item alone on one side whose carry-over window covers the date (earlier dates),
  or that lies within this date's window (later dates), and the other side of a live discrepancy that
  pairs an item of this date with one of another. Matching is symmetric in time, so the results do not
  depend on the order in which dates are run.
- effect = bank's signed effect on our funds − our books' signed effect. Money in (collection,
  recharge) counts +, money out (payout, refund, batch payout) −; only a SUCCESS moves money.
- outcomes: MATCHED, MATCHED_CROSS_DAY, AGREED_FAILED (both sides say failed: nothing moved), and the
  discrepancy types of DiscrepancyType.

A run never deletes and never resurrects: it reconciles its conclusions with the live discrepancies of
its items. It closes those it matched (withdrawing a proposal under way), updates or opens those it
found again (never a state a person set: see RUN_MAY_CLOSE / RUN_MAY_RECLASSIFY), inserts what is new,
writes a WorkflowEvent for every change and a RunFinding for every discrepancy it concluded about. Run
again with unchanged inputs, it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Max

from backoffice.core.db import sql_list
from backoffice.core.db import sql_str as q
from backoffice.core.money import minor_places
from reconciliation.models import (
    MATCHED_OUTCOMES,
    RUN_MAY_CLOSE,
    RUN_MAY_RECLASSIFY,
    UNRESOLVED_STATES,
    BusinessType,
    Channel,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    EffectDirection,
    FeeModel,
    FeeTier,
    LineStatus,
    MatchOutcome,
    PlatformTransaction,
    ReconciliationRun,
    Resolution,
    Rounding,
    RunFinding,
    RunStage,
    StatementFile,
    StatementKind,
    StatementLine,
    TransactionStatus,
    WorkflowEvent,
)
from reconciliation.models.workflow import OPEN_RESOLUTION_STATUSES
from reconciliation.services.channels.calendar import business_days_after

T_TXN = PlatformTransaction._meta.db_table
T_LINE = StatementLine._meta.db_table
T_FILE = StatementFile._meta.db_table
T_DISC = Discrepancy._meta.db_table
T_RUN = ReconciliationRun._meta.db_table
T_FEE = FeeModel._meta.db_table
T_TIER = FeeTier._meta.db_table
T_RES = Resolution._meta.db_table
T_EVENT = WorkflowEvent._meta.db_table
T_FINDING = RunFinding._meta.db_table

# How long after a failed payout a successful one to the same payee and amount counts as its retry.
DOUBLE_PAYMENT_WINDOW_DAYS = 7
# Every state, type and outcome in the SQL below is written from its enum (q(...), sql_list(...)).
B, T, S, M = BusinessType, DiscrepancyType, DiscrepancyState, MatchOutcome
TS, LS = TransactionStatus, LineStatus
ClosedAs, FileStatus, Change, Kind = Discrepancy.ClosedAs, StatementFile.Status, RunFinding.Change, WorkflowEvent.Kind
# Business types that bring money in (+); the others take it out (−).
MONEY_IN = (B.COLLECTION, B.RECHARGE, B.OTHER)
# Outcomes that are settled; the types that wait for a later day before anyone must act.
SETTLED = sql_list(MATCHED_OUTCOMES)
WAITING_TYPES = (T.PLATFORM_ONLY, T.BANK_ONLY, T.BOTH_PENDING)
ALONE = sql_list(WAITING_TYPES)
# Temporary tables of one run (ON COMMIT DROP as a safety net).
WORK_TABLES = (
    "rc_live",
    "rc_settled",
    "rc_l",
    "rc_dup",
    "rc_fee",
    "rc_out",
    "rc_counts",
    "rc_batch_sizes",
    "rc_close",
    "rc_events",
    "rc_seen",
)
# Advisory-lock namespace of a channel's stage-1 runs (ingest uses 7301, fetch 7302, runs 7303): the runs of
# one channel look at each other's discrepancies (items match across dates), so they take turns.
CHANNEL_LOCK_NAMESPACE = 7304
# A row of rc_out that stands for a whole batch payout (one-to-many), not one transaction.
BATCH_ROW = f"(o.business_type = {q(B.BATCH_PAYOUT)} AND o.txn_id IS NULL)"
# What waits for a later day before anyone must act: an item alone on one side (or pending on both), and
# a batch the bank paid more for than our successful items (the returns of its failed items may come in
# on a later day).
WAITS = f"(o.outcome IN ({ALONE}) OR ({BATCH_ROW} AND o.outcome = {q(T.AMOUNT_MISMATCH)} AND o.money_effect < 0))"


def sign_sql(column: str) -> str:
    """SQL of the signed effect (+1 or −1) on our funds of the business type in ``column``."""
    return f"CASE WHEN {column} IN ({sql_list(MONEY_IN)}) THEN 1 ELSE -1 END"


def direction_sql(effect: str) -> str:
    """SQL of the overage/shortage direction of the money effect ``effect`` ('' when zero)."""
    over, short = q(EffectDirection.OVERAGE), q(EffectDirection.SHORTAGE)
    return f"(CASE WHEN {effect} > 0 THEN {over} WHEN {effect} < 0 THEN {short} ELSE '' END)"


# A fee mismatch's effect is the fee difference; every other outcome's the money difference.
EFFECT_SQL = f"(CASE WHEN o.outcome = {q(T.FEE_MISMATCH)} THEN o.expected_fee - o.l_fee ELSE o.money_effect END)"


@dataclass(frozen=True)
class DayParams:
    run_id: int
    channel_id: int
    business_date: date
    key_txn: str  # column of our transaction compared with the line's key column
    key_line: str
    amount_tolerance: Decimal
    fee_tolerance: Decimal
    places: int
    carry_until: date | None  # the end of this date's carry-over window; None: no window, items open at once
    # The latest business date the channel's stage 1 has run for (this one included): a waiting item whose
    # window ends by then has had every later file it waited for, so it opens.
    horizon: date
    now: datetime
    # The date's current business-detail files (parsed, not replaced): passed as a list so the planner
    # reads their lines through the (file, line) index, whatever its statistics say after a fresh COPY.
    file_ids: list[int]


def day_params(*, run: ReconciliationRun, now: datetime) -> DayParams:
    channel: Channel = run.channel
    by_serial = channel.match_key == Channel.MatchKey.CHANNEL_TXN_NO
    latest = ReconciliationRun.objects.filter(
        channel=channel, stage=RunStage.TRANSACTION, status=ReconciliationRun.Status.SUCCEEDED
    ).aggregate(day=Max("business_date"))["day"]
    return DayParams(
        run_id=run.pk,
        channel_id=channel.pk,
        business_date=run.business_date,
        key_txn="channel_txn_no" if by_serial else "txn_no",
        key_line="channel_txn_no" if by_serial else "txn_no",
        amount_tolerance=channel.amount_tolerance,
        fee_tolerance=channel.fee_tolerance,
        places=minor_places(channel.currency),
        carry_until=business_days_after(channel=channel, day=run.business_date, count=channel.carry_over_days)
        if channel.carry_over_days
        else None,
        horizon=max(filter(None, (latest, run.business_date))),
        now=now,
        file_ids=list(
            StatementFile.objects.filter(
                channel=channel,
                statement_date=run.business_date,
                kind=StatementFile.Kind.BUSINESS,
                status=StatementFile.Status.PARSED,
                superseded_by__isnull=True,
            ).values_list("id", flat=True)
        ),
    )


def _execute(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetchall(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _base(p: DayParams) -> dict:
    return {
        "channel": p.channel_id,
        "day": p.business_date,
        "run": p.run_id,
        "now": p.now,
        "amount_tol": p.amount_tolerance,
        "fee_tol": p.fee_tolerance,
        "places": p.places,
        "carry_until": p.carry_until,
        "horizon": p.horizon,
        "dp_days": DOUBLE_PAYMENT_WINDOW_DAYS,
        "files": p.file_ids,
        "scale": Decimal(10) ** p.places,
        "source": f"run #{p.run_id}",
    }


# --- what the run concerns: live discrepancies, settled items, candidates ------------------------------


def collect_live(p: DayParams) -> None:
    """rc_live: the live discrepancies this run may conclude about; rc_settled: the items of this date
    that a resolved discrepancy settled (usually a few hundred rows: hashed anti-joins below)."""
    base = _base(p)
    _execute(
        f"""
        CREATE TEMP TABLE rc_live ON COMMIT DROP AS
        SELECT d.id, d.type, d.state, d.platform_txn_id AS txn_id, d.statement_line_id AS line_id, d.batch_no,
               d.business_date, d.counterpart_date, d.carry_until
        FROM {T_DISC} d
        WHERE d.channel_id = %(channel)s AND d.state IN ({sql_list(UNRESOLVED_STATES)})
          AND (d.business_date = %(day)s OR d.counterpart_date = %(day)s OR d.batch_no <> ''
               OR (d.type IN ({ALONE}) AND ((d.business_date < %(day)s AND d.carry_until >= %(day)s)
                                            OR (d.business_date > %(day)s AND d.business_date <= %(carry_until)s))))
    """,
        base,
    )
    _execute(
        f"""
        CREATE TEMP TABLE rc_settled ON COMMIT DROP AS
        SELECT d.platform_txn_id AS txn_id, d.statement_line_id AS line_id, d.batch_no
        FROM {T_DISC} d
        WHERE d.channel_id = %(channel)s AND d.state = {q(S.RESOLVED)}
          AND (d.business_date = %(day)s OR d.counterpart_date = %(day)s)
    """,
        base,
    )
    _execute("ANALYZE rc_live; ANALYZE rc_settled", {})


def collect_candidates(p: DayParams) -> None:
    """rc_l: the channel's candidate lines (a key's later lines go into rc_out as DUPLICATEs)."""
    base = _base(p)
    _execute(
        f"""
        CREATE TEMP TABLE rc_l ON COMMIT DROP AS
        SELECT l.id, NULLIF(l.{p.key_line}, '') AS k, l.amount, l.fee, l.status, l.line_type, l.statement_date,
               l.currency, l.file_id, l.line_no
        FROM {T_LINE} l
        WHERE l.file_id = ANY(%(files)s) AND l.batch_ref = ''
          AND NOT EXISTS (SELECT 1 FROM rc_settled s WHERE s.line_id = l.id)
        UNION ALL
        SELECT l.id, NULLIF(l.{p.key_line}, ''), l.amount, l.fee, l.status, l.line_type, l.statement_date,
               l.currency, l.file_id, l.line_no
        FROM rc_live v JOIN {T_LINE} l ON l.id = v.line_id
        WHERE v.batch_no = '' AND l.statement_date <> %(day)s
    """,
        base,
    )
    _collect_fee_brackets(p)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE rc_l")


def _set_apart_duplicates() -> None:
    """A key twice on the channel's side: the first line (by id: file, then line) is matched, the others
    are duplicates (rc_dup). Usually an empty set, found by a hash aggregate, not a sort of every line."""
    _execute(
        """
        CREATE TEMP TABLE rc_dup ON COMMIT DROP AS
        SELECT l.id, l.k, l.amount, l.status, l.line_type, l.statement_date, l.currency
        FROM rc_l l JOIN (SELECT k FROM rc_l WHERE k IS NOT NULL GROUP BY k HAVING count(*) > 1) d ON d.k = l.k
    """,
        {},
    )
    _execute("DELETE FROM rc_dup WHERE id IN (SELECT DISTINCT ON (k) id FROM rc_dup ORDER BY k, id)", {})
    _execute("DELETE FROM rc_l WHERE id IN (SELECT id FROM rc_dup)", {})


def _our_candidates(p: DayParams) -> str:
    """SQL of our candidates: the date's unsettled transactions and those of other dates that a live
    discrepancy brings in."""
    return f"""
        SELECT t.id, NULLIF(t.{p.key_txn}, '') AS k, t.amount, t.status, t.business_type, t.created_at,
               t.business_date, t.currency
        FROM {T_TXN} t
        WHERE t.channel_id = %(channel)s AND t.business_date = %(day)s AND t.batch_no = ''
          AND NOT EXISTS (SELECT 1 FROM rc_settled s WHERE s.txn_id = t.id)
        UNION ALL
        SELECT t.id, NULLIF(t.{p.key_txn}, ''), t.amount, t.status, t.business_type, t.created_at,
               t.business_date, t.currency
        FROM rc_live v JOIN {T_TXN} t ON t.id = v.txn_id
        WHERE v.batch_no = '' AND t.business_date <> %(day)s
    """


OUT_COLUMNS = """
    txn_id bigint, line_id bigint, k text, p_amount numeric, l_amount numeric, p_status text, l_status text,
    l_fee numeric, business_type text, p_date date, l_date date, currency text, expected_fee numeric,
    money_effect numeric, outcome text, related_txn_id bigint, live_id bigint, other_live_id bigint
"""


def classify(p: DayParams) -> None:
    """One pass over the full outer join of both sides. rc_out keeps every pair but the plain matches
    of items nobody has a live discrepancy about (~1% of the pairs: discrepancies, carried items, failures
    on both sides, and the matches that close a live discrepancy). Each line is in exactly one pair, so
    the plain matches are counted by difference (rc_counts). Batch rows are added by classify_batches."""
    sign_p, sign_l = sign_sql("p.business_type"), sign_sql("l.line_type")
    ours = f"(CASE WHEN p.status = {q(TS.SUCCESS)} THEN {sign_p} * p.amount ELSE 0 END)"
    bank = f"(CASE WHEN l.status = {q(LS.SUCCESS)} THEN {sign_l} * l.amount ELSE 0 END)"
    pending = f"(p.status IN ({sql_list((TS.UNKNOWN, TS.PROCESSING))}))"
    # Our status as the channel would say it: a timeout (UNKNOWN) is still in progress.
    ours_as_bank = f"(CASE WHEN {pending} THEN {q(LS.PROCESSING)} ELSE p.status END)"
    expected = expected_fee_sql("p.amount")
    expected_signed = f"(CASE WHEN p.business_type = {q(B.REFUND)} THEN -{expected} ELSE {expected} END)"
    _set_apart_duplicates()
    _execute(f"CREATE TEMP TABLE rc_out ({OUT_COLUMNS}) ON COMMIT DROP", {})
    _execute(
        """
        CREATE TEMP TABLE rc_counts (outcome text, items bigint, amount numeric, overage numeric, shortage numeric)
        ON COMMIT DROP
    """,
        {},
    )
    _execute(
        f"""
        WITH p AS ({_our_candidates(p)}),
        pairs AS (
            SELECT p.id AS txn_id, l.id AS line_id, COALESCE(p.k, l.k) AS k,
                   p.amount AS p_amount, l.amount AS l_amount, p.status AS p_status, l.status AS l_status,
                   l.fee AS l_fee, p.business_type, p.business_date AS p_date, l.statement_date AS l_date,
                   COALESCE(p.currency, l.currency) AS currency,
                   (p.id IS NOT NULL AND l.id IS NOT NULL AND {ours_as_bank} <> l.status) AS status_differs,
                   (p.id IS NOT NULL AND l.id IS NOT NULL AND {pending} AND l.status = {q(LS.PROCESSING)}) AS both_pending,
                   CASE WHEN p.id IS NOT NULL AND l.id IS NOT NULL THEN {expected_signed} END AS expected_fee,
                   COALESCE({bank}, 0) - COALESCE({ours}, 0) AS money_effect
            FROM p
            FULL JOIN rc_l l ON l.k = p.k
            LEFT JOIN rc_fee f ON f.business_type = p.business_type AND p.created_at >= f.valid_from
                 AND (f.valid_to IS NULL OR p.created_at < f.valid_to)
                 AND p.amount >= f.lower_bound AND (f.upper_bound IS NULL OR p.amount < f.upper_bound)
        ),
        j AS (
            SELECT txn_id, line_id, k, p_amount, l_amount, p_status, l_status, l_fee, business_type, p_date, l_date,
                   currency, expected_fee, money_effect,
                   CASE
                     WHEN line_id IS NULL THEN
                       CASE WHEN p_status = {q(TS.FAILED)} THEN {q(M.AGREED_FAILED)} ELSE {q(T.PLATFORM_ONLY)} END
                     WHEN txn_id IS NULL THEN {q(T.BANK_ONLY)}
                     -- Nothing to compare until one side finishes: both wait.
                     WHEN both_pending THEN {q(T.BOTH_PENDING)}
                     WHEN status_differs THEN {q(T.STATUS_MISMATCH)}
                     WHEN p_status = {q(TS.FAILED)} THEN {q(M.AGREED_FAILED)}
                     WHEN abs(l_amount - p_amount) > %(amount_tol)s THEN {q(T.AMOUNT_MISMATCH)}
                     -- No model or no fee on the line: NULL, not a mismatch. (The expected fee, the dearest
                     -- expression of the pass, is written once here so it is computed once per pair.)
                     WHEN abs(l_fee - expected_fee) > %(fee_tol)s THEN {q(T.FEE_MISMATCH)}
                     WHEN p_date <> l_date THEN {q(M.MATCHED_CROSS_DAY)}
                     ELSE {q(M.MATCHED)}
                   END AS outcome
            FROM pairs
        )
        -- Plain matches, nearly all pairs, are not kept unless they close a live discrepancy: they are
        -- counted below by difference.
        INSERT INTO rc_out
        SELECT j.*, NULL, NULL, NULL FROM j
        WHERE j.outcome <> {q(M.MATCHED)}
           OR j.txn_id IN (SELECT txn_id FROM rc_live WHERE txn_id IS NOT NULL)
           OR j.line_id IN (SELECT line_id FROM rc_live WHERE line_id IS NOT NULL)
    """,
        _base(p),
    )
    # The channel's later lines of a key it lists more than once.
    _execute(
        f"""
        INSERT INTO rc_out (txn_id, line_id, k, p_amount, l_amount, p_status, l_status, l_fee, business_type, p_date,
                            l_date, currency, expected_fee, money_effect, outcome)
        SELECT NULL, d.id, d.k, NULL, d.amount, NULL, d.status, NULL, d.line_type, NULL, d.statement_date, d.currency,
               NULL, CASE WHEN d.status = {q(LS.SUCCESS)} THEN {sign_sql("d.line_type")} * d.amount ELSE 0 END,
               {q(T.DUPLICATE)}
        FROM rc_dup d
    """,
        {},
    )
    _execute(
        f"""
        INSERT INTO rc_counts
        SELECT {q(M.MATCHED)}, sides.items - kept.items, sides.amount - kept.amount, 0, 0
        FROM (SELECT count(*) AS items, COALESCE(sum(amount), 0) AS amount FROM rc_l) sides,
             (SELECT count(*) AS items, COALESCE(sum(l_amount), 0) AS amount FROM rc_out
              WHERE line_id IS NOT NULL AND outcome NOT IN ({q(M.MATCHED)}, {q(T.DUPLICATE)})) kept
    """,
        {},
    )
    _execute("ANALYZE rc_out", {})


def _batches_of_the_day(p: DayParams) -> list[str]:
    """Batch numbers to look at: ours of the date, the channel's lines of the date, and live ones; a batch
    whose discrepancy was resolved is settled and not looked at again."""
    rows = _fetchall(
        f"""
        (SELECT batch_no FROM {T_TXN}
         WHERE channel_id = %(channel)s AND business_date = %(day)s AND batch_no <> ''
         UNION
         SELECT batch_ref FROM {T_LINE} WHERE file_id = ANY(%(files)s) AND batch_ref <> ''
         UNION
         SELECT batch_no FROM rc_live WHERE batch_no <> '')
        EXCEPT
        (SELECT batch_no FROM rc_settled WHERE batch_no <> ''
         EXCEPT SELECT batch_no FROM rc_live WHERE batch_no <> '')
    """,
        _base(p),
    )
    return sorted(row[0] for row in rows)


def classify_batches(p: DayParams) -> None:
    """Batch payouts (代发) one-to-many: our items grouped by batch_no against the channel's batch lines
    (the batch debit, and returns of failed items, possibly on a later day) grouped by batch_ref."""
    batches = _batches_of_the_day(p)
    # Items of a batch count one by one in the run's outcomes, like any transaction.
    _execute(
        f"""
        CREATE TEMP TABLE rc_batch_sizes ON COMMIT DROP AS
        SELECT t.batch_no, count(*) AS items FROM {T_TXN} t
        WHERE t.channel_id = %(channel)s AND t.batch_no = ANY(%(batches)s)
        GROUP BY t.batch_no
    """,
        {**_base(p), "batches": batches},
    )
    if not batches:  # most days: nothing to do
        return
    _execute(
        f"""
        INSERT INTO rc_out (txn_id, line_id, k, p_amount, l_amount, p_status, l_status, l_fee, business_type,
                            p_date, l_date, currency, expected_fee, money_effect, outcome)
        WITH ours AS (
            SELECT t.batch_no, sum(CASE WHEN t.status = {q(TS.SUCCESS)} THEN t.amount ELSE 0 END) AS paid,
                   min(t.business_date) AS first_date, min(t.currency) AS currency
            FROM {T_TXN} t WHERE t.channel_id = %(channel)s AND t.batch_no = ANY(%(batches)s)
            GROUP BY t.batch_no
        ),
        bank AS (
            SELECT l.batch_ref AS batch_no, min(l.id) FILTER (WHERE l.line_type = {q(B.BATCH_PAYOUT)}) AS line_id,
                   sum(CASE WHEN l.status <> {q(LS.SUCCESS)} THEN 0
                            WHEN l.line_type IN ({sql_list((B.REFUND, B.COLLECTION, B.RECHARGE))}) THEN -l.amount
                            ELSE l.amount END) AS paid,
                   min(l.statement_date) AS first_date, max(l.statement_date) AS last_date, min(l.currency) AS currency
            FROM {T_LINE} l JOIN {T_FILE} f ON f.id = l.file_id
            WHERE f.channel_id = %(channel)s AND f.statement_date <= %(day)s AND f.kind = {q(StatementKind.BUSINESS)}
              AND f.status = {q(FileStatus.PARSED)} AND f.superseded_by_id IS NULL AND l.batch_ref = ANY(%(batches)s)
            GROUP BY l.batch_ref
        )
        SELECT NULL, b.line_id, COALESCE(o.batch_no, b.batch_no), o.paid, b.paid, NULL, NULL, NULL, {q(B.BATCH_PAYOUT)},
               o.first_date, b.last_date, COALESCE(o.currency, b.currency), NULL, COALESCE(o.paid, 0) - COALESCE(b.paid, 0),
               CASE
                 WHEN b.batch_no IS NULL THEN {q(T.PLATFORM_ONLY)}
                 WHEN o.batch_no IS NULL THEN {q(T.BANK_ONLY)}
                 WHEN abs(o.paid - b.paid) > %(amount_tol)s THEN {q(T.AMOUNT_MISMATCH)}
                 WHEN o.first_date <> b.last_date THEN {q(M.MATCHED_CROSS_DAY)}
                 ELSE {q(M.MATCHED)}
               END
        FROM ours o FULL JOIN bank b ON b.batch_no = o.batch_no
    """,
        {**_base(p), "batches": batches},
    )


def _collect_fee_brackets(p: DayParams) -> None:
    """One row per fee model and amount bracket: [lower, upper) with its rate and fixed amount. Below
    the first tier the model's own rate applies."""
    _execute(
        f"""
        CREATE TEMP TABLE rc_fee ON COMMIT DROP AS
        WITH tiers AS (
            SELECT fee_model_id, lower_bound, rate, fixed_amount,
                   lead(lower_bound) OVER (PARTITION BY fee_model_id ORDER BY lower_bound) AS upper_bound
            FROM {T_TIER} WHERE fee_model_id IN (SELECT id FROM {T_FEE} WHERE channel_id = %(channel)s)
        )
        SELECT m.id, m.business_type, m.valid_from, m.valid_to, m.min_fee, m.max_fee, m.rounding,
               0::numeric AS lower_bound,
               (SELECT min(t.lower_bound) FROM tiers t WHERE t.fee_model_id = m.id) AS upper_bound,
               m.rate, m.fixed_amount
        FROM {T_FEE} m WHERE m.channel_id = %(channel)s
        UNION ALL
        SELECT m.id, m.business_type, m.valid_from, m.valid_to, m.min_fee, m.max_fee, m.rounding,
               t.lower_bound, t.upper_bound, t.rate, t.fixed_amount
        FROM {T_FEE} m JOIN tiers t ON t.fee_model_id = m.id
    """,
        _base(p),
    )


def _rounded(expr: str) -> str:
    """SQL of the fee model's rounding of ``expr`` (never negative) to %(places)s decimals, as
    reconciliation.services.channels.fees.fee_compute does it (a property test holds the two together).
    %(scale)s is 10 ** places, passed in: numeric power() per row is dear."""
    scaled = f"(({expr}) * %(scale)s)"
    return f"""(CASE f.rounding
        WHEN {q(Rounding.DOWN)} THEN trunc({expr}, %(places)s)
        WHEN {q(Rounding.HALF_EVEN)} THEN CASE WHEN {scaled} - trunc({scaled}) = 0.5 AND mod(trunc({scaled}), 2) = 0
                                         THEN trunc({expr}, %(places)s) ELSE round({expr}, %(places)s) END
        ELSE round({expr}, %(places)s) END)"""


def expected_fee_sql(amount: str) -> str:
    """The fee our model expects for ``amount`` (given the joined bracket ``f``), held within min/max.
    GREATEST and LEAST skip NULLs, so a missing minimum or maximum simply does not apply."""
    return f"LEAST(GREATEST({_rounded(f'{amount} * f.rate + f.fixed_amount')}, f.min_fee), f.max_fee)"


def flag_double_payments(p: DayParams) -> None:
    """A payout we recorded as failed that the channel paid, with a later successful retry to the same
    payee and amount: money went out twice. Only the few failed-but-paid payouts are looked at."""
    _execute(
        f"""
        UPDATE rc_out o SET outcome = {q(T.DOUBLE_PAYMENT_RISK)}, related_txn_id = r.id
        FROM {T_TXN} f, LATERAL (
            SELECT t.id FROM {T_TXN} t
            WHERE t.channel_id = f.channel_id AND t.business_type = f.business_type AND t.status = {q(TS.SUCCESS)}
              AND t.amount = f.amount AND t.counterparty_account = f.counterparty_account
              AND t.counterparty_account <> ''  -- lets the planner use the partial payee index
              AND t.account_id IS NOT DISTINCT FROM f.account_id AND t.id <> f.id
              AND t.created_at > f.created_at AND t.created_at < f.created_at + make_interval(days => %(dp_days)s)
            ORDER BY t.created_at, t.id LIMIT 1
        ) r
        WHERE o.outcome = {q(T.STATUS_MISMATCH)} AND o.p_status = {q(TS.FAILED)} AND o.l_status = {q(LS.SUCCESS)}
          AND o.business_type = {q(B.PAYOUT)} AND f.id = o.txn_id AND f.counterparty_account <> ''
    """,
        _base(p),
    )


def _link_live() -> None:
    """Each rc_out row's live discrepancies: by our transaction (live_id), by the channel's line when it is
    another one (other_live_id); a batch row by its batch number."""
    _execute(
        f"""
        UPDATE rc_out o SET live_id = v.id FROM rc_live v
        WHERE NOT {BATCH_ROW} AND o.txn_id IS NOT NULL AND v.txn_id = o.txn_id AND v.batch_no = ''
    """,
        {},
    )
    _execute(
        f"""
        UPDATE rc_out o SET live_id = v.id FROM rc_live v
        WHERE NOT {BATCH_ROW} AND o.live_id IS NULL AND o.line_id IS NOT NULL AND v.line_id = o.line_id AND v.batch_no = ''
    """,
        {},
    )
    _execute(
        f"""
        UPDATE rc_out o SET other_live_id = v.id FROM rc_live v
        WHERE NOT {BATCH_ROW} AND o.line_id IS NOT NULL AND v.line_id = o.line_id AND v.batch_no = '' AND v.id <> o.live_id
    """,
        {},
    )
    _execute(f"UPDATE rc_out o SET live_id = v.id FROM rc_live v WHERE {BATCH_ROW} AND v.batch_no = o.k", {})


def _record_events(sql: str, params: dict) -> None:
    """Run a guarded update whose RETURNING gives (discrepancy_id, kind, before, after), into rc_events."""
    _execute(f"WITH moved AS ({sql}) INSERT INTO rc_events SELECT * FROM moved", params)


def write_results(p: DayParams) -> None:
    """Reconcile the run's conclusions with the live discrepancies of its items: close what matched,
    update or open what is still there, insert what is new; record every change (rc_events) and every
    discrepancy concluded about (rc_seen)."""
    base = _base(p)
    _link_live()
    _execute(
        """
        CREATE TEMP TABLE rc_events (discrepancy_id bigint, kind text, before jsonb, after jsonb, resolution_id bigint)
        ON COMMIT DROP;
        CREATE TEMP TABLE rc_seen (discrepancy_id bigint, change text) ON COMMIT DROP;
    """,
        {},
    )
    closed_as = f"(CASE WHEN d.business_date <> %(day)s THEN {q(ClosedAs.CROSS_DAY_MATCH)} ELSE {q(ClosedAs.REMATCHED)} END)"
    # 1. Matched: close every live discrepancy of the pair (a proposal under way is withdrawn below). An
    #    item found different whose two sides each had a discrepancy keeps ours; the other one closes too.
    _execute(
        f"""
        CREATE TEMP TABLE rc_close ON COMMIT DROP AS
        SELECT DISTINCT ON (id) id, txn_id, line_id, p_amount, l_amount, p_date, l_date
        FROM (
            SELECT o.live_id AS id, o.* FROM rc_out o WHERE o.outcome IN ({SETTLED}) AND o.live_id IS NOT NULL
            UNION ALL
            SELECT o.other_live_id, o.* FROM rc_out o WHERE o.other_live_id IS NOT NULL
        ) c
        ORDER BY id
    """,
        base,
    )
    # The other side's date, seen from the discrepancy's own item (ours when it has one).
    other_date = (
        "(CASE WHEN c.p_date IS NULL OR c.l_date IS NULL THEN NULL WHEN t.txn_id IS NOT NULL THEN c.l_date ELSE c.p_date END)"
    )
    _record_events(
        f"""
        WITH t AS (
            SELECT d.id, d.state, d.type, d.platform_txn_id AS txn_id FROM {T_DISC} d JOIN rc_close c ON c.id = d.id
            WHERE d.state IN ({sql_list(RUN_MAY_CLOSE)}) FOR UPDATE OF d
        )
        UPDATE {T_DISC} d SET state = {q(S.RESOLVED)}, closed_as = {closed_as}, matched_run_id = %(run)s,
               platform_txn_id = COALESCE(d.platform_txn_id, c.txn_id),
               statement_line_id = COALESCE(d.statement_line_id, c.line_id),
               counterpart_date = COALESCE(d.counterpart_date, {other_date}),
               bank_amount = COALESCE(d.bank_amount, c.l_amount), platform_amount = COALESCE(d.platform_amount, c.p_amount),
               resolved_at = %(now)s, updated_at = %(now)s
        FROM t, rc_close c
        WHERE d.id = t.id AND c.id = t.id
        RETURNING d.id, {q(Kind.MATCHED)}, jsonb_build_object('state', t.state, 'type', t.type),
                  jsonb_build_object('state', d.state, 'closed_as', d.closed_as), NULL::bigint
    """,
        base,
    )
    _record_events(
        f"""
        UPDATE {T_RES} r SET status = {q(Resolution.Status.WITHDRAWN)}, decided_at = %(now)s
        FROM rc_events e
        WHERE e.kind = {q(Kind.MATCHED)} AND r.discrepancy_id = e.discrepancy_id
          AND r.status IN ({sql_list(OPEN_RESOLUTION_STATUSES)})
        RETURNING r.discrepancy_id, {q(Kind.WITHDRAWN)}, jsonb_build_object('resolution', r.id),
                  jsonb_build_object('resolution_status', r.status), r.id
    """,
        base,
    )
    # 2. Still there: update what changed, open what waited past its window. Only states a run may
    #    reclassify: a proposal under way or an approved follow-up is left as the person left it.
    new_state = f"""(CASE WHEN d.state = {q(S.CARRIED_OVER)} AND {WAITS} AND d.carry_until > %(horizon)s
                          THEN {q(S.CARRIED_OVER)} ELSE {q(S.OPEN)} END)"""
    facts = {
        "type": "o.outcome",
        "platform_txn_id": "o.txn_id",
        "statement_line_id": "o.line_id",
        # The other side's date, seen from the discrepancy's own item (ours when it has one).
        "counterpart_date": """(CASE WHEN o.p_date IS NULL OR o.l_date IS NULL THEN NULL
                                     WHEN d.platform_txn_id IS NOT NULL THEN o.l_date ELSE o.p_date END)""",
        "platform_amount": "o.p_amount",
        "bank_amount": "o.l_amount",
        "platform_status": "COALESCE(o.p_status, '')",
        "bank_status": "COALESCE(o.l_status, '')",
        "bank_fee": "o.l_fee",
        "expected_fee": "o.expected_fee",
        "effect": EFFECT_SQL,
        "direction": direction_sql(EFFECT_SQL),
        "related_txn_id": "o.related_txn_id",
    }
    before = ", ".join(f"d.{name}" for name in facts)
    after = ", ".join(facts.values())
    _record_events(
        f"""
        WITH t AS (
            SELECT d.id, d.state, d.type FROM {T_DISC} d JOIN rc_out o ON o.live_id = d.id
            WHERE o.outcome NOT IN ({SETTLED}) AND d.state IN ({sql_list(RUN_MAY_RECLASSIFY)}) FOR UPDATE OF d
        )
        UPDATE {T_DISC} d SET {", ".join(f"{name} = {value}" for name, value in facts.items())},
               state = {new_state}, updated_at = %(now)s
        FROM t, rc_out o
        WHERE d.id = t.id AND o.live_id = t.id AND o.outcome NOT IN ({SETTLED})
          AND (ROW({before}) IS DISTINCT FROM ROW({after}) OR d.state IS DISTINCT FROM {new_state})
        RETURNING d.id,
                  CASE WHEN t.type = d.type AND t.state <> d.state THEN {q(Kind.OPENED)} ELSE {q(Kind.RECLASSIFIED)} END,
                  jsonb_build_object('state', t.state, 'type', t.type),
                  jsonb_build_object('state', d.state, 'type', d.type, 'effect', d.effect::text), NULL::bigint
    """,
        base,
    )
    # 3. New: what no live discrepancy covers yet. An item that waits opens at once when the later files
    #    it would wait for have been reconciled already (the channel's stage 1 has run past its window).
    carried = f"CASE WHEN %(carry_until)s::date > %(horizon)s THEN {q(S.CARRIED_OVER)} ELSE {q(S.OPEN)} END"
    waits = f"(%(carry_until)s::date IS NOT NULL AND {WAITS})"
    _record_events(
        f"""
        INSERT INTO {T_DISC} (run_id, channel_id, business_date, counterpart_date, type, state, match_key,
                              platform_txn_id, statement_line_id, related_txn_id, batch_no, currency, platform_amount,
                              bank_amount, platform_status, bank_status, bank_fee, expected_fee, effect, direction,
                              carry_until, closed_as, created_at, updated_at)
        SELECT %(run)s, %(channel)s, COALESCE(o.p_date, o.l_date),
               CASE WHEN o.p_date IS NOT NULL AND o.l_date IS NOT NULL THEN o.l_date END, o.outcome,
               CASE WHEN {waits} THEN {carried} ELSE {q(S.OPEN)} END,
               COALESCE(o.k, ''), o.txn_id, o.line_id, o.related_txn_id,
               CASE WHEN {BATCH_ROW} THEN o.k ELSE '' END,
               o.currency, o.p_amount, o.l_amount, COALESCE(o.p_status, ''), COALESCE(o.l_status, ''), o.l_fee,
               o.expected_fee, {EFFECT_SQL}, {direction_sql(EFFECT_SQL)},
               CASE WHEN {waits} THEN %(carry_until)s::date END, '', %(now)s, %(now)s
        FROM rc_out o
        WHERE o.outcome NOT IN ({SETTLED}) AND o.live_id IS NULL
        ON CONFLICT DO NOTHING
        RETURNING id, {q(Kind.FOUND)}, '{{}}'::jsonb, jsonb_build_object('state', state, 'type', type,
                  'effect', effect::text), NULL::bigint
    """,
        base,
    )
    # What the run concluded about each discrepancy (one finding each), and the trail of every change.
    _execute(
        f"""
        INSERT INTO rc_seen
        SELECT discrepancy_id,
               CASE WHEN bool_or(kind = {q(Kind.MATCHED)}) THEN {q(Change.CLOSED)}
                    WHEN bool_or(kind = {q(Kind.FOUND)}) THEN {q(Change.FOUND)}
                    WHEN bool_or(kind = {q(Kind.RECLASSIFIED)}) THEN {q(Change.UPDATED)}
                    ELSE {q(Change.OPENED)} END
        FROM rc_events WHERE kind <> {q(Kind.WITHDRAWN)} GROUP BY discrepancy_id
        UNION ALL
        SELECT DISTINCT o.live_id, {q(Change.CONFIRMED)} FROM rc_out o
        WHERE o.live_id IS NOT NULL AND o.outcome NOT IN ({SETTLED})
          AND NOT EXISTS (SELECT 1 FROM rc_events e WHERE e.discrepancy_id = o.live_id);
        INSERT INTO {T_FINDING} (run_id, discrepancy_id, change) SELECT %(run)s, discrepancy_id, change FROM rc_seen;
        INSERT INTO {T_EVENT} (discrepancy_id, resolution_id, kind, actor_id, at, source, reason, before, after)
        SELECT discrepancy_id, resolution_id, kind, NULL, %(now)s, %(source)s, '', before, after FROM rc_events;
    """,
        base,
    )


def _finding_counts() -> dict:
    return dict(_fetchall("SELECT change, count(*) FROM rc_seen GROUP BY change", {}))


def outcome_totals() -> dict:
    """Counts and amounts per outcome (a batch counts its items), the overage and shortage of the run's
    discrepancies (the sums of their positive and negative money effects), the business dates those
    cover, and what the run did to the discrepancies it concluded about."""
    rows = _fetchall(
        f"""
        WITH r AS (
            SELECT o.outcome,
                   CASE WHEN {BATCH_ROW} THEN GREATEST(COALESCE(b.items, 0), 1) ELSE 1 END AS items,
                   COALESCE(o.l_amount, o.p_amount, 0) AS amount, {EFFECT_SQL} AS effect
            FROM rc_out o LEFT JOIN rc_batch_sizes b ON b.batch_no = o.k AND {BATCH_ROW}
            -- A plain match of single items is counted in rc_counts, a batch's here.
            WHERE o.outcome <> {q(M.MATCHED)} OR {BATCH_ROW}
        )
        SELECT outcome, sum(items), sum(amount), COALESCE(sum(effect) FILTER (WHERE effect > 0), 0),
               COALESCE(sum(effect) FILTER (WHERE effect < 0), 0)
        FROM r GROUP BY outcome
        UNION ALL
        -- Plain matches are not kept row by row: counted by difference in classify().
        SELECT outcome, items, amount, overage, shortage FROM rc_counts WHERE items > 0
        ORDER BY 1
    """,
        {},
    )
    outcomes, overage, shortage = {}, Decimal(0), Decimal(0)
    for outcome, items, amount, positive, negative in rows:
        if outcome in outcomes:  # matched batches, and the plain matches of single items
            outcomes[outcome]["count"] += int(items)
            outcomes[outcome]["amount"] = str(Decimal(outcomes[outcome]["amount"]) + amount)
            continue
        outcomes[outcome] = {"count": int(items), "amount": str(amount)}
        if outcome not in MATCHED_OUTCOMES:
            outcomes[outcome].update(overage=str(positive), shortage=str(negative))
            overage += positive
            shortage += negative
    (first, last), *_ = _fetchall(
        f"""
        SELECT min(LEAST(p_date, l_date)), max(GREATEST(p_date, l_date)) FROM rc_out WHERE outcome NOT IN ({SETTLED})
    """,
        {},
    )
    return {
        "outcomes": outcomes,
        "overage": str(overage),
        "shortage": str(shortage),
        "dates": [first.isoformat(), last.isoformat()] if first else [],
        "discrepancies": _finding_counts(),
    }


def match_day(*, run: ReconciliationRun, now: datetime, on_phase=lambda phase: None) -> dict:
    """Match one channel and date; returns the run's outcome totals. The caller holds the transaction."""
    params = day_params(run=run, now=now)
    # Plans here are simple hash joins; JIT compilation would cost more than it saves (~0.7 s a query).
    # Memory enough to hash a million lines at once instead of in batches spilled to disk.
    _execute("SET LOCAL jit = off", {})
    _execute(f"SET LOCAL work_mem = '{settings.RECONCILE_WORK_MEM}'", {})
    on_phase("collecting")
    _execute("SELECT pg_advisory_xact_lock(%(ns)s, %(channel)s)", {"ns": CHANNEL_LOCK_NAMESPACE, "channel": run.channel_id})
    collect_live(params)
    collect_candidates(params)
    on_phase("matching")
    classify(params)
    classify_batches(params)
    flag_double_payments(params)
    on_phase("writing")
    write_results(params)
    totals = outcome_totals()
    # Dropped now rather than at commit: the caller's transaction may hold more than one run.
    _execute(f"DROP TABLE IF EXISTS {', '.join(WORK_TABLES)}", {})
    return totals
