"""How records are shown on the clerk screens: every field of a record, a statement row's raw fields,
personal data masked for the user as everywhere (backoffice.core.masking); what narrows a filtered list;
a run's story and the days it covers; what a resolution did and who did it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import FilterSet

from backoffice.core.masking import can_view_personal_data, mask_account_number, personal_value
from backoffice.core.money import format_money, plain_decimal
from reconciliation import parsers
from reconciliation.models import Action, Claim, Discrepancy, ReconciliationRun, RefundOrder, Resolution, StatementFile
from reconciliation.models.runs import FindingChange, status_label
from reconciliation.selectors.runs import RunStory, run_stories


def raw_pairs(statement_file: StatementFile, raw: str, user) -> list[tuple[str, str]]:
    try:
        pairs = parsers.raw_fields(statement_file.format_code, raw, statement_file.metadata.get("raw_columns", []))
    except Exception:  # a display aid only: never fail the page over it
        return [("", raw)]
    if can_view_personal_data(user):
        return pairs
    return [(name, mask_account_number(value) if parsers.is_personal_raw_column(name) else value) for name, value in pairs]


def field_rows(obj, *, skip: set[str], user) -> list[tuple[str, object]]:
    """Every field of a record as (label, shown value): choices by label, amounts with the currency's
    decimals, personal fields as the user may see them, empty values as None."""
    rows = []
    for f in obj._meta.concrete_fields:
        if f.name in skip:
            continue
        value = getattr(obj, f"get_{f.name}_display")() if f.choices else personal_value(user, obj, f.name)
        if isinstance(value, Decimal):
            value = format_money(value, getattr(obj, "currency", ""))
        elif isinstance(value, bool):
            value = _("yes") if value else _("no")
        rows.append((f.verbose_name, value if value not in ("", None) else None))
    return rows


def txn_fields(txn, user) -> list[tuple[str, object]]:
    if txn is None:
        return []
    return field_rows(txn, skip={"id", "source_line"}, user=user)


def line_fields(line, user) -> list[tuple[str, object]]:
    return [] if line is None else field_rows(line, skip={"id", "raw", "channel", "file"}, user=user)


def movement_fields(movement, user) -> list[tuple[str, object]]:
    """A movement on our bank account, every field but the raw text and the batch items' list."""
    return [] if movement is None else field_rows(movement, skip={"id", "raw", "channel", "file", "items"}, user=user)


# --- A filtered list says that it is filtered -----------------------------------------------------

# Parameters that arrange a list rather than narrow it.
ARRANGING_PARAMETERS = frozenset({"sort", "page"})
# Hidden filters (the API's names, links from other screens) have no label of their own on the form.
HIDDEN_FILTER_LABELS = {
    "business_date": gettext_lazy("Business date"),
    "statement_date": gettext_lazy("Statement date"),
    "business_date_from": gettext_lazy("From"),
    "business_date_to": gettext_lazy("To"),
}


@dataclass(frozen=True)
class FilterNotice:
    """What narrows a list, one part per applied filter ("Run #12", "Channel: WX"), and the address of
    the same list with every filter cleared (its sort kept)."""

    parts: list[str]
    clear_url: str


def filter_notice(found: FilterSet, *, path: str) -> FilterNotice | None:
    """The notice above a filtered list, or None when nothing narrows it. Describes the filters as applied
    (valid values only: an invalid one is reported by the form and not applied)."""
    found.is_valid()  # validates the form, so cleaned_data holds what the list was filtered by
    applied = getattr(found.form, "cleaned_data", {})
    names = [
        name
        for name, value in applied.items()
        if name not in ARRANGING_PARAMETERS and name != "finding" and value not in (None, "", [])
    ]
    # A run first: it says what the list is (a run's story); the other filters narrow it.
    names.sort(key=lambda name: name != "run")
    parts = [_filter_part(found.form, name, applied[name], applied) for name in names]
    if not parts:
        return None
    kept = {name: found.data.get(name) for name in ("sort",) if found.data.get(name)}
    return FilterNotice(parts=parts, clear_url=f"{path}?{urlencode(kept)}" if kept else path)


def _filter_part(form, name: str, value, applied: dict) -> str:
    if name == "run":
        text = _("run #%(id)s") % {"id": int(value)}
        if finding := applied.get("finding"):
            text = f"{text}, {dict(form.fields['finding'].choices).get(finding, finding)}"
        return capfirst(text)
    field = form.fields[name]
    label = field.label or HIDDEN_FILTER_LABELS.get(name, name)
    return _("%(label)s: %(value)s") % {"label": capfirst(label), "value": _filter_value(field, value)}


def _filter_value(field, value) -> str:
    if hasattr(value, "_meta"):  # a chosen record (a channel): by its code, as the lists show it
        return str(getattr(value, "code", value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return plain_decimal(value, 0)
    choices = getattr(field, "choices", None)
    if choices:
        return str(dict(choices).get(value, value))
    return str(value)


# --- Runs: their story and the days their overage and shortage cover ----------------------------------


def covered_dates(counts: dict) -> str:
    """The business dates a run's overage and shortage cover — ``counts["dates"]``, the first and last
    business date of the items the run concluded a discrepancy about (its own date, and the dates of
    carried items of other days) — as '2026-11-24', '2026-11-24 – 11-26' or '2025-12-31 – 2026-01-02';
    '' when the run recorded none."""
    try:
        days = sorted(date.fromisoformat(text) for text in counts.get("dates") or [])
    except (TypeError, ValueError):
        return ""
    if not days:
        return ""
    first, last = days[0], days[-1]
    if first == last:
        return first.isoformat()
    return f"{first.isoformat()} – {last:%m-%d}" if first.year == last.year else f"{first.isoformat()} – {last.isoformat()}"


_CONTROL_LABELS = {"FEE_TOTAL": gettext_lazy("Fee total")}


def run_books(counts: dict) -> dict | None:
    """A book-to-bank check's balances (``counts["books"]``) as amounts; None for other runs."""
    books = counts.get("books")
    if not books:
        return None
    names = ("journal_opening", "journal_closing", "statement_opening", "statement_closing", "difference")
    return {name: (None if books.get(name) is None else Decimal(books[name])) for name in names}


def run_controls(counts: dict) -> list[dict]:
    """The footer controls a run checked (``counts["controls"]``: a bill footer's declared total against
    what its lines add up to) with their labels and the gap; older runs recorded none."""
    shown = []
    for control in counts.get("controls") or []:
        try:
            declared, lines = Decimal(control["declared"]), Decimal(control["lines"])
        except (KeyError, TypeError, InvalidOperation):
            continue
        shown.append(
            {
                **control,
                "label": _CONTROL_LABELS.get(control.get("control"), control.get("control")),
                "declared": declared,
                "lines": lines,
                "gap": lines - declared,
            }
        )
    return shown


@dataclass(frozen=True)
class RunRow:
    """A run as the lists show it: the run, its story (found, closed, still live: from RunFinding) and
    the days its overage and shortage cover."""

    run: ReconciliationRun
    story: RunStory
    dates: str


def with_finding_labels(found: Iterable[Discrepancy]) -> list[Discrepancy]:
    """A run's list (``run_discrepancies``: each row with ``finding``, what the run did to it), each row
    with ``finding_label``, that change as the screens say it."""
    rows = list(found)
    labels = dict(FindingChange.choices)
    for d in rows:
        d.finding_label = labels.get(d.finding, d.finding)
    return rows


def run_rows(found: Iterable[ReconciliationRun]) -> list[RunRow]:
    listed = list(found)
    stories = run_stories(run_ids=[run.pk for run in listed])
    return [RunRow(run=run, story=stories[run.pk], dates=covered_dates(run.counts)) for run in listed]


# --- Resolutions: what was proposed, decided and done -----------------------------------------------


@dataclass(frozen=True)
class ResolutionView:
    """A resolution as the discrepancy page shows it: what it does or did (accounts, amount, memo, the
    order or claim it created and its outcome) and who proposed, decided and executed it, when."""

    resolution: Resolution
    details: list[tuple[str, str]]
    people: list[tuple[str, str]]
    # A claim not recovered yet: the form that reports the money recovered, or the checker's decision on it.
    open_claim: Claim | None = None


EMPTY = (None, "", {}, [])


def _label(model, name: str) -> str:
    """A field's label as the admin and the exports show it (its verbose name, translated)."""
    return capfirst(model._meta.get_field(name).verbose_name)


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _related(r: Resolution, name: str):
    try:
        return getattr(r, name)
    except ObjectDoesNotExist:
        return None


def _amount(value, currency: str) -> str:
    try:
        return format_money(Decimal(str(value)), currency)
    except (InvalidOperation, ValueError):
        return str(value)


def _txn_change(before: dict, after: dict) -> list[tuple[str, str]]:
    """Our transaction before and after a supplement or an accepted channel version: what changed."""
    rows = [(capfirst(_("Our transaction")), after.get("txn_no") or before.get("txn_no") or "—")]
    for key, label, shown in (
        ("status", _("Status"), status_label),
        ("amount", _("Amount"), None),
        ("fee", _("Fee"), None),
        ("channel_txn_no", _("Channel serial"), None),
    ):
        old, new = before.get(key), after.get(key)
        if old == new and before:
            continue
        if key in ("amount", "fee"):
            old, new = (_amount(v, after.get("currency", "")) if v is not None else None for v in (old, new))
        elif shown:
            old, new = (shown(v) if v else None for v in (old, new))
        if not before:
            rows.append((label, new or "—"))
        elif old or new:
            rows.append((label, f"{old or '—'} → {new or '—'}"))
    return rows


def _details(r: Resolution) -> tuple[list[tuple[str, str]], Claim | None]:
    """What the resolution does (its details while proposed) or did (its outcome once executed)."""
    executed = r.status == Resolution.Status.EXECUTED
    facts = r.outcome if executed else r.params
    currency = r.currency
    rows: list[tuple[str, str]] = []
    open_claim = None
    if r.action in (Action.ADJUSTMENT, Action.WRITE_OFF):
        debit = facts.get("debit") or facts.get("debit_account")
        credit = facts.get("credit") or facts.get("credit_account")
        if debit or credit:
            rows += [(_("Debit account"), debit or "—"), (_("Credit account"), credit or "—")]
        rows.append((_("Amount"), _amount(facts.get("amount", r.amount), currency)))
        if facts.get("memo"):
            rows.append((_("Memo"), facts["memo"]))
        if executed and (adjustment := _related(r, "adjustment")):
            posted = _("voucher %(number)s") % {"number": adjustment.voucher.number} if adjustment.voucher_id else ""
            shown = posted or _("adjustment #%(id)s") % {"id": adjustment.pk}
            rows.append((_("Posting"), f"{adjustment.get_status_display()} · {shown}"))
    elif r.action == Action.REFUND:
        order = _related(r, "refund_order") if executed else None
        if order:
            rows.append((_("Refund order"), order.refund_no))
        rows.append((_("Amount"), _amount(facts.get("amount", r.amount), currency)))
        if order:
            outcome = order.get_status_display()
            if order.reported_at:
                outcome = f"{outcome} · {_when(order.reported_at)}"
            rows.append((_label(RefundOrder, "status"), outcome))
            if order.refund_txn_id:
                rows.append((_label(RefundOrder, "refund_txn"), order.refund_txn.txn_no))
    elif r.action in (Action.CLAIM, Action.RECOVERY):
        claim = _related(r, "claim") if executed else None
        if claim:
            rows.append((_label(Claim, "kind"), claim.get_kind_display()))
            rows.append((_label(Claim, "counterparty"), claim.counterparty))
            rows.append((_("Amount"), format_money(claim.amount, claim.currency)))
            status = claim.get_status_display()
            if claim.recovered_at:
                status = f"{status} · {_when(claim.recovered_at)}"
            rows.append((_label(Claim, "status"), status))
            if claim.reference:
                rows.append((_label(Claim, "reference"), claim.reference))
            if claim.reported_by_id:
                rows.append((_label(Claim, "reported_by"), f"{claim.reported_by} · {_when(claim.reported_at)}"))
            if claim.confirmed_by_id:
                rows.append((_label(Claim, "confirmed_by"), str(claim.confirmed_by)))
            if claim.status != Claim.Status.RECOVERED:
                open_claim = claim
        else:
            rows.append((_("Amount"), _amount(facts.get("amount", r.amount), currency)))
            if facts.get("from"):
                rows.append((_label(Claim, "counterparty"), facts["from"]))
    elif r.action in (Action.SUPPLEMENT, Action.ACCEPT_BANK):
        if executed and ("before" in facts or "after" in facts):
            rows += _txn_change(facts.get("before") or {}, {**(facts.get("after") or {}), "currency": currency})
        else:
            rows.append((_("Amount at stake"), format_money(r.amount, currency)))
    elif r.action == Action.MANUAL_MATCH:
        rows += _pairing_rows(r, facts)
    elif r.action == Action.EXTEND_CARRY_OVER:
        if facts.get("days"):
            rows.append((_("Business days"), str(facts["days"])))
        if facts.get("carry_until"):
            rows.append((_("Carried over until"), facts["carry_until"]))
    else:  # an action without a layout of its own: its facts as recorded
        rows.append((_("Amount at stake"), format_money(r.amount, currency)))
        rows += [(capfirst(str(key).replace("_", " ")), str(value)) for key, value in facts.items() if value not in EMPTY]
    return rows, open_claim


def _pairing_rows(r: Resolution, facts: dict) -> list[tuple[str, str]]:
    """A manual pairing: the items of each side (number, key, amount), their totals and what is left over."""
    items = {i.discrepancy_id: i.discrepancy for i in r.items.all()}
    params = r.params

    def side(ids: list[int], amount_of) -> str:
        return "; ".join(
            f"#{pk} {items[pk].match_key or '—'} {format_money(amount_of(items[pk]) or Decimal(0), r.currency)}"
            for pk in ids
            if pk in items
        )

    rows = [
        (_("Our side"), side(params.get("ours", []), lambda d: d.platform_amount)),
        (_("The channel's side"), side(params.get("theirs", []), lambda d: d.bank_amount)),
        (
            _("Totals"),
            f"{_amount(params.get('ours_total', 0), r.currency)} / {_amount(params.get('theirs_total', 0), r.currency)}",
        ),
        (_("Left over"), _amount(params.get("remainder", 0), r.currency)),
    ]
    if facts.get("remainder_discrepancy"):
        rows.append((_("Left over as"), _("discrepancy #%(id)s") % {"id": facts["remainder_discrepancy"]}))
    return rows


def _people(r: Resolution) -> list[tuple[str, str]]:
    rows = [(_("Proposed by"), f"{r.proposed_by.get_username()}, {_when(r.proposed_at)}"), (_("Reason"), r.reason)]
    for approval in sorted(r.approvals.all(), key=lambda a: (a.decided_at, a.pk)):
        decided = f"{approval.get_decision_display()} · {approval.decided_by.get_username()}, {_when(approval.decided_at)}"
        if approval.comment:
            decided = f"{decided} — {approval.comment}"
        rows.append((approval.get_level_display(), decided))
    if r.executed_at:
        rows.append((_("Executed"), _when(r.executed_at)))
    elif r.decided_at and r.status == Resolution.Status.WITHDRAWN:
        rows.append((r.get_status_display(), _when(r.decided_at)))
    return rows


def resolution_views(resolutions: Iterable[Resolution]) -> list[ResolutionView]:
    """Every resolution of a discrepancy (newest first, as given), with what it did and who did it.
    Expects ``proposed_by``, ``adjustment``, ``refund_order__refund_txn`` and ``claim`` joined and the
    approvals with their deciders prefetched (reconciliation.selectors.workflow.discrepancy_resolutions)."""
    views = []
    for r in resolutions:
        details, open_claim = _details(r)
        views.append(ResolutionView(resolution=r, details=details, people=_people(r), open_claim=open_claim))
    return views
