"""Stage 1 matching: our transactions of a channel and date against its business-detail lines.

Set-based: the whole day is matched in PostgreSQL with a handful of statements (temporary tables,
one full outer hash join, set updates and inserts), never row by row in Python. Runs inside the
caller's transaction, so a run either writes all of its results or none.

Vocabulary (DESIGN.md §4):
- candidates: our transactions of the date plus carried-over platform-only ones of earlier dates;
  the date's statement lines plus carried-over bank-only ones. Items already matched across days by
  an earlier run of this date are left out.
- effect = bank's signed effect on our funds − our books' signed effect. Money in (collection,
  recharge) counts +, money out (payout, refund, batch payout) −; only a SUCCESS moves money.
- outcomes: MATCHED, MATCHED_CROSS_DAY, AGREED_FAILED (both sides say failed: nothing moved), and the
  discrepancy types of DiscrepancyType.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection

from backoffice.core.db import sql_list
from backoffice.core.db import sql_str as q
from backoffice.core.money import minor_places
from reconciliation.models import (
    MATCHED_OUTCOMES,
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
    Rounding,
    RunStage,
    StatementFile,
    StatementKind,
    StatementLine,
    TransactionStatus,
)
from reconciliation.services.channels.calendar import business_days_after

T_TXN = PlatformTransaction._meta.db_table
T_LINE = StatementLine._meta.db_table
T_FILE = StatementFile._meta.db_table
T_DISC = Discrepancy._meta.db_table
T_RUN = ReconciliationRun._meta.db_table
T_FEE = FeeModel._meta.db_table
T_TIER = FeeTier._meta.db_table

# How long after a failed payout a successful one to the same payee and amount counts as its retry.
DOUBLE_PAYMENT_WINDOW_DAYS = 7
# Every state, type and outcome in the SQL below is written from its enum (q(...), sql_list(...)).
B, T, S, M = BusinessType, DiscrepancyType, DiscrepancyState, MatchOutcome
TS, LS = TransactionStatus, LineStatus
ClosedAs, FileStatus = Discrepancy.ClosedAs, StatementFile.Status
# Business types that bring money in (+); the others take it out (−).
MONEY_IN = (B.COLLECTION, B.RECHARGE, B.OTHER)
# Outcomes that are settled, and the two that wait for a later day.
SETTLED = sql_list(MATCHED_OUTCOMES)
ALONE = sql_list((T.PLATFORM_ONLY, T.BANK_ONLY))
# Temporary tables of one run (ON COMMIT DROP as a safety net).
WORK_TABLES = ("rc_consumed", "rc_l", "rc_dup", "rc_fee", "rc_out", "rc_counts", "rc_batch_sizes")
# A row of rc_out that stands for a whole batch payout (one-to-many), not one transaction.
BATCH_ROW = f"(o.business_type = {q(B.BATCH_PAYOUT)} AND o.txn_id IS NULL)"
# What waits for a later day before anyone must act: an item alone on one side, and a batch the bank paid
# more for than our successful items (the returns of its failed items may come in on a later day).
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
    carry_until: date | None  # None: no carry-over window, unmatched items open at once
    now: datetime
    # The date's parsed business-detail files: passed as a list so the planner reads their lines through
    # the (file, line) index, whatever its statistics say after a fresh COPY.
    file_ids: list[int]


def day_params(*, run: ReconciliationRun, now: datetime) -> DayParams:
    channel: Channel = run.channel
    by_serial = channel.match_key == Channel.MatchKey.CHANNEL_TXN_NO
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
        now=now,
        file_ids=list(
            StatementFile.objects.filter(
                channel=channel,
                statement_date=run.business_date,
                kind=StatementFile.Kind.BUSINESS,
                status=StatementFile.Status.PARSED,
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


def replace_previous_results(p: DayParams) -> int:
    """A re-run replaces what earlier runs of this date found and nobody has touched yet."""
    return _execute(
        f"""
        DELETE FROM {T_DISC} d
        WHERE d.channel_id = %(channel)s AND d.business_date = %(day)s
          AND d.state IN ({q(S.CARRIED_OVER)}, {q(S.OPEN)}) AND d.workflow_started_at IS NULL
          AND d.run_id IN (SELECT id FROM {T_RUN} WHERE channel_id = %(channel)s AND business_date = %(day)s
                           AND stage = {q(RunStage.TRANSACTION)} AND id <> %(run)s)
    """,
        _base(p),
    )


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
        "dp_days": DOUBLE_PAYMENT_WINDOW_DAYS,
        "files": p.file_ids,
        "scale": Decimal(10) ** p.places,
    }


def collect_candidates(p: DayParams) -> None:
    """Temporary table rc_l (the channel's candidates, duplicates set apart in rc_dup), dropped at commit."""
    base = _base(p)
    # Items of this date already consumed by a cross-day match that an earlier run of this date made
    # (their discrepancy, from an earlier date, is resolved or reclassified and is not ours to redo).
    # Usually empty; a small table so the candidate queries below use a hashed anti-join.
    _execute(
        f"""
        CREATE TEMP TABLE rc_consumed ON COMMIT DROP AS
        SELECT d.platform_txn_id AS txn_id, d.statement_line_id AS line_id
        FROM {T_DISC} d JOIN {T_RUN} r ON r.id = d.matched_run_id
        WHERE d.channel_id = %(channel)s AND r.business_date = %(day)s AND d.business_date < %(day)s
    """,
        base,
    )
    _execute(
        f"""
        CREATE TEMP TABLE rc_l ON COMMIT DROP AS
        SELECT l.id, NULLIF(l.{p.key_line}, '') AS k, l.amount, l.fee, l.status, l.line_type, l.statement_date,
               l.currency, l.file_id, l.line_no, NULL::bigint AS carried_id, NULL::date AS carry_until
        FROM {T_LINE} l
        WHERE l.file_id = ANY(%(files)s) AND l.batch_ref = ''
          AND NOT EXISTS (SELECT 1 FROM rc_consumed c WHERE c.line_id = l.id)
        UNION ALL
        SELECT l.id, NULLIF(l.{p.key_line}, ''), l.amount, l.fee, l.status, l.line_type, l.statement_date,
               l.currency, l.file_id, l.line_no, d.id, d.carry_until
        FROM {T_DISC} d JOIN {T_LINE} l ON l.id = d.statement_line_id
        WHERE d.channel_id = %(channel)s AND d.state = {q(S.CARRIED_OVER)} AND d.type = {q(T.BANK_ONLY)}
          AND d.platform_txn_id IS NULL AND d.business_date < %(day)s
    """,
        base,
    )
    # A key twice on the channel's side: the first line (by file, line) is matched, the others are
    # duplicates. Usually an empty set, so it is found by a hash aggregate, not a sort of every line.
    _execute(
        """
        CREATE TEMP TABLE rc_dup ON COMMIT DROP AS
        SELECT l.id, l.k, l.amount, l.status, l.line_type, l.statement_date, l.currency
        FROM rc_l l JOIN (SELECT k FROM rc_l WHERE k IS NOT NULL GROUP BY k HAVING count(*) > 1) d ON d.k = l.k
    """,
        base,
    )
    _execute(
        """
        DELETE FROM rc_dup WHERE id IN (SELECT DISTINCT ON (k) id FROM rc_dup ORDER BY k, id)
    """,
        base,
    )
    _execute("DELETE FROM rc_l WHERE id IN (SELECT id FROM rc_dup)", base)
    _collect_fee_brackets(p)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE rc_l")


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


def _our_candidates(p: DayParams) -> str:
    """SQL of our candidates: the date's transactions and the carried-over platform-only ones."""
    return f"""
        SELECT t.id, NULLIF(t.{p.key_txn}, '') AS k, t.amount, t.status, t.business_type, t.created_at,
               t.business_date, t.currency, NULL::bigint AS carried_id
        FROM {T_TXN} t
        WHERE t.channel_id = %(channel)s AND t.business_date = %(day)s AND t.batch_no = ''
          AND NOT EXISTS (SELECT 1 FROM rc_consumed c WHERE c.txn_id = t.id)
        UNION ALL
        SELECT t.id, NULLIF(t.{p.key_txn}, ''), t.amount, t.status, t.business_type, t.created_at,
               t.business_date, t.currency, d.id
        FROM {T_DISC} d JOIN {T_TXN} t ON t.id = d.platform_txn_id
        WHERE d.channel_id = %(channel)s AND d.state = {q(S.CARRIED_OVER)} AND d.type = {q(T.PLATFORM_ONLY)}
          AND d.business_date < %(day)s
    """


OUT_COLUMNS = """
    txn_id bigint, line_id bigint, k text, p_amount numeric, l_amount numeric, p_status text, l_status text,
    l_fee numeric, business_type text, item_date date, currency text, p_carried bigint, l_carried bigint,
    expected_fee numeric, money_effect numeric, outcome text, related_txn_id bigint
"""


def classify(p: DayParams) -> None:
    """One pass over the full outer join of both sides, keeping every pair but the plain matches (rc_out:
    discrepancies, carried-over items, failures on both sides: ~1%). Each line is in exactly one pair, so
    the plain matches are the channel's lines less the kept pairs that have a line (rc_counts). Batch rows
    are added to rc_out by classify_batches."""
    sign_p, sign_l = sign_sql("p.business_type"), sign_sql("l.line_type")
    ours = f"(CASE WHEN p.status = {q(TS.SUCCESS)} THEN {sign_p} * p.amount ELSE 0 END)"
    bank = f"(CASE WHEN l.status = {q(LS.SUCCESS)} THEN {sign_l} * l.amount ELSE 0 END)"
    # Our status as the channel would say it: a timeout (UNKNOWN) is still in progress.
    ours_as_bank = f"(CASE WHEN p.status IN ({q(TS.UNKNOWN)}, {q(TS.PROCESSING)}) THEN {q(LS.PROCESSING)} ELSE p.status END)"
    expected = expected_fee_sql("p.amount")
    expected_signed = f"(CASE WHEN p.business_type = {q(B.REFUND)} THEN -{expected} ELSE {expected} END)"
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
                   l.fee AS l_fee, p.business_type,
                   COALESCE(p.business_date, l.statement_date) AS item_date, COALESCE(p.currency, l.currency) AS currency,
                   p.carried_id AS p_carried, l.carried_id AS l_carried,
                   (p.id IS NOT NULL AND l.id IS NOT NULL AND {ours_as_bank} <> l.status) AS status_differs,
                   CASE WHEN p.id IS NOT NULL AND l.id IS NOT NULL THEN {expected_signed} END AS expected_fee,
                   COALESCE({bank}, 0) - COALESCE({ours}, 0) AS money_effect
            FROM p
            FULL JOIN rc_l l ON l.k = p.k
            LEFT JOIN rc_fee f ON f.business_type = p.business_type AND p.created_at >= f.valid_from
                 AND (f.valid_to IS NULL OR p.created_at < f.valid_to)
                 AND p.amount >= f.lower_bound AND (f.upper_bound IS NULL OR p.amount < f.upper_bound)
        ),
        j AS (
            SELECT txn_id, line_id, k, p_amount, l_amount, p_status, l_status, l_fee, business_type, item_date,
                   currency, p_carried, l_carried, expected_fee, money_effect,
                   CASE
                     WHEN line_id IS NULL THEN
                       CASE WHEN p_status = {q(TS.FAILED)} THEN {q(M.AGREED_FAILED)} ELSE {q(T.PLATFORM_ONLY)} END
                     WHEN txn_id IS NULL THEN {q(T.BANK_ONLY)}
                     WHEN status_differs THEN {q(T.STATUS_MISMATCH)}
                     WHEN p_status = {q(TS.FAILED)} THEN {q(M.AGREED_FAILED)}
                     WHEN abs(l_amount - p_amount) > %(amount_tol)s THEN {q(T.AMOUNT_MISMATCH)}
                     -- No model or no fee on the line: NULL, not a mismatch. (The expected fee, the dearest
                     -- expression of the pass, is written once here so it is computed once per pair.)
                     WHEN abs(l_fee - expected_fee) > %(fee_tol)s THEN {q(T.FEE_MISMATCH)}
                     WHEN p_carried IS NOT NULL OR l_carried IS NOT NULL THEN {q(M.MATCHED_CROSS_DAY)}
                     ELSE {q(M.MATCHED)}
                   END AS outcome
            FROM pairs
        )
        -- Plain matches, nearly all pairs, are not kept: they are counted below by difference.
        INSERT INTO rc_out SELECT *, NULL FROM j WHERE outcome <> {q(M.MATCHED)}
    """,
        _base(p),
    )
    _execute(
        f"""
        INSERT INTO rc_counts
        SELECT {q(M.MATCHED)}, sides.items - kept.items, sides.amount - kept.amount, 0, 0
        FROM (SELECT count(*) AS items, COALESCE(sum(amount), 0) AS amount FROM rc_l) sides,
             (SELECT count(*) AS items, COALESCE(sum(l_amount), 0) AS amount FROM rc_out WHERE line_id IS NOT NULL) kept
    """,
        {},
    )
    _execute("ANALYZE rc_out", {})


def _batches_of_the_day(p: DayParams) -> list[str]:
    """Batch numbers to look at today: ours of the date, the channel's lines of the date, carried ones."""
    rows = _fetchall(
        f"""
        SELECT batch_no FROM {T_TXN}
        WHERE channel_id = %(channel)s AND business_date = %(day)s AND batch_no <> ''
        UNION
        SELECT batch_ref FROM {T_LINE} WHERE file_id = ANY(%(files)s) AND batch_ref <> ''
        UNION
        SELECT batch_no FROM {T_DISC}
        WHERE channel_id = %(channel)s AND state = {q(S.CARRIED_OVER)} AND batch_no <> '' AND business_date < %(day)s
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
                            item_date, currency, p_carried, l_carried, expected_fee, money_effect, outcome)
        WITH ours AS (
            SELECT t.batch_no, count(*) AS items,
                   sum(CASE WHEN t.status = {q(TS.SUCCESS)} THEN t.amount ELSE 0 END) AS paid,
                   bool_or(t.status IN ({q(TS.UNKNOWN)}, {q(TS.PROCESSING)})) AS pending, min(t.business_date) AS first_date,
                   min(t.currency) AS currency
            FROM {T_TXN} t WHERE t.channel_id = %(channel)s AND t.batch_no = ANY(%(batches)s)
            GROUP BY t.batch_no
        ),
        bank AS (
            SELECT l.batch_ref AS batch_no, min(l.id) FILTER (WHERE l.line_type = {q(B.BATCH_PAYOUT)}) AS line_id,
                   sum(CASE WHEN l.status <> {q(LS.SUCCESS)} THEN 0
                            WHEN l.line_type IN ({sql_list((B.REFUND, B.COLLECTION, B.RECHARGE))}) THEN -l.amount
                            ELSE l.amount END) AS paid,
                   min(l.statement_date) AS first_date, min(l.currency) AS currency
            FROM {T_LINE} l JOIN {T_FILE} f ON f.id = l.file_id
            WHERE f.channel_id = %(channel)s AND f.statement_date <= %(day)s
              AND f.kind = {q(StatementKind.BUSINESS)} AND f.status = {q(FileStatus.PARSED)}
              AND l.batch_ref = ANY(%(batches)s)
            GROUP BY l.batch_ref
        ),
        carried AS (
            SELECT id, batch_no, carry_until FROM {T_DISC}
            WHERE channel_id = %(channel)s AND state = {q(S.CARRIED_OVER)} AND batch_no <> ''
        )
        SELECT NULL, b.line_id, COALESCE(o.batch_no, b.batch_no), o.paid, b.paid, NULL, NULL, NULL, {q(B.BATCH_PAYOUT)},
               COALESCE(o.first_date, b.first_date), COALESCE(o.currency, b.currency), c.id, NULL,
               NULL, COALESCE(o.paid, 0) - COALESCE(b.paid, 0),
               CASE
                 WHEN b.batch_no IS NULL THEN {q(T.PLATFORM_ONLY)}
                 WHEN o.batch_no IS NULL THEN {q(T.BANK_ONLY)}
                 WHEN abs(o.paid - b.paid) > %(amount_tol)s THEN {q(T.AMOUNT_MISMATCH)}
                 WHEN c.id IS NOT NULL THEN {q(M.MATCHED_CROSS_DAY)}
                 ELSE {q(M.MATCHED)}
               END
        FROM ours o FULL JOIN bank b ON b.batch_no = o.batch_no
        LEFT JOIN carried c ON c.batch_no = COALESCE(o.batch_no, b.batch_no)
    """,
        {**_base(p), "batches": batches},
    )


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


def write_results(p: DayParams) -> None:
    """Close, reclassify or open carried-over items; insert the new discrepancies of the day."""
    base = _base(p)
    effect, direction = EFFECT_SQL, direction_sql(EFFECT_SQL)
    # 1. Carried-over items matched today: resolved as cross-day matches, linked to their counterpart.
    _execute(
        f"""
        UPDATE {T_DISC} d SET state = {q(S.RESOLVED)}, closed_as = {q(ClosedAs.CROSS_DAY_MATCH)}, matched_run_id = %(run)s,
               platform_txn_id = COALESCE(d.platform_txn_id, o.txn_id),
               statement_line_id = COALESCE(d.statement_line_id, o.line_id),
               bank_amount = COALESCE(d.bank_amount, o.l_amount), platform_amount = COALESCE(d.platform_amount, o.p_amount),
               resolved_at = %(now)s, updated_at = %(now)s
        FROM rc_out o
        WHERE o.outcome = {q(M.MATCHED_CROSS_DAY)} AND d.id IN (o.p_carried, o.l_carried)
    """,
        base,
    )
    # 2. Carried-over items that found their counterpart but differ: reclassified, now open.
    _execute(
        f"""
        UPDATE {T_DISC} d SET type = o.outcome, state = {q(S.OPEN)}, matched_run_id = %(run)s,
               platform_txn_id = COALESCE(d.platform_txn_id, o.txn_id),
               statement_line_id = COALESCE(d.statement_line_id, o.line_id),
               platform_amount = o.p_amount, bank_amount = o.l_amount, platform_status = COALESCE(o.p_status, ''),
               bank_status = COALESCE(o.l_status, ''), bank_fee = o.l_fee, expected_fee = o.expected_fee,
               effect = {effect}, direction = {direction}, related_txn_id = o.related_txn_id,
               updated_at = %(now)s
        FROM rc_out o
        WHERE o.outcome NOT IN ({SETTLED}, {ALONE})
          AND NOT {BATCH_ROW} AND d.id = COALESCE(o.p_carried, o.l_carried)
    """,
        base,
    )
    # 2b. Both sides were carried over (e.g. our serial arrived late): the bank-only item merges into ours.
    _execute(
        f"""
        UPDATE {T_DISC} d SET state = {q(S.RESOLVED)}, closed_as = {q(ClosedAs.CROSS_DAY_MATCH)}, matched_run_id = %(run)s,
               platform_txn_id = o.txn_id, resolved_at = %(now)s, updated_at = %(now)s
        FROM rc_out o
        WHERE o.outcome NOT IN ({SETTLED}, {ALONE})
          AND o.p_carried IS NOT NULL AND d.id = o.l_carried
    """,
        base,
    )
    # 3. Carried-over items still not settled: a batch refreshes its totals (returns may have come in);
    #    at the end of the window the item opens for a clerk.
    _execute(
        f"""
        UPDATE {T_DISC} d SET
               state = CASE WHEN d.carry_until <= %(day)s THEN {q(S.OPEN)} ELSE d.state END,
               type = o.outcome, platform_amount = o.p_amount, bank_amount = o.l_amount,
               statement_line_id = COALESCE(d.statement_line_id, o.line_id),
               effect = {effect}, direction = {direction}, updated_at = %(now)s
        FROM rc_out o
        WHERE d.id = COALESCE(o.p_carried, o.l_carried)
          AND (o.outcome IN ({ALONE}) OR ({BATCH_ROW} AND o.outcome = {q(T.AMOUNT_MISMATCH)}))
    """,
        base,
    )
    # 4. New discrepancies of the day (duplicates included). Items that still have a discrepancy a
    #    person is working on are skipped by the unique constraints (ON CONFLICT DO NOTHING).
    carried_state = f"CASE WHEN %(carry_until)s::date IS NULL THEN {q(S.OPEN)} ELSE {q(S.CARRIED_OVER)} END"
    _execute(
        f"""
        INSERT INTO {T_DISC} (run_id, channel_id, business_date, type, state, match_key, platform_txn_id,
                              statement_line_id, related_txn_id, batch_no, currency, platform_amount, bank_amount,
                              platform_status, bank_status, bank_fee, expected_fee, effect, direction, carry_until,
                              closed_as, created_at, updated_at)
        SELECT %(run)s, %(channel)s, o.item_date, o.outcome,
               CASE WHEN {WAITS} THEN {carried_state} ELSE {q(S.OPEN)} END,
               COALESCE(o.k, ''), o.txn_id, o.line_id, o.related_txn_id,
               CASE WHEN o.business_type = {q(B.BATCH_PAYOUT)} AND o.txn_id IS NULL THEN o.k ELSE '' END,
               o.currency, o.p_amount, o.l_amount, COALESCE(o.p_status, ''), COALESCE(o.l_status, ''), o.l_fee,
               o.expected_fee, {effect}, {direction},
               CASE WHEN {WAITS} THEN %(carry_until)s::date END,
               '', %(now)s, %(now)s
        FROM rc_out o
        WHERE o.outcome NOT IN ({SETTLED})
          AND o.p_carried IS NULL AND o.l_carried IS NULL
        UNION ALL
        SELECT %(run)s, %(channel)s, d.statement_date, {q(T.DUPLICATE)}, {q(S.OPEN)}, d.k, NULL, d.id, NULL, '', d.currency,
               NULL, d.amount, '', d.status, NULL, NULL, e.effect, {direction_sql("e.effect")}, NULL, '',
               %(now)s, %(now)s
        FROM rc_dup d, LATERAL (SELECT CASE WHEN d.status = {q(LS.SUCCESS)}
                                       THEN {sign_sql("d.line_type")} * d.amount ELSE 0 END AS effect) e
        ON CONFLICT DO NOTHING
    """,
        base,
    )


def outcome_totals() -> dict:
    """Counts and amounts per outcome (a batch counts its items), and the day's overage and shortage:
    the sums of the positive and of the negative money effects of its discrepancies."""
    effect = EFFECT_SQL
    rows = _fetchall(
        f"""
        WITH r AS (
            SELECT o.outcome,
                   CASE WHEN o.business_type = {q(B.BATCH_PAYOUT)} AND o.txn_id IS NULL THEN GREATEST(COALESCE(b.items, 0), 1)
                        ELSE 1 END AS items,
                   COALESCE(o.l_amount, o.p_amount, 0) AS amount, {effect} AS effect
            FROM rc_out o LEFT JOIN rc_batch_sizes b ON b.batch_no = o.k AND o.business_type = {q(B.BATCH_PAYOUT)}
                                                      AND o.txn_id IS NULL
            UNION ALL
            SELECT {q(T.DUPLICATE)}, 1, d.amount,
                   CASE WHEN d.status = {q(LS.SUCCESS)} THEN {sign_sql("d.line_type")} * d.amount ELSE 0 END
            FROM rc_dup d
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
        outcomes[outcome] = {"count": int(items), "amount": str(amount)}
        if outcome not in MATCHED_OUTCOMES:
            outcomes[outcome].update(overage=str(positive), shortage=str(negative))
            overage += positive
            shortage += negative
    return {"outcomes": outcomes, "overage": str(overage), "shortage": str(shortage)}


def match_day(*, run: ReconciliationRun, now: datetime, on_phase=lambda phase: None) -> dict:
    """Match one channel and date; returns the run's outcome totals. The caller holds the transaction."""
    params = day_params(run=run, now=now)
    # Plans here are simple hash joins; JIT compilation would cost more than it saves (~0.7 s a query).
    # Memory enough to hash a million lines at once instead of in batches spilled to disk.
    _execute("SET LOCAL jit = off", {})
    _execute(f"SET LOCAL work_mem = '{settings.RECONCILE_WORK_MEM}'", {})
    on_phase("collecting")
    replace_previous_results(params)
    collect_candidates(params)
    on_phase("matching")
    classify(params)
    classify_batches(params)
    flag_double_payments(params)
    on_phase("writing")
    write_results(params)
    totals = outcome_totals()
    # Dropped now rather than at commit: the caller's transaction may hold more than one run.
    _execute(f"DROP TABLE {', '.join(WORK_TABLES)}", {})
    return totals
