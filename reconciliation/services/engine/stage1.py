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
from django.db.models import Max, Q

from backoffice.core.db import sql_list
from backoffice.core.db import sql_str as q
from backoffice.core.money import minor_places, plain_decimal
from reconciliation.models import (
    FUND_TYPES,
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
    ItemBookedAlone,
    LineStatus,
    MatchOutcome,
    PlatformTransaction,
    ReconciliationRun,
    Resolution,
    ResolutionItem,
    Rounding,
    RunFinding,
    RunStage,
    StatementFile,
    StatementKind,
    StatementLine,
    TransactionStatus,
    UnlistedFailure,
    WorkflowEvent,
)
from reconciliation.models.workflow import OPEN_RESOLUTION_STATUSES
from reconciliation.services.channels.calendar import business_days_after
from reconciliation.services.postings import channel_lock, day_post

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
T_UNLISTED = UnlistedFailure._meta.db_table
T_ALONE = ItemBookedAlone._meta.db_table
T_RITEM = ResolutionItem._meta.db_table

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
    "rc_twin",
    "rc_out",
    "rc_counts",
    "rc_bitems",
    "rc_blines",
    "rc_bown",
    "rc_bret",
    "rc_bsum",
    "rc_close",
    "rc_events",
    "rc_seen",
)
# Advisory-lock namespace of a channel's stage-1 runs (ingest uses 7301, fetch 7302, runs 7303): the runs of
# one channel look at each other's discrepancies (items match across dates), so they take turns.
# A row of rc_out that stands for a whole batch payout (one-to-many), not one transaction.
BATCH_ROW = "o.batch"
# What waits for a later day before anyone must act: an item alone on one side (or pending on both), and
# a batch the bank paid more for than our successful items (the returns of its failed items may come in
# on a later day).
# An item of a batch we hold as failed that the bank's debit paid waits for its return the same way.
WAITS = f"""(o.outcome IN ({ALONE}) OR ({BATCH_ROW} AND o.outcome = {q(T.AMOUNT_MISMATCH)} AND o.money_effect < 0)
             OR (o.item AND o.outcome = {q(T.STATUS_MISMATCH)} AND o.p_status = {q(TS.FAILED)}
                 AND o.l_status = {q(LS.SUCCESS)}))"""
# Lines by which money comes back: the returns of a batch's failed items.
RETURNS = sql_list((B.REFUND, B.COLLECTION, B.RECHARGE))


# Money that leaves us one payment at a time: paid twice, it is recovered from the payee (追款).
PAID_OUT = sql_list((B.PAYOUT, B.REFUND))
# Stage 2's discrepancies: stage 1 never concludes about them.
STAGE_2 = sql_list(FUND_TYPES)
# Our statuses of a payment that did not (yet) go out as far as we know.
NOT_PAID = sql_list((TS.FAILED, TS.UNKNOWN, TS.PROCESSING))


def same_payment_sql(k: str, *, later: bool) -> str:
    """SQL of a LATERAL subquery (one column, id): the nearest successful payment after (``later``) or
    before ``k`` (an alias of our transactions) that pays the same again: a retry of the same business
    order (order_no), or the same amount to the same payee account within the channel's double-payment
    window. Two index probes (order; payee and amount), never a scan: the probes repeat ``<> ''`` on their
    own side, or the planner cannot use the partial indexes (it does not infer it from the outer row's)."""
    if later:
        after, near, order = "(sp.created_at, sp.id) > ({k}.created_at, {k}.id)", "<", "sp.created_at, sp.id"
        window = f"{k}.created_at + make_interval(hours => %(dp_hours)s)"
    else:
        after, near, order = "(sp.created_at, sp.id) < ({k}.created_at, {k}.id)", ">", "sp.created_at DESC, sp.id DESC"
        window = f"{k}.created_at - make_interval(hours => %(dp_hours)s)"
    same = f"""sp.channel_id = {k}.channel_id AND sp.business_type = {k}.business_type AND sp.status = {q(TS.SUCCESS)}
               AND sp.amount = {k}.amount AND sp.batch_no = '' AND {after.format(k=k)}"""
    return f"""LATERAL (
        SELECT sp.id FROM (
            (SELECT sp.id, sp.created_at FROM {T_TXN} sp
             WHERE {same} AND {k}.order_no <> '' AND sp.order_no = {k}.order_no AND sp.order_no <> ''
             ORDER BY {order} LIMIT 1)
            UNION ALL
            (SELECT sp.id, sp.created_at FROM {T_TXN} sp
             WHERE {same} AND {k}.counterparty_account <> '' AND sp.counterparty_account = {k}.counterparty_account
               AND sp.counterparty_account <> ''
               AND sp.account_id IS NOT DISTINCT FROM {k}.account_id AND sp.created_at {near} {window}
             ORDER BY {order} LIMIT 1)
        ) sp ORDER BY {order} LIMIT 1
    )"""


def sign_sql(column: str) -> str:
    """SQL of the signed effect (+1 or −1) on our funds of the business type in ``column``."""
    return f"CASE WHEN {column} IN ({sql_list(MONEY_IN)}) THEN 1 ELSE -1 END"


def direction_sql(effect: str) -> str:
    """SQL of the overage/shortage direction of the money effect ``effect`` ('' when zero)."""
    over, short = q(EffectDirection.OVERAGE), q(EffectDirection.SHORTAGE)
    return f"(CASE WHEN {effect} > 0 THEN {over} WHEN {effect} < 0 THEN {short} ELSE '' END)"


# A fee mismatch's effect is the fee difference: what our fee model expects (else the fee we recorded, else
# nothing) less what the channel charged; every other outcome's the money difference.
EFFECT_SQL = f"""(CASE WHEN o.outcome = {q(T.FEE_MISMATCH)} THEN COALESCE(o.expected_fee, o.p_fee, 0) - o.l_fee
                      ELSE o.money_effect END)"""


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
    # The latest date an item of this date may pair with: its window's end, or later for an item whose
    # window a person extended.
    reach: date | None
    # The latest business date the channel's stage 1 has run for (this one included): a waiting item whose
    # window ends by then has had every later file it waited for, so it opens.
    horizon: date
    now: datetime
    # How close two payouts to one payee must be to count as one paid twice (Channel.double_payment_window_hours).
    double_payment_hours: int
    # The date's current business-detail files (parsed, not replaced): passed as a list so the planner
    # reads their lines through the (file, line) index, whatever its statistics say after a fresh COPY.
    file_ids: list[int]


def day_params(*, run: ReconciliationRun, now: datetime) -> DayParams:
    channel: Channel = run.channel
    by_serial = channel.match_key == Channel.MatchKey.CHANNEL_TXN_NO
    latest = ReconciliationRun.objects.filter(
        channel=channel, stage=RunStage.TRANSACTION, status=ReconciliationRun.Status.SUCCEEDED
    ).aggregate(day=Max("business_date"))["day"]
    carry_until = (
        business_days_after(channel=channel, day=run.business_date, count=channel.carry_over_days)
        if channel.carry_over_days
        else None
    )
    extended = (
        Discrepancy.objects.filter(channel=channel, business_date=run.business_date, type__in=WAITING_TYPES)
        .exclude(state=DiscrepancyState.RESOLVED)
        .aggregate(until=Max("carry_until"))["until"]
    )
    return DayParams(
        run_id=run.pk,
        channel_id=channel.pk,
        business_date=run.business_date,
        key_txn="channel_txn_no" if by_serial else "txn_no",
        key_line="channel_txn_no" if by_serial else "txn_no",
        amount_tolerance=channel.amount_tolerance,
        fee_tolerance=channel.fee_tolerance,
        places=minor_places(channel.currency),
        carry_until=carry_until,
        reach=max(filter(None, (carry_until, extended)), default=None),
        horizon=max(filter(None, (latest, run.business_date))),
        now=now,
        double_payment_hours=channel.double_payment_window_hours,
        file_ids=list(
            StatementFile.objects.filter(channel=channel, kind=StatementFile.Kind.BUSINESS, status=StatementFile.Status.PARSED)
            # The date's files, and files of other dates with lines the channel's cutoff puts on this date.
            .filter(Q(statement_date=run.business_date) | Q(lines_from__lte=run.business_date, lines_to__gte=run.business_date))
            .exclude(superseded_by__status=StatementFile.Status.PARSED)
            .values_list("id", flat=True)
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
        "reach": p.reach,
        "horizon": p.horizon,
        "dp_hours": p.double_payment_hours,
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
               d.business_date, d.counterpart_date, d.carry_until, COALESCE(item.batch_no, '') AS item_batch
        FROM {T_DISC} d
        -- An item of a batch (not one the channel booked alone): its batch, not the single-item join, judges it.
        LEFT JOIN LATERAL (
            SELECT t.batch_no FROM {T_TXN} t
            WHERE t.id = d.platform_txn_id AND t.batch_no <> ''
              AND NOT EXISTS (SELECT 1 FROM {T_ALONE} a WHERE a.txn_id = t.id)
        ) item ON true
        WHERE d.channel_id = %(channel)s AND d.state IN ({sql_list(UNRESOLVED_STATES)}) AND d.type NOT IN ({STAGE_2})
          AND (d.business_date = %(day)s OR d.counterpart_date = %(day)s OR d.batch_no <> '' OR item.batch_no IS NOT NULL
               OR (d.type IN ({ALONE}) AND ((d.business_date < %(day)s AND d.carry_until >= %(day)s)
                                            OR (d.business_date > %(day)s AND d.business_date <= %(reach)s)))
               -- A payment of another date this date's payments pay again, or paid again by one of them.
               OR (d.type = {q(T.STATUS_MISMATCH)} AND d.bank_status = {q(LS.SUCCESS)}
                   AND d.platform_status IN ({NOT_PAID})
                   AND EXISTS (SELECT 1 FROM {T_TXN} f, {same_payment_sql("f", later=True)} r, {T_TXN} rt
                               WHERE f.id = d.platform_txn_id AND f.business_type IN ({PAID_OUT})
                                 AND rt.id = r.id AND rt.business_date = %(day)s))
               OR (d.type = {q(T.DOUBLE_PAYMENT_RISK)}
                   AND EXISTS (SELECT 1 FROM {T_TXN} r WHERE r.id = d.related_txn_id AND r.business_date = %(day)s)))
    """,
        base,
    )
    _execute(
        f"""
        CREATE TEMP TABLE rc_settled ON COMMIT DROP AS
        SELECT d.platform_txn_id AS txn_id, d.statement_line_id AS line_id, d.batch_no
        FROM {T_DISC} d
        WHERE d.channel_id = %(channel)s AND d.state = {q(S.RESOLVED)} AND d.type NOT IN ({STAGE_2})
          AND (d.business_date = %(day)s OR d.counterpart_date = %(day)s)
          -- An item that a live discrepancy still concerns is not settled (one merged into another).
          AND NOT EXISTS (SELECT 1 FROM rc_live v WHERE v.txn_id = d.platform_txn_id OR v.line_id = d.statement_line_id)
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
               l.currency, l.file_id, l.line_no, %(carry_until)s::date AS window_end
        FROM {T_LINE} l
        WHERE l.file_id = ANY(%(files)s) AND l.statement_date = %(day)s AND l.batch_ref = ''
          AND NOT EXISTS (SELECT 1 FROM rc_settled s WHERE s.line_id = l.id)
        UNION ALL
        -- Lines of other dates a live discrepancy brings in: alone, within their window; or the other
        -- side of a pair with an item of this date, already paired.
        SELECT l.id, NULLIF(l.{p.key_line}, ''), l.amount, l.fee, l.status, l.line_type, l.statement_date,
               l.currency, l.file_id, l.line_no,
               CASE WHEN v.type IN ({ALONE}) THEN v.carry_until ELSE 'infinity'::date END
        FROM rc_live v JOIN {T_LINE} l ON l.id = v.line_id
        WHERE v.batch_no = '' AND v.item_batch = '' AND l.statement_date <> %(day)s
        UNION ALL
        -- The line of another date of an item of a batch that the channel booked alone (its pair).
        SELECT l.id, NULLIF(l.{p.key_line}, ''), l.amount, l.fee, l.status, l.line_type, l.statement_date,
               l.currency, l.file_id, l.line_no, 'infinity'::date
        FROM {T_ALONE} a JOIN {T_LINE} l ON l.id = a.line_id
        WHERE a.channel_id = %(channel)s AND a.business_date = %(day)s AND a.line_date <> %(day)s
          AND NOT EXISTS (SELECT 1 FROM rc_live v WHERE v.line_id = a.line_id)
          AND NOT EXISTS (SELECT 1 FROM rc_settled s WHERE s.line_id = a.line_id)
    """,
        base,
    )
    # This date's lines alone that a person gave a longer window.
    _execute(
        """
        UPDATE rc_l l SET window_end = v.carry_until FROM rc_live v
        WHERE v.line_id = l.id AND l.statement_date = %(day)s AND v.carry_until > l.window_end
    """,
        base,
    )
    collect_fee_brackets(p.channel_id)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE rc_l")


def _set_apart_duplicates(p: DayParams) -> None:
    """Lines of a key the channel lists more than once: one of them, the primary, takes part in the join;
    the others are set apart in rc_dup, as DUPLICATEs when they share the primary's statement date (the
    channel listed it twice in a day), as lines alone (BANK_ONLY) when they are of another date. The
    primary is the line a live discrepancy already pairs with our item, else the line of the run's date,
    else the earliest: the same line whichever date is run, so the results do not depend on the order of
    runs. Usually an empty set, found by a hash aggregate, not a sort of every line.

    A channel that reports a transaction still processing and its final status in a later day's file
    lists it twice: the later line is an item of its own (the earlier one, paired with our item while both
    were pending, stays its pair until a corrected file replaces it or a person pairs them).
    """
    _execute(
        f"""
        CREATE TEMP TABLE rc_dup ON COMMIT DROP AS
        WITH ranked AS (
            SELECT l.id, l.k, l.amount, l.fee, l.status, l.line_type, l.statement_date, l.currency,
                   row_number() OVER (
                       PARTITION BY l.k
                       ORDER BY CASE WHEN pair.line_id IS NOT NULL THEN 0 WHEN l.statement_date = %(day)s THEN 1 ELSE 2 END,
                                l.statement_date, l.id
                   ) AS rank
            FROM rc_l l
            JOIN (SELECT k FROM rc_l WHERE k IS NOT NULL GROUP BY k HAVING count(*) > 1) twice ON twice.k = l.k
            LEFT JOIN (SELECT line_id FROM rc_live WHERE txn_id IS NOT NULL AND line_id IS NOT NULL) pair
                   ON pair.line_id = l.id
        )
        SELECT r.id, r.k, r.amount, r.fee, r.status, r.line_type, r.statement_date, r.currency,
               CASE WHEN r.statement_date = primary_line.statement_date THEN {q(T.DUPLICATE)}
                    ELSE {q(T.BANK_ONLY)} END AS outcome
        FROM ranked r JOIN ranked primary_line ON primary_line.k = r.k AND primary_line.rank = 1
        WHERE r.rank > 1
    """,
        _base(p),
    )
    _execute("DELETE FROM rc_l WHERE id IN (SELECT id FROM rc_dup)", {})


# The batch our transaction t is judged with: '' for a single payment and for an item the channel booked alone.
BATCH_OF_T = f"""(CASE WHEN t.batch_no = '' OR EXISTS (SELECT 1 FROM {T_ALONE} a WHERE a.txn_id = t.id) THEN ''
                      ELSE t.batch_no END)"""


def _our_candidates(p: DayParams) -> str:
    """SQL of our candidates: the date's unsettled transactions and those of other dates that a live
    discrepancy brings in."""
    return f"""
        -- An item of a batch takes part too: a channel may book it on a line of its own, by its number or
        -- serial; if it does not, its batch judges it (p_batch: the batch it still belongs to).
        SELECT t.id, NULLIF(t.{p.key_txn}, '') AS k, t.amount, t.fee, t.status, t.business_type, t.created_at,
               t.business_date, t.currency, GREATEST(%(carry_until)s::date, v.carry_until) AS window_end,
               {BATCH_OF_T} AS p_batch
        FROM {T_TXN} t LEFT JOIN rc_live v ON v.txn_id = t.id
        WHERE t.channel_id = %(channel)s AND t.business_date = %(day)s
          AND NOT EXISTS (SELECT 1 FROM rc_settled s WHERE s.txn_id = t.id)
        UNION ALL
        -- Ours of other dates a live discrepancy brings in (alone within its window, or the other side of a
        -- pair), and our failures the channel did not list, within their window.
        SELECT t.id, NULLIF(t.{p.key_txn}, ''), t.amount, t.fee, t.status, t.business_type, t.created_at,
               t.business_date, t.currency, CASE WHEN v.type IN ({ALONE}) THEN v.carry_until ELSE 'infinity'::date END,
               ''
        FROM rc_live v JOIN {T_TXN} t ON t.id = v.txn_id
        WHERE v.batch_no = '' AND v.item_batch = '' AND t.business_date <> %(day)s
        UNION ALL
        -- The items of other dates of a batch with a live discrepancy: the channel may book one on a line of
        -- its own on this date.
        SELECT t.id, NULLIF(t.{p.key_txn}, ''), t.amount, t.fee, t.status, t.business_type, t.created_at,
               t.business_date, t.currency, 'infinity'::date, t.batch_no
        FROM rc_live v JOIN {T_TXN} t ON t.channel_id = %(channel)s AND t.batch_no = v.batch_no
        -- t.batch_no <> '' spelled out: the partial index of batch numbers then serves (not a scan of every record)
        WHERE v.batch_no <> '' AND t.batch_no <> '' AND t.business_date <> %(day)s
          AND NOT EXISTS (SELECT 1 FROM {T_ALONE} a WHERE a.txn_id = t.id)
        UNION ALL
        -- An item of a batch booked alone on a line of this date.
        SELECT t.id, NULLIF(t.{p.key_txn}, ''), t.amount, t.fee, t.status, t.business_type, t.created_at,
               t.business_date, t.currency, 'infinity'::date, ''
        FROM {T_ALONE} a JOIN {T_TXN} t ON t.id = a.txn_id
        WHERE a.channel_id = %(channel)s AND a.line_date = %(day)s AND a.business_date <> %(day)s
          AND NOT EXISTS (SELECT 1 FROM rc_live v WHERE v.txn_id = a.txn_id)
          AND NOT EXISTS (SELECT 1 FROM rc_settled s WHERE s.txn_id = a.txn_id)
        UNION ALL
        SELECT t.id, NULLIF(t.{p.key_txn}, ''), t.amount, t.fee, t.status, t.business_type, t.created_at,
               t.business_date, t.currency, u.window_end, ''
        FROM {T_UNLISTED} u JOIN {T_TXN} t ON t.id = u.txn_id
        WHERE u.channel_id = %(channel)s AND u.business_date <> %(day)s
          AND ((u.business_date < %(day)s AND u.window_end >= %(day)s)
               OR (u.business_date > %(day)s AND u.business_date <= %(reach)s))
          AND NOT EXISTS (SELECT 1 FROM rc_live v WHERE v.txn_id = u.txn_id)
    """


OUT_COLUMNS = """
    txn_id bigint, line_id bigint, k text, p_amount numeric, l_amount numeric, p_status text, l_status text,
    l_fee numeric, business_type text, p_date date, l_date date, currency text, expected_fee numeric,
    money_effect numeric, outcome text, related_txn_id bigint, live_id bigint, other_live_id bigint,
    batch boolean NOT NULL DEFAULT false, p_fee numeric,
    -- p_batch: the batch of an item paired on its own line; item: an item judged by its batch (its debit and
    -- returns); items: how many of ours a batch row stands for.
    p_batch text NOT NULL DEFAULT '', item boolean NOT NULL DEFAULT false, items integer
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
    _set_apart_duplicates(p)
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
                   l.fee AS l_fee, p.fee AS p_fee, p.business_type, p.business_date AS p_date, l.statement_date AS l_date,
                   COALESCE(p.currency, l.currency) AS currency,
                   (p.id IS NOT NULL AND l.id IS NOT NULL AND {ours_as_bank} <> l.status) AS status_differs,
                   (p.id IS NOT NULL AND l.id IS NOT NULL AND {pending} AND l.status = {q(LS.PROCESSING)}) AS both_pending,
                   CASE WHEN p.id IS NOT NULL AND l.id IS NOT NULL THEN {expected_signed} END AS expected_fee,
                   COALESCE({bank}, 0) - COALESCE({ours}, 0) AS money_effect, tw.twin_id, p.p_batch
            FROM p
            -- Items of two dates pair only within the earlier one's carry-over window.
            FULL JOIN rc_l l ON l.k = p.k
                 AND (p.business_date = l.statement_date
                      OR (p.business_date < l.statement_date AND l.statement_date <= p.window_end)
                      OR (l.statement_date < p.business_date AND p.business_date <= l.window_end))
            LEFT JOIN rc_twin tw ON tw.txn_id = p.id
            {FEE_BRACKET_JOIN}
        ),
        j AS (
            SELECT txn_id, line_id, k, p_amount, l_amount, p_status, l_status, l_fee, p_fee, business_type, p_date,
                   l_date, currency, expected_fee, money_effect,
                   CASE
                     WHEN line_id IS NULL THEN
                       CASE WHEN p_status = {q(TS.FAILED)} THEN {q(M.AGREED_FAILED)} ELSE {q(T.PLATFORM_ONLY)} END
                     WHEN txn_id IS NULL THEN {q(T.BANK_ONLY)}
                     -- Nothing to compare until one side finishes: both wait.
                     WHEN both_pending THEN {q(T.BOTH_PENDING)}
                     WHEN status_differs THEN {q(T.STATUS_MISMATCH)}
                     WHEN p_status = {q(TS.FAILED)} THEN {q(M.AGREED_FAILED)}
                     WHEN abs(l_amount - p_amount) > %(amount_tol)s THEN {q(T.AMOUNT_MISMATCH)}
                     -- Paid, and paid before: the channel agrees, the payee may have been paid twice.
                     WHEN twin_id IS NOT NULL THEN {q(T.DOUBLE_PAYMENT_RISK)}
                     -- The channel's fee against our fee model's and against the fee we recorded; a fee
                     -- where no model applies is not accepted silently. (The expected fee, the dearest
                     -- expression of the pass, is written once here so it is computed once per pair.)
                     WHEN abs(l_fee - expected_fee) > %(fee_tol)s OR abs(l_fee - p_fee) > %(fee_tol)s
                          OR (expected_fee IS NULL AND l_fee <> 0) THEN {q(T.FEE_MISMATCH)}
                     WHEN p_date <> l_date THEN {q(M.MATCHED_CROSS_DAY)}
                     ELSE {q(M.MATCHED)}
                   END AS outcome, twin_id, p_batch
            FROM pairs
        )
        -- Plain matches, nearly all pairs, are not kept unless they close a live discrepancy: they are
        -- counted below by difference.
        INSERT INTO rc_out
        SELECT j.txn_id, j.line_id, j.k, j.p_amount, j.l_amount, j.p_status, j.l_status, j.l_fee, j.business_type,
               j.p_date, j.l_date, j.currency, j.expected_fee, j.money_effect, j.outcome,
               CASE WHEN j.outcome = {q(T.DOUBLE_PAYMENT_RISK)} THEN j.twin_id END, NULL, NULL, false, j.p_fee,
               COALESCE(j.p_batch, '')
        FROM j
        -- An item of a batch without a line of its own is left to its batch; with one it is kept (it is
        -- recorded as booked alone).
        WHERE NOT (COALESCE(j.p_batch, '') <> '' AND j.line_id IS NULL)
          AND (j.outcome <> {q(M.MATCHED)} OR COALESCE(j.p_batch, '') <> ''
           OR j.txn_id IN (SELECT txn_id FROM rc_live WHERE txn_id IS NOT NULL)
           OR j.line_id IN (SELECT line_id FROM rc_live WHERE line_id IS NOT NULL))
    """,
        _base(p),
    )
    # The channel's other lines of a key it lists more than once: duplicates, or lines alone.
    _execute(
        f"""
        INSERT INTO rc_out (txn_id, line_id, k, p_amount, l_amount, p_status, l_status, l_fee, business_type, p_date,
                            l_date, currency, expected_fee, money_effect, outcome)
        SELECT NULL, d.id, d.k, NULL, d.amount, NULL, d.status, d.fee, NULL, NULL, d.statement_date, d.currency,
               NULL, CASE WHEN d.status = {q(LS.SUCCESS)} THEN {sign_sql("d.line_type")} * d.amount ELSE 0 END,
               d.outcome
        FROM rc_dup d
    """,
        {},
    )
    _execute(
        f"""
        INSERT INTO rc_counts
        SELECT {q(M.MATCHED)}, sides.items - kept.items, sides.amount - kept.amount, 0, 0
        FROM (SELECT count(*) AS items, COALESCE(sum(amount), 0) AS amount FROM rc_l) sides,
             (SELECT count(*) AS items, COALESCE(sum(l_amount), 0) AS amount FROM rc_out o
              WHERE o.line_id IS NOT NULL AND o.outcome <> {q(M.MATCHED)} AND NOT o.batch
                AND o.line_id NOT IN (SELECT id FROM rc_dup)) kept
    """,
        {},
    )
    _execute("ANALYZE rc_out", {})


def _batches_of_the_day(p: DayParams) -> list[str]:
    """Batch numbers to look at: ours of the date, the channel's lines of the date, and those of live
    discrepancies (about a batch or one of its items); a batch whose own discrepancy was resolved is settled
    and not looked at again."""
    rows = _fetchall(
        f"""
        (SELECT batch_no FROM {T_TXN}
         WHERE channel_id = %(channel)s AND business_date = %(day)s AND batch_no <> ''
         UNION
         SELECT batch_ref FROM {T_LINE} WHERE file_id = ANY(%(files)s) AND statement_date = %(day)s AND batch_ref <> ''
         UNION
         SELECT batch_no FROM rc_live WHERE batch_no <> ''
         UNION
         SELECT item_batch FROM rc_live WHERE item_batch <> '')
        EXCEPT
        (SELECT batch_no FROM rc_settled WHERE batch_no <> ''
         EXCEPT SELECT batch_no FROM rc_live WHERE batch_no <> '')
    """,
        _base(p),
    )
    return sorted(row[0] for row in rows)


def record_items_booked_alone(p: DayParams) -> None:
    """Items of a batch the channel booked on a line of their own (paired by this run in the single-item
    join) are remembered: from now on every run pairs them alone and leaves them out of their batch."""
    _execute(
        f"""
        INSERT INTO {T_ALONE} (channel_id, txn_id, line_id, batch_no, business_date, line_date)
        SELECT %(channel)s, o.txn_id, o.line_id, o.p_batch, o.p_date, o.l_date FROM rc_out o
        WHERE o.p_batch <> '' AND o.line_id IS NOT NULL AND NOT o.batch AND NOT o.item
        ON CONFLICT (txn_id) DO NOTHING
    """,
        _base(p),
    )


def classify_batches(p: DayParams) -> None:
    """Batch payouts (代发, 一笔扣多笔退): our items grouped by batch_no against the channel's lines of the
    batch (batch_ref): debits, lines of single items, and returns of failed items, possibly on a later day.

    When the channel's debits cover every item (it debited the whole batch and returns what failed), each
    item is judged on its own: a return goes to the item it names (its number or serial), else to an item of
    its amount (our failed ones first); an item returned is failed at the bank, one not returned was paid.
    So swapped returns show as two item status mismatches even when the totals agree, and an item we hold
    as unknown that the bank paid is a status mismatch to supplement (补单) at once. What the items do not
    explain (a debit larger than the items, a return of no item) is the batch row's difference. Otherwise
    (the bank debited only what it paid, or has not booked the batch yet) the batch is judged as a whole:
    what we paid against what the bank paid net of returns."""
    batches = _batches_of_the_day(p)
    if not batches:  # most days: nothing to do
        return
    base = {**_base(p), "batches": batches}
    key_line = p.key_line
    _execute(
        f"""
        CREATE TEMP TABLE rc_bitems ON COMMIT DROP AS
        SELECT t.id, NULLIF(t.{p.key_txn}, '') AS k, t.amount, t.status, t.business_date, t.currency, t.batch_no,
               (EXISTS (SELECT 1 FROM {T_DISC} d WHERE d.platform_txn_id = t.id AND d.state = {q(S.RESOLVED)})
                AND NOT EXISTS (SELECT 1 FROM rc_live v WHERE v.txn_id = t.id)) AS settled
        FROM {T_TXN} t
        WHERE t.channel_id = %(channel)s AND t.batch_no = ANY(%(batches)s) AND t.batch_no <> ''
          AND NOT EXISTS (SELECT 1 FROM {T_ALONE} a WHERE a.txn_id = t.id)
          AND NOT EXISTS (SELECT 1 FROM rc_out o WHERE o.txn_id = t.id AND o.p_batch <> '' AND o.line_id IS NOT NULL);
        CREATE TEMP TABLE rc_blines ON COMMIT DROP AS
        SELECT l.id, l.batch_ref AS batch_no, l.status, l.amount, l.statement_date, l.currency,
               NULLIF(l.{key_line}, '') AS k, NULLIF(l.original_{key_line}, '') AS original_k,
               l.line_type IN ({RETURNS}) AS is_return
        FROM {T_LINE} l JOIN {T_FILE} f ON f.id = l.file_id
        WHERE f.channel_id = %(channel)s AND l.statement_date <= %(day)s AND f.kind = {q(StatementKind.BUSINESS)}
          AND f.status = {q(FileStatus.PARSED)} AND l.batch_ref = ANY(%(batches)s) AND l.batch_ref <> ''
          AND NOT EXISTS (SELECT 1 FROM {T_FILE} r WHERE r.id = f.superseded_by_id AND r.status = {q(FileStatus.PARSED)});
        -- An item's own line under the batch reference (a bank that lists the items of the batch).
        CREATE TEMP TABLE rc_bown ON COMMIT DROP AS
        SELECT DISTINCT ON (i.id) i.id AS txn_id, l.id AS line_id
        FROM rc_bitems i JOIN rc_blines l ON l.batch_no = i.batch_no AND l.k = i.k AND NOT l.is_return
        ORDER BY i.id, l.id;
        -- Which item each return gives back: the one it names, else one of its amount (failed ones first).
        CREATE TEMP TABLE rc_bret ON COMMIT DROP AS
        WITH named AS (
            SELECT DISTINCT ON (txn_id) line_id, txn_id FROM (
                SELECT DISTINCT ON (r.id) r.id AS line_id, i.id AS txn_id
                FROM rc_blines r JOIN rc_bitems i ON i.batch_no = r.batch_no AND i.k IN (r.k, r.original_k)
                WHERE r.is_return AND r.status = {q(LS.SUCCESS)}
                ORDER BY r.id, i.id
            ) x ORDER BY txn_id, line_id
        ),
        free_returns AS (
            SELECT r.id, r.batch_no, r.amount, row_number() OVER (PARTITION BY r.batch_no, r.amount ORDER BY r.id) AS n
            FROM rc_blines r
            WHERE r.is_return AND r.status = {q(LS.SUCCESS)} AND r.id NOT IN (SELECT line_id FROM named)
        ),
        free_items AS (
            SELECT i.id, i.batch_no, i.amount,
                   row_number() OVER (PARTITION BY i.batch_no, i.amount
                                      ORDER BY CASE i.status WHEN {q(TS.FAILED)} THEN 0 WHEN {q(TS.SUCCESS)} THEN 2 ELSE 1 END,
                                               i.id) AS n
            FROM rc_bitems i
            WHERE i.id NOT IN (SELECT txn_id FROM named) AND i.id NOT IN (SELECT txn_id FROM rc_bown)
        )
        SELECT line_id, txn_id, true AS named FROM named
        UNION ALL
        SELECT r.id, i.id, false
        FROM free_returns r JOIN free_items i ON i.batch_no = r.batch_no AND i.amount = r.amount AND i.n = r.n;
        -- Per batch: what the debits cover, and whether they cover every item not listed on its own.
        CREATE TEMP TABLE rc_bsum ON COMMIT DROP AS
        WITH items AS (
            SELECT i.batch_no, count(*) AS items, sum(i.amount) AS covered,
                   sum(CASE WHEN i.status = {q(TS.SUCCESS)} THEN i.amount ELSE 0 END) AS paid,
                   min(i.business_date) AS first_date, min(i.currency) AS currency
            FROM rc_bitems i WHERE i.id NOT IN (SELECT txn_id FROM rc_bown) GROUP BY i.batch_no
        ),
        lines AS (
            SELECT l.batch_no,
                   min(l.id) FILTER (WHERE NOT l.is_return) AS debit_line,
                   COALESCE(sum(l.amount) FILTER (WHERE NOT l.is_return AND l.status = {q(LS.SUCCESS)}), 0) AS debited,
                   COALESCE(sum(l.amount) FILTER (WHERE l.is_return AND l.status = {q(LS.SUCCESS)}
                                                    AND l.id NOT IN (SELECT line_id FROM rc_bret)), 0) AS unassigned,
                   -- Net of every return but those named for an item listed on its own (judged with it).
                   COALESCE(sum(CASE WHEN l.status <> {q(LS.SUCCESS)} THEN 0 WHEN l.is_return THEN -l.amount
                                     ELSE l.amount END)
                            FILTER (WHERE l.id NOT IN (SELECT r.line_id FROM rc_bret r JOIN rc_bown o USING (txn_id)
                                                       WHERE r.named)), 0) AS net,
                   min(l.statement_date) FILTER (WHERE NOT l.is_return) AS debit_date,
                   max(l.statement_date) AS last_date, min(l.currency) AS currency
            FROM rc_blines l WHERE l.id NOT IN (SELECT line_id FROM rc_bown) GROUP BY l.batch_no
        )
        SELECT COALESCE(i.batch_no, l.batch_no) AS batch_no, COALESCE(i.items, 0) AS items, COALESCE(i.covered, 0) AS covered,
               i.paid, l.debited, l.unassigned, l.net, l.debit_line, l.debit_date, i.first_date, l.last_date,
               COALESCE(i.currency, l.currency) AS currency,
               (l.debited > 0 AND l.debited >= COALESCE(i.covered, 0) - %(amount_tol)s) AS itemized,
               i.batch_no IS NOT NULL AS ours, l.batch_no IS NOT NULL AS bank
        FROM items i FULL JOIN lines l ON l.batch_no = i.batch_no;
    """,
        base,
    )
    # Items judged one by one: those of an itemized batch, and those the bank lists on a line of their own.
    pending = sql_list((TS.UNKNOWN, TS.PROCESSING))
    _execute(
        f"""
        INSERT INTO rc_out (txn_id, line_id, k, p_amount, l_amount, p_status, l_status, l_fee, business_type, p_date,
                            l_date, currency, expected_fee, money_effect, outcome, item)
        WITH s AS (
            SELECT i.*, own.line_id AS own_line, ol.status AS own_status, ol.amount AS own_amount,
                   ol.statement_date AS own_date, ret.line_id AS ret_line, rl.amount AS ret_amount,
                   rl.statement_date AS ret_date, b.debit_date
            FROM rc_bitems i
            LEFT JOIN rc_bsum b ON b.batch_no = i.batch_no
            LEFT JOIN rc_bown own ON own.txn_id = i.id LEFT JOIN rc_blines ol ON ol.id = own.line_id
            LEFT JOIN rc_bret ret ON ret.txn_id = i.id LEFT JOIN rc_blines rl ON rl.id = ret.line_id
            WHERE NOT i.settled AND (own.line_id IS NOT NULL OR b.itemized)
        ),
        v AS (
            SELECT s.*,
                   CASE WHEN ret_line IS NOT NULL THEN {q(LS.FAILED)} WHEN own_line IS NOT NULL THEN own_status
                        ELSE {q(LS.SUCCESS)} END AS bank_status,
                   (CASE WHEN own_line IS NULL OR own_status = {q(LS.SUCCESS)} THEN -COALESCE(own_amount, amount) ELSE 0 END)
                   + COALESCE(ret_amount, 0) AS bank_effect,
                   CASE WHEN status = {q(TS.SUCCESS)} THEN -amount ELSE 0 END AS our_effect,
                   COALESCE(ret_date, own_date, debit_date) AS l_date
            FROM s
        )
        SELECT id, COALESCE(ret_line, own_line), k, amount, COALESCE(own_amount, amount), status, bank_status, NULL,
               {q(B.BATCH_PAYOUT)}, business_date, l_date, currency, NULL, bank_effect - our_effect,
               CASE
                 WHEN status IN ({pending}) AND bank_status = {q(LS.PROCESSING)} THEN {q(T.BOTH_PENDING)}
                 WHEN (CASE WHEN status IN ({pending}) THEN {q(LS.PROCESSING)} ELSE status END) <> bank_status
                   THEN {q(T.STATUS_MISMATCH)}
                 WHEN abs(bank_effect - our_effect) > %(amount_tol)s THEN {q(T.AMOUNT_MISMATCH)}
                 WHEN status = {q(TS.FAILED)} THEN {q(M.AGREED_FAILED)}
                 WHEN business_date <> l_date THEN {q(M.MATCHED_CROSS_DAY)}
                 ELSE {q(M.MATCHED)}
               END,
               true
        FROM v
    """,
        base,
    )
    # One row per batch: what its items do not explain (itemized), or the batch as a whole.
    _execute(
        f"""
        INSERT INTO rc_out (txn_id, line_id, k, p_amount, l_amount, p_status, l_status, l_fee, business_type,
                            p_date, l_date, currency, expected_fee, money_effect, outcome, batch, items)
        WITH b AS (
            SELECT b.*,
                   CASE WHEN b.itemized THEN b.covered - b.debited + b.unassigned
                        ELSE COALESCE(b.paid, 0) - COALESCE(b.net, 0) END AS effect
            FROM rc_bsum b
        )
        SELECT NULL, b.debit_line, b.batch_no, CASE WHEN b.itemized THEN b.covered ELSE b.paid END,
               CASE WHEN b.itemized THEN b.debited - b.unassigned ELSE b.net END, NULL, NULL, NULL, {q(B.BATCH_PAYOUT)},
               b.first_date, b.last_date, b.currency, NULL, b.effect,
               CASE
                 -- Only failed items left, and nothing from the bank: nothing moved.
                 WHEN NOT b.bank AND COALESCE(b.paid, 0) = 0 THEN {q(M.AGREED_FAILED)}
                 WHEN NOT b.bank AND b.items > 0 THEN {q(T.PLATFORM_ONLY)}
                 WHEN NOT b.ours AND NOT b.itemized THEN {q(T.BANK_ONLY)}
                 WHEN abs(b.effect) > %(amount_tol)s THEN {q(T.AMOUNT_MISMATCH)}
                 WHEN b.first_date <> b.last_date THEN {q(M.MATCHED_CROSS_DAY)}
                 ELSE {q(M.MATCHED)}
               END,
               true,
               CASE WHEN b.itemized THEN 0 ELSE b.items END
        FROM b
        WHERE b.items > 0 OR b.bank
    """,
        base,
    )


# The bracket of the fee model valid at our transaction p's time for its type and amount (rc_fee f).
FEE_BRACKET_JOIN = """LEFT JOIN rc_fee f ON f.business_type = p.business_type AND p.created_at >= f.valid_from
                 AND (f.valid_to IS NULL OR p.created_at < f.valid_to)
                 AND p.amount >= f.lower_bound AND (f.upper_bound IS NULL OR p.amount < f.upper_bound)"""


def collect_fee_brackets(channel_id: int) -> None:
    """rc_fee: one row per fee model and amount bracket: [lower, upper) with its rate, fixed amount and
    charging mode. Below the first tier the model's own rate applies. Join it as FEE_BRACKET_JOIN."""
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
               m.rate, m.fixed_amount, m.charging_mode
        FROM {T_FEE} m WHERE m.channel_id = %(channel)s
        UNION ALL
        SELECT m.id, m.business_type, m.valid_from, m.valid_to, m.min_fee, m.max_fee, m.rounding,
               t.lower_bound, t.upper_bound, t.rate, t.fixed_amount, m.charging_mode
        FROM {T_FEE} m JOIN tiers t ON t.fee_model_id = m.id
    """,
        {"channel": channel_id},
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
    """A payment out we recorded as failed or unknown (a timeout) that the channel paid, with a later
    successful retry of the same order or to the same payee: money went out twice. Only the few paid
    payments we do not hold as paid are looked at."""
    _execute(
        f"""
        UPDATE rc_out o SET outcome = {q(T.DOUBLE_PAYMENT_RISK)}, related_txn_id = r.id
        FROM {T_TXN} f, {same_payment_sql("f", later=True)} r
        WHERE o.outcome = {q(T.STATUS_MISMATCH)} AND o.p_status IN ({NOT_PAID}) AND o.l_status = {q(LS.SUCCESS)}
          AND o.business_type IN ({PAID_OUT}) AND NOT {BATCH_ROW} AND f.id = o.txn_id
    """,
        _base(p),
    )


def collect_twins(p: DayParams) -> None:
    """rc_twin: our successful payments of the date (and those of other dates a live double-payment risk
    is about) that pay again what an earlier successful one paid: the same order, or the same amount to
    the same payee within the window. Matched with the channel, such a payment is a risk for a clerk to
    confirm (追款) or dismiss, not a plain match."""
    _execute(
        f"""
        CREATE TEMP TABLE rc_twin ON COMMIT DROP AS
        SELECT t.id AS txn_id, r.id AS twin_id
        FROM {T_TXN} t, {same_payment_sql("t", later=False)} r
        WHERE t.channel_id = %(channel)s AND t.business_date = %(day)s AND t.batch_no = ''
          AND t.status = {q(TS.SUCCESS)} AND t.business_type IN ({PAID_OUT})
          AND (t.order_no <> '' OR t.counterparty_account <> '')
          AND NOT EXISTS (SELECT 1 FROM rc_settled s WHERE s.txn_id = t.id)
        UNION ALL
        SELECT t.id, r.id
        FROM rc_live v JOIN {T_TXN} t ON t.id = v.txn_id, {same_payment_sql("t", later=False)} r
        WHERE v.type = {q(T.DOUBLE_PAYMENT_RISK)} AND t.business_date <> %(day)s AND t.status = {q(TS.SUCCESS)}
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
    # The writes that follow join rc_out by these ids: statistics that still say "no live ids" planned them as
    # nested loops over thousands of carried-over items.
    _execute("ANALYZE rc_out", {})


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
    closed_as = f"(CASE WHEN c.p_date <> c.l_date THEN {q(ClosedAs.CROSS_DAY_MATCH)} ELSE {q(ClosedAs.REMATCHED)} END)"
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
    # The other side's date, seen from the discrepancy's own item (whose date is its business date).
    other_date = (
        "(CASE WHEN c.p_date IS NULL OR c.l_date IS NULL THEN NULL"
        " WHEN d.business_date = c.p_date THEN c.l_date ELSE c.p_date END)"
    )
    _record_events(
        f"""
        WITH t AS (
            SELECT d.id, d.state, d.type FROM {T_DISC} d JOIN rc_close c ON c.id = d.id
            WHERE d.state IN ({sql_list(RUN_MAY_CLOSE)}) FOR UPDATE OF d
        )
        UPDATE {T_DISC} d SET state = {q(S.RESOLVED)}, closed_as = {closed_as}, matched_run_id = %(run)s,
               platform_txn_id = COALESCE(c.txn_id, d.platform_txn_id),
               statement_line_id = COALESCE(c.line_id, d.statement_line_id),
               counterpart_date = COALESCE({other_date}, d.counterpart_date),
               bank_amount = COALESCE(c.l_amount, d.bank_amount), platform_amount = COALESCE(c.p_amount, d.platform_amount),
               resolved_at = %(now)s, updated_at = %(now)s
        FROM t, rc_close c
        WHERE d.id = t.id AND c.id = t.id
        RETURNING d.id, {q(Kind.MATCHED)}, jsonb_build_object('state', t.state, 'type', t.type),
                  jsonb_build_object('state', d.state, 'closed_as', d.closed_as), NULL::bigint
    """,
        base,
    )
    # A proposal about an item the run matched is withdrawn, never executed; so is a manual pairing that
    # takes the item in, whose other items go back to waiting for a decision.
    _record_events(
        f"""
        UPDATE {T_RES} r SET status = {q(Resolution.Status.WITHDRAWN)}, decided_at = %(now)s
        FROM rc_events e
        WHERE e.kind = {q(Kind.MATCHED)} AND r.status IN ({sql_list(OPEN_RESOLUTION_STATUSES)})
          AND (r.discrepancy_id = e.discrepancy_id
               OR r.id IN (SELECT i.resolution_id FROM {T_RITEM} i WHERE i.discrepancy_id = e.discrepancy_id))
        RETURNING r.discrepancy_id, {q(Kind.WITHDRAWN)}, jsonb_build_object('resolution', r.id),
                  jsonb_build_object('resolution_status', r.status), r.id
    """,
        base,
    )
    # A proposal made on facts the run now sees otherwise (another type, another effect, the other side
    # arrived) is withdrawn too: a checker must not approve a decision about an item that is no longer what
    # the clerk saw. Its discrepancy opens and is reclassified below like any other.
    _record_events(
        f"""
        UPDATE {T_RES} r SET status = {q(Resolution.Status.WITHDRAWN)}, decided_at = %(now)s
        WHERE r.status IN ({sql_list(OPEN_RESOLUTION_STATUSES)})
          AND EXISTS (
            SELECT 1 FROM {T_DISC} d JOIN rc_out o ON o.live_id = d.id
            WHERE d.state = {q(S.PROPOSED)} AND o.outcome NOT IN ({SETTLED})
              AND (d.id = r.discrepancy_id OR d.id IN (SELECT i.discrepancy_id FROM {T_RITEM} i WHERE i.resolution_id = r.id))
              AND ROW(d.type, d.effect, d.platform_txn_id, d.statement_line_id)
                  IS DISTINCT FROM ROW(o.outcome, {EFFECT_SQL}, o.txn_id, o.line_id))
        RETURNING r.discrepancy_id, {q(Kind.WITHDRAWN)}, jsonb_build_object('resolution', r.id),
                  jsonb_build_object('resolution_status', r.status, 'why', 'the item changed'), r.id
    """,
        base,
    )
    _record_events(
        f"""
        WITH w AS (
            SELECT i.discrepancy_id, i.resolution_id FROM {T_RITEM} i
            WHERE i.resolution_id IN (SELECT resolution_id FROM rc_events WHERE kind = {q(Kind.WITHDRAWN)})
            UNION
            SELECT r.discrepancy_id, r.id FROM {T_RES} r
            WHERE r.id IN (SELECT resolution_id FROM rc_events WHERE kind = {q(Kind.WITHDRAWN)})
        )
        UPDATE {T_DISC} d SET state = {q(S.OPEN)}, updated_at = %(now)s
        FROM w
        WHERE w.discrepancy_id = d.id AND d.state = {q(S.PROPOSED)}
        RETURNING d.id, {q(Kind.WITHDRAWN)}, jsonb_build_object('state', {q(S.PROPOSED)}),
                  jsonb_build_object('state', d.state), w.resolution_id
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
        # The other side's date, seen from the discrepancy's own item (whose date is its business date).
        "counterpart_date": """(CASE WHEN o.p_date IS NULL OR o.l_date IS NULL THEN NULL
                                     WHEN d.business_date = o.p_date THEN o.l_date ELSE o.p_date END)""",
        "platform_amount": "o.p_amount",
        "bank_amount": "o.l_amount",
        "platform_status": "COALESCE(o.p_status, '')",
        "bank_status": "COALESCE(o.l_status, '')",
        "bank_fee": "o.l_fee",
        "platform_fee": "o.p_fee",
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
                              bank_amount, platform_status, bank_status, bank_fee, platform_fee, expected_fee, effect,
                              direction,
                              carry_until, closed_as, created_at, updated_at)
        SELECT %(run)s, %(channel)s, COALESCE(o.p_date, o.l_date),
               CASE WHEN o.p_date IS NOT NULL AND o.l_date IS NOT NULL THEN o.l_date END, o.outcome,
               CASE WHEN {waits} THEN {carried} ELSE {q(S.OPEN)} END,
               COALESCE(o.k, ''), o.txn_id, o.line_id, o.related_txn_id,
               CASE WHEN {BATCH_ROW} THEN o.k ELSE '' END,
               o.currency, o.p_amount, o.l_amount, COALESCE(o.p_status, ''), COALESCE(o.l_status, ''), o.l_fee,
               o.p_fee, o.expected_fee, {EFFECT_SQL}, {direction_sql(EFFECT_SQL)},
               CASE WHEN {waits} THEN %(carry_until)s::date END, '', %(now)s, %(now)s
        FROM rc_out o
        WHERE o.outcome NOT IN ({SETTLED}) AND o.live_id IS NULL
        ON CONFLICT DO NOTHING
        RETURNING id, {q(Kind.FOUND)}, '{{}}'::jsonb, jsonb_build_object('state', state, 'type', type,
                  'effect', effect::text), NULL::bigint
    """,
        base,
    )
    # Our failures the channel did not list on their own date stay in view for their window, also when a line
    # of a later date lists them: that date's run must pair them too, whichever date runs first. A failure the
    # channel listed on its own date (or any of ours paired with a line of its own date) leaves the view.
    _execute(
        f"""
        DELETE FROM {T_UNLISTED} u USING rc_out o
        WHERE u.txn_id = o.txn_id AND o.line_id IS NOT NULL AND o.l_date = o.p_date;
        INSERT INTO {T_UNLISTED} (channel_id, txn_id, business_date, window_end)
        SELECT %(channel)s, o.txn_id, o.p_date, %(carry_until)s::date FROM rc_out o
        WHERE o.outcome IN ({q(M.AGREED_FAILED)}, {q(M.MATCHED_CROSS_DAY)}) AND o.p_status = {q(TS.FAILED)}
          AND (o.line_id IS NULL OR o.l_date <> o.p_date) AND o.p_date = %(day)s AND NOT o.item
          AND %(carry_until)s::date IS NOT NULL
        ON CONFLICT (txn_id) DO NOTHING;
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
        -- A set difference, not NOT EXISTS: rc_out's statistics predate its live ids, and an anti-join planned
        -- for one row compared every confirmed item with every event (3 s on a month of open items).
        SELECT live_id, {q(Change.CONFIRMED)} FROM (
            SELECT o.live_id FROM rc_out o WHERE o.live_id IS NOT NULL AND o.outcome NOT IN ({SETTLED})
            EXCEPT
            SELECT e.discrepancy_id FROM rc_events e
        ) AS confirmed;
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
                   -- A batch judged as a whole counts its items; one judged item by item counts only what
                   -- its items leave unexplained (its items are rows of their own).
                   CASE WHEN NOT {BATCH_ROW} THEN 1 WHEN o.outcome IN ({SETTLED}) THEN o.items
                        ELSE GREATEST(o.items, 1) END AS items,
                   CASE WHEN {BATCH_ROW} AND o.items = 0 AND o.outcome IN ({SETTLED}) THEN 0
                        ELSE COALESCE(o.l_amount, o.p_amount, 0) END AS amount,
                   {EFFECT_SQL} AS effect
            FROM rc_out o
            -- A plain match of single items is counted in rc_counts; a batch's and its items' here.
            WHERE o.outcome <> {q(M.MATCHED)} OR {BATCH_ROW} OR o.item
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


def fee_controls(p: DayParams) -> list[dict]:
    """The day's fees against what its bills' footers declare: each current file whose footer gives a fee
    total (a file kept despite a footer that disagrees is caught here, not only in its warnings)."""
    rows = _fetchall(
        f"""
        SELECT id, original_name, (totals->>'declared_fee')::numeric, COALESCE((totals->>'fee')::numeric, 0)
        FROM {T_FILE} WHERE id = ANY(%(files)s) AND statement_date = %(day)s AND totals ? 'declared_fee' ORDER BY id
    """,
        _base(p),
    )
    return [
        {
            "control": "FEE_TOTAL",
            "file_id": pk,
            "file": name,
            "declared": plain_decimal(declared),
            "lines": plain_decimal(fees),
            "ok": declared == fees,
        }
        for pk, name, declared, fees in rows
    ]


def match_day(*, run: ReconciliationRun, now: datetime, on_phase=lambda phase: None) -> dict:
    """Match one channel and date; returns the run's outcome totals. The caller holds the transaction."""
    params = day_params(run=run, now=now)
    # Plans here are simple hash joins; JIT compilation would cost more than it saves (~0.7 s a query).
    # Memory enough to hash a million lines at once instead of in batches spilled to disk.
    _execute("SET LOCAL jit = off", {})
    _execute(f"SET LOCAL work_mem = '{settings.RECONCILE_WORK_MEM}'", {})
    on_phase("collecting")
    channel_lock(run.channel_id)
    collect_live(params)
    collect_candidates(params)
    collect_twins(params)
    on_phase("matching")
    classify(params)
    record_items_booked_alone(params)
    classify_batches(params)
    flag_double_payments(params)
    on_phase("writing")
    write_results(params)
    totals = {**outcome_totals(), "controls": fee_controls(params)}
    # The books follow our records: the day's successful transactions, posted by difference (nothing twice).
    day_post(channel=run.channel, day=run.business_date, now=now)
    # Dropped now rather than at commit: the caller's transaction may hold more than one run.
    _execute(f"DROP TABLE IF EXISTS {', '.join(WORK_TABLES)}", {})
    return totals
