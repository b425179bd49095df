"""Corrections a clearing team makes to statement files: a channel re-sends a corrected statement that
replaces the earlier one, and a file refused by a format an admin has since fixed is parsed again.

A replaced file stays (files are never deleted) but runs read only the current one: a file stops being
current once the file replacing it is parsed. At that moment the discrepancies that point at the
earlier file's lines move to the corrected file's line of the same transaction (the same key, the same
occurrence of it), so nothing turns into a phantom duplicate or a phantom line alone: a live one follows
its line whatever the correction changed (the run then finds what differs), a resolved one only when the
line is unchanged; a live one whose line the corrected file no longer lists is closed. Then the date is
run again.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils.translation import gettext as _

from backoffice.core.db import sql_list
from backoffice.core.db import sql_str as q
from reconciliation.models import (
    RUN_MAY_CLOSE,
    Channel,
    Discrepancy,
    StatementFile,
    StatementKind,
    StatementLine,
    WorkflowEvent,
)
from reconciliation.services.jobs import Job, enqueue

UPLOAD_PERMISSION = "reconciliation.add_statementfile"
MIN_REASON_LENGTH = 5


class CorrectionRefused(Exception):
    """A replacement or a new parse the rules do not allow, with the reason for the clerk."""


def statement_replace(
    *, replaced: StatementFile, replacement: StatementFile, reason: str, acting_user, now: datetime
) -> StatementFile:
    """Record that ``replacement`` is the channel's corrected version of ``replaced`` (same channel, kind
    and date). Takes effect when the replacement is parsed (at once if it is)."""
    if not acting_user.has_perm(UPLOAD_PERMISSION):
        raise CorrectionRefused(_("You are not allowed to take in statement files."))
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise CorrectionRefused(_("Say why the file is replaced (at least %(n)d characters).") % {"n": MIN_REASON_LENGTH})
    same = (replaced.channel_id, replaced.kind, replaced.statement_date)
    if replaced.pk == replacement.pk or same != (replacement.channel_id, replacement.kind, replacement.statement_date):
        raise CorrectionRefused(_("A file can only be replaced by another file of the same channel, kind and date."))
    if replacement.status == StatementFile.Status.FAILED:
        raise CorrectionRefused(_("The corrected file was refused: fix it and take it in again first."))
    with transaction.atomic():
        replaced_by_then = StatementFile.objects.filter(pk=replacement.pk, superseded_by__isnull=False).first()
        if replaced_by_then is not None:
            raise CorrectionRefused(_("File #%(id)s is itself replaced: replace the current file.") % {"id": replacement.pk})
        moved = StatementFile.objects.filter(pk=replaced.pk, superseded_by__isnull=True).update(
            superseded_by=replacement, superseded_at=now, supersede_reason=reason, superseded_by_user=acting_user
        )
        if not moved:
            raise CorrectionRefused(_("File #%(id)s was already replaced.") % {"id": replaced.pk})
        replaced.refresh_from_db()
        if replacement.status == StatementFile.Status.PARSED:
            replacement_takes_effect(replacement=replacement, now=now)
    return replaced


def replacement_takes_effect(*, replacement: StatementFile, now: datetime) -> None:
    """The corrected file is parsed: move what pointed at the replaced file's lines, then run the date
    again. Called by statement_replace or by the parse of the replacement; inside the caller's transaction."""
    replaced = StatementFile.objects.filter(superseded_by=replacement).first()
    if replaced is None:
        return
    if replaced.kind == StatementKind.BUSINESS:
        _repoint_lines(replaced=replaced, replacement=replacement, now=now)
    if replacement.channel.is_active and replaced.kind == StatementKind.BUSINESS:
        from reconciliation.models import RunTrigger

        enqueue(
            Job.RUN_START,
            channel_id=replacement.channel_id,
            trigger=RunTrigger.FILE,
            business_date=replacement.statement_date.isoformat(),
        )


def _repoint_lines(*, replaced: StatementFile, replacement: StatementFile, now: datetime) -> None:
    key = "channel_txn_no" if replacement.channel.match_key == Channel.MatchKey.CHANNEL_TXN_NO else "txn_no"
    t_disc, t_line, t_event = Discrepancy._meta.db_table, StatementLine._meta.db_table, WorkflowEvent._meta.db_table
    state, kind, closed = Discrepancy.State, WorkflowEvent.Kind, Discrepancy.ClosedAs
    params = {"old": replaced.pk, "new": replacement.pk, "now": now, "source": f"file #{replacement.pk}"}
    with connection.cursor() as cursor:
        # The same transaction in both files: the same key, the same occurrence of it (by line number).
        cursor.execute(
            f"""
            CREATE TEMP TABLE rc_line_map ON COMMIT DROP AS
            WITH old AS (
                SELECT id, {key} AS k, amount, fee, status, line_type,
                       row_number() OVER (PARTITION BY {key} ORDER BY line_no) AS n
                FROM {t_line} WHERE file_id = %(old)s AND {key} <> ''
            ), new AS (
                SELECT id, {key} AS k, amount, fee, status, line_type,
                       row_number() OVER (PARTITION BY {key} ORDER BY line_no) AS n
                FROM {t_line} WHERE file_id = %(new)s AND {key} <> ''
            )
            SELECT old.id AS old_id, new.id AS new_id,
                   (old.amount, old.fee, old.status, old.line_type) IS NOT DISTINCT FROM
                   (new.amount, new.fee, new.status, new.line_type) AS unchanged
            FROM old LEFT JOIN new ON new.k = old.k AND new.n = old.n
            """,
            params,
        )
        # Live: follow the line; resolved: only an unchanged line (the settlement still holds).
        cursor.execute(
            f"""
            WITH moved AS (
                UPDATE {t_disc} d SET statement_line_id = m.new_id, updated_at = %(now)s
                FROM rc_line_map m
                WHERE d.statement_line_id = m.old_id AND m.new_id IS NOT NULL
                  AND (d.state <> {q(state.RESOLVED)} OR m.unchanged)
                RETURNING d.id, d.state, m.old_id, m.new_id
            )
            INSERT INTO {t_event} (discrepancy_id, kind, at, source, reason, before, after)
            SELECT id, {q(kind.LINE_REPLACED)}, %(now)s, %(source)s, '', jsonb_build_object('statement_line', old_id),
                   jsonb_build_object('statement_line', new_id) FROM moved WHERE state <> {q(state.RESOLVED)}
            """,
            params,
        )
        # Live ones whose line the corrected file no longer lists: nothing left to reconcile on that line.
        cursor.execute(
            f"""
            WITH gone AS (
                UPDATE {t_disc} d SET state = {q(state.RESOLVED)}, closed_as = {q(closed.WITHDRAWN)},
                       resolved_at = %(now)s, updated_at = %(now)s
                FROM {t_line} l
                WHERE d.statement_line_id = l.id AND l.file_id = %(old)s AND d.state IN ({sql_list(RUN_MAY_CLOSE)})
                  AND d.platform_txn_id IS NULL
                RETURNING d.id
            )
            INSERT INTO {t_event} (discrepancy_id, kind, at, source, reason, before, after)
            SELECT id, {q(kind.LINE_REPLACED)}, %(now)s, %(source)s, '', '{{}}'::jsonb,
                   jsonb_build_object('state', {q(state.RESOLVED)}, 'closed_as', {q(closed.WITHDRAWN)}) FROM gone
            """,
            params,
        )
        cursor.execute("DROP TABLE rc_line_map")


def statement_parse_again(*, statement_file: StatementFile, acting_user, now: datetime) -> StatementFile:
    """A refused file, parsed again (after an admin fixed the channel's format): it takes the channel's
    current format for its kind and goes back to the queue."""
    if not acting_user.has_perm(UPLOAD_PERMISSION):
        raise CorrectionRefused(_("You are not allowed to take in statement files."))
    current = statement_file.channel.statement_formats.filter(kind=statement_file.kind, is_default=True).first()
    # A deliberate retry: a file refused for stopping its worker too often gets its attempts back.
    changes = {"status": StatementFile.Status.RECEIVED, "errors": [], "warnings": [], "progress_lines": 0, "parse_attempts": 0}
    if current is not None:
        changes.update(statement_format=current, format_code=current.format_code)
    with transaction.atomic():
        if not StatementFile.objects.filter(pk=statement_file.pk, status=StatementFile.Status.FAILED).update(**changes):
            raise CorrectionRefused(_("Only a refused file can be parsed again."))
        enqueue(Job.STATEMENT_PARSE, statement_file_id=statement_file.pk)
    statement_file.refresh_from_db()
    return statement_file
