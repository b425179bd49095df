"""Our transaction records: bulk upsert, idempotent on txn_no, from the API or the journal file.

Rules (the same for every path):
- a new txn_no is created; the same record sent again changes nothing;
- status only moves forward: PROCESSING/UNKNOWN -> SUCCESS/FAILED (PROCESSING <-> UNKNOWN allowed);
- the channel serial, fee and completion time may be filled in once known, never changed;
- anything else that differs (amount, channel, a terminal status going back, …) is a conflict.
A batch is all or nothing: one invalid record or one conflict and nothing of it is written. Conflicts
are recorded (TransactionConflict) even though the batch is refused.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Account, Merchant
from backoffice.core.money import MINOR_UNITS
from reconciliation.models import (
    STATUS_MOVES,
    BusinessType,
    Channel,
    PlatformTransaction,
    ReconciliationRun,
    RunStage,
    RunTrigger,
    TransactionConflict,
    TransactionReceipt,
    TransactionStatus,
)
from reconciliation.services.jobs import Job, enqueue

CHUNK = 5000
JOURNAL_COLUMNS = (
    "txn_no",
    "channel",
    "channel_txn_no",
    "business_type",
    "amount",
    "currency",
    "fee",
    "status",
    "created_at",
    "completed_at",
    "business_date",
    "merchant_no",
    "account_no",
    "batch_no",
    "original_txn_no",
)
REQUIRED_COLUMNS = ("txn_no", "channel", "business_type", "amount", "currency", "status", "created_at", "business_date")
# Optional columns (and API fields) beyond the journal's classic ones. order_no: the business order a
# payment belongs to; a retry keeps it, which ties retries together (the double-payment check).
OPTIONAL_EXTRA = ("counterparty_account", "counterparty_name", "order_no")
# Facts fixed at creation: a different value later is a conflict.
IMMUTABLE = (
    "channel_id",
    "business_type",
    "amount",
    "currency",
    "created_at",
    "business_date",
    "merchant_id",
    "account_id",
    "batch_no",
    "original_id",
    "counterparty_account",
    "counterparty_name",
)
# Facts that may arrive later: filled once, never changed.
FILL_ONCE = ("channel_txn_no", "fee", "completed_at", "order_no")
# An order a supplement (补单) created from the channel's line: the payment core's own record of it, when it
# arrives, completes the facts the line could not tell (or only guessed); these must agree with the line.
COMPLETED_BY_CORE = (
    "created_at",
    "completed_at",
    "merchant_id",
    "account_id",
    "counterparty_account",
    "counterparty_name",
    "fee",
    "channel_txn_no",
    "order_no",
    "original_id",
    "batch_no",
)
AGREED_WITH_THE_LINE = ("channel_id", "business_type", "amount", "currency", "business_date", "status")


@dataclass(frozen=True)
class RecordError:
    ref: str  # "line 12" or "item 3"
    field: str | None
    reason: str
    txn_no: str = ""

    def __str__(self) -> str:
        where = f"{self.ref}, field {self.field}" if self.field else self.ref
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict:
        return {"ref": self.ref, "field": self.field, "reason": self.reason, "txn_no": self.txn_no}


class TransactionBatchRefused(Exception):
    """Nothing of the batch was written; ``errors`` says which record, which field and why."""

    def __init__(self, errors: Sequence[RecordError], *, conflicts: int = 0):
        self.errors = list(errors)
        self.conflicts = conflicts
        head = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} record(s) refused, nothing written: {head}{more}")


@dataclass
class TransactionInput:
    ref: str
    txn_no: str
    channel_code: str
    business_type: str
    amount: Decimal
    currency: str
    status: str
    created_at: datetime
    business_date: date
    channel_txn_no: str = ""
    fee: Decimal | None = None
    completed_at: datetime | None = None
    merchant_no: str = ""
    account_no: str = ""
    batch_no: str = ""
    original_txn_no: str = ""
    counterparty_account: str = ""
    counterparty_name: str = ""
    order_no: str = ""


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    held: int = 0
    txn_nos: list[str] = field(default_factory=list)
    receipt_id: int | None = None

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged, "held": self.held}


# --- reading one record --------------------------------------------------------------------------


def _text(mapping: Mapping, name: str) -> str:
    value = mapping.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    return value.strip()


def _decimal(mapping: Mapping, name: str, errors: list, ref: str, *, required: bool) -> Decimal | None:
    raw = mapping.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors.append(RecordError(ref, name, "is required"))
        return None
    if isinstance(raw, float):
        # JSON numbers are parsed as Decimal by our API parser; a float here would lose cents.
        errors.append(RecordError(ref, name, "must be a decimal string, not a binary float"))
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        errors.append(RecordError(ref, name, f"{raw!r} is not an amount"))
        return None
    if not value.is_finite():
        errors.append(RecordError(ref, name, f"{raw!r} is not an amount"))
        return None
    return value


def _datetime(mapping: Mapping, name: str, errors: list, ref: str, *, required: bool) -> datetime | None:
    raw = _text(mapping, name)
    if not raw:
        if required:
            errors.append(RecordError(ref, name, "is required"))
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        errors.append(RecordError(ref, name, f"{raw!r} is not a date and time (YYYY-MM-DD HH:MM:SS, ISO 8601)"))
        return None
    # A time without an offset is wall-clock time in the product's zone (Asia/Shanghai).
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _date(mapping: Mapping, name: str, errors: list, ref: str) -> date | None:
    raw = _text(mapping, name)
    if not raw:
        errors.append(RecordError(ref, name, "is required"))
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(RecordError(ref, name, f"{raw!r} is not a date (YYYY-MM-DD)"))
        return None


# Text fields of a record and the column each is kept in (its length is that column's).
_TEXT_COLUMNS = {
    "txn_no": "txn_no",
    "original_txn_no": "txn_no",
    "channel_txn_no": "channel_txn_no",
    "batch_no": "batch_no",
    "counterparty_account": "counterparty_account",
    "counterparty_name": "counterparty_name",
    "order_no": "order_no",
}


def _shape_errors(mapping: Mapping, ref: str, *, amount: Decimal | None, fee: Decimal | None) -> list[RecordError]:
    """What the database could not keep, refused with the field named rather than failing at the insert:
    text longer than its column or holding a NUL character, an amount with more digits than money has."""
    errors = []
    for name, column in _TEXT_COLUMNS.items():
        value = _text(mapping, name)
        limit = PlatformTransaction._meta.get_field(column).max_length
        if len(value) > limit:
            errors.append(RecordError(ref, name, f"is {len(value)} characters long; at most {limit}"))
        if "\x00" in value:
            errors.append(RecordError(ref, name, "holds a NUL character"))
    for name in ("channel", "merchant_no", "account_no", "currency"):
        if "\x00" in _text(mapping, name):
            errors.append(RecordError(ref, name, "holds a NUL character"))
    money = PlatformTransaction._meta.get_field("amount")
    for name, value in (("amount", amount), ("fee", fee)):
        if value is None:
            continue
        _sign, digits, exponent = value.normalize().as_tuple()  # 100.10000 has 1 decimal place, not 5
        places, whole = max(-exponent, 0), max(len(digits) + exponent, 0)
        if places > money.decimal_places:
            errors.append(RecordError(ref, name, f"has {places} decimal places; at most {money.decimal_places}"))
        if whole > money.max_digits - money.decimal_places:
            limit = money.max_digits - money.decimal_places
            errors.append(RecordError(ref, name, f"has {whole} digits before the decimal point; at most {limit}"))
    return errors


def transaction_input_read(mapping: Mapping, *, ref: str) -> tuple[TransactionInput | None, list[RecordError]]:
    """Validate one record given as a mapping of column/field name to value (CSV row or JSON item)."""
    txn_no = _text(mapping, "txn_no")
    raw_errors: list[RecordError] = []
    for name in ("txn_no", "channel"):
        if not _text(mapping, name):
            raw_errors.append(RecordError(ref, name, "is required"))
    business_type = _text(mapping, "business_type").upper()
    if business_type not in BusinessType.values:
        allowed = ", ".join(v.lower() for v in BusinessType.values)
        raw_errors.append(RecordError(ref, "business_type", f"{business_type.lower()!r} is not one of {allowed}"))
    status = _text(mapping, "status").upper()
    if status not in TransactionStatus.values:
        allowed = ", ".join(v.lower() for v in TransactionStatus.values)
        raw_errors.append(RecordError(ref, "status", f"{status.lower()!r} is not one of {allowed}"))
    currency = _text(mapping, "currency").upper()
    if currency not in MINOR_UNITS:
        raw_errors.append(RecordError(ref, "currency", f"{currency!r} is not a supported ISO 4217 currency"))
    amount = _decimal(mapping, "amount", raw_errors, ref, required=True)
    if amount is not None and amount <= 0:
        raw_errors.append(RecordError(ref, "amount", "must be positive (the business type carries the direction)"))
    fee = _decimal(mapping, "fee", raw_errors, ref, required=False)
    created_at = _datetime(mapping, "created_at", raw_errors, ref, required=True)
    completed_at = _datetime(mapping, "completed_at", raw_errors, ref, required=False)
    business_date = _date(mapping, "business_date", raw_errors, ref)
    original_txn_no = _text(mapping, "original_txn_no")
    if business_type == BusinessType.REFUND and not original_txn_no:
        raw_errors.append(RecordError(ref, "original_txn_no", "a refund names the transaction it refunds"))
    if original_txn_no and business_type != BusinessType.REFUND:
        raw_errors.append(RecordError(ref, "original_txn_no", "only a refund has an original transaction"))
    raw_errors.extend(_shape_errors(mapping, ref, amount=amount, fee=fee))
    if raw_errors:
        return None, [replace(e, txn_no=txn_no) for e in raw_errors]
    return TransactionInput(
        ref=ref,
        txn_no=txn_no,
        channel_code=_text(mapping, "channel"),
        business_type=business_type,
        amount=amount,
        currency=currency,
        status=status,
        created_at=created_at,
        business_date=business_date,
        channel_txn_no=_text(mapping, "channel_txn_no"),
        fee=fee,
        completed_at=completed_at,
        merchant_no=_text(mapping, "merchant_no"),
        account_no=_text(mapping, "account_no"),
        batch_no=_text(mapping, "batch_no"),
        original_txn_no=original_txn_no,
        counterparty_account=_text(mapping, "counterparty_account"),
        counterparty_name=_text(mapping, "counterparty_name"),
        order_no=_text(mapping, "order_no"),
    ), []


def transaction_inputs_from_csv(data: bytes) -> tuple[list[TransactionInput], list[RecordError]]:
    """The payment core's journal: UTF-8 CSV with a header row, columns matched by name.

    Returns the readable records and the errors of the unreadable ones; a file that cannot be read at
    all (not UTF-8, a required column missing, no records) is refused outright."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TransactionBatchRefused([RecordError(f"line {line}", None, "the file is not UTF-8 text")]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise TransactionBatchRefused([RecordError("line 1", c, "column missing from the header row") for c in missing])
    reader.fieldnames = header
    inputs, errors = [], []
    for row in reader:
        ref = f"line {reader.line_num}"
        if None in row:  # more values than header columns
            errors.append(RecordError(ref, None, f"{len(header) + len(row[None])} values for {len(header)} columns"))
            continue
        record, record_errors = transaction_input_read(row, ref=ref)
        errors.extend(record_errors)
        if record:
            inputs.append(record)
    if not inputs and not errors:
        raise TransactionBatchRefused([RecordError("line 2", None, "the file has a header but no records")])
    return inputs, errors


# --- applying a batch ----------------------------------------------------------------------------


def _by_key(model, key: str, values: Iterable[str]) -> dict:
    values = {v for v in values if v}
    return {getattr(o, key): o for o in model.objects.filter(**{f"{key}__in": values})} if values else {}


def _changes(existing: PlatformTransaction, incoming: PlatformTransaction) -> tuple[dict, list[tuple[str, str]]]:
    """(fields to update, [(field, reason)] conflicts) for an incoming version of an existing record."""
    updates, conflicts = {}, []
    for name in IMMUTABLE:
        old, new = getattr(existing, name), getattr(incoming, name)
        if old != new:
            conflicts.append((name, "cannot change once recorded"))
    for name in FILL_ONCE:
        old, new = getattr(existing, name), getattr(incoming, name)
        if new in (None, "") or old == new:
            continue
        if old in (None, ""):
            updates[name] = new
        else:
            conflicts.append((name, "already known with another value"))
    if incoming.status != existing.status:
        if incoming.status in STATUS_MOVES[existing.status]:
            updates["status"] = incoming.status
        else:
            conflicts.append(("status", f"cannot move from {existing.status} to {incoming.status}"))
    return updates, conflicts


def _completion(existing: PlatformTransaction, incoming: PlatformTransaction, now) -> tuple[dict, list[tuple[str, str]]]:
    """The payment core's first record of an order a supplement created: it completes the order, or, where
    it disagrees with the channel's line the order was made from, is held for a clerk."""
    conflicts = [
        (name, "differs from the order the supplement (补单) made from the channel's line")
        for name in AGREED_WITH_THE_LINE
        if getattr(existing, name) != getattr(incoming, name)
    ]
    updates = {
        name: getattr(incoming, name)
        for name in COMPLETED_BY_CORE
        if getattr(incoming, name) not in (None, "") and getattr(incoming, name) != getattr(existing, name)
    }
    return {**updates, "confirmed_at": now}, conflicts


def _ref_order(ref: str) -> tuple[str, int]:
    kind, _, number = ref.partition(" ")
    return kind, int(number) if number.isdigit() else 0


def _conflict_value(obj: PlatformTransaction, name: str) -> str:
    value = getattr(obj, name)
    return "" if value is None else str(value)


@dataclass
class _Plan:
    create: list[PlatformTransaction] = field(default_factory=list)
    update: list[tuple[PlatformTransaction, dict]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RecordError] = field(default_factory=list)
    conflicts: list[TransactionConflict] = field(default_factory=list)
    # Records of supplemented orders that disagree with the channel's line: recorded, not applied, and
    # not refusing the rest of the batch.
    held: int = 0


def _plan(inputs: Sequence[TransactionInput], *, now: datetime, source: str, source_ref: str, acting_user) -> _Plan:
    plan = _Plan()
    channels = _by_key(Channel, "code", (i.channel_code for i in inputs))
    merchants = _by_key(Merchant, "merchant_no", (i.merchant_no for i in inputs))
    accounts = _by_key(Account, "account_no", (i.account_no for i in inputs))
    existing = {
        t.txn_no: t for t in PlatformTransaction.objects.select_for_update().filter(txn_no__in=[i.txn_no for i in inputs])
    }
    originals = _by_key(PlatformTransaction, "txn_no", (i.original_txn_no for i in inputs))
    in_batch: dict[str, PlatformTransaction] = {}
    seen: dict[str, TransactionInput] = {}
    # Originals before refunds, so a refund may name an original sent in the same batch.
    for item in sorted(inputs, key=lambda i: i.business_type == BusinessType.REFUND):
        item_errors: list[RecordError] = []

        def refuse(field_name, reason, item=item, item_errors=item_errors):
            item_errors.append(RecordError(item.ref, field_name, reason, item.txn_no))

        first = seen.get(item.txn_no)
        if first is not None:
            if replace(first, ref=item.ref) != item:
                refuse("txn_no", f"appears again with other values (first at {first.ref})")
                plan.errors.extend(item_errors)
            continue
        seen[item.txn_no] = item
        channel = channels.get(item.channel_code)
        if channel is None:
            refuse("channel", f"no channel with code {item.channel_code!r}")
        elif item.currency != channel.currency:
            refuse("currency", f"channel {channel.code} settles in {channel.currency}, not {item.currency}")
        merchant = merchants.get(item.merchant_no) if item.merchant_no else None
        if item.merchant_no and merchant is None:
            refuse("merchant_no", f"no merchant {item.merchant_no!r}")
        account = accounts.get(item.account_no) if item.account_no else None
        if item.account_no and account is None:
            refuse("account_no", f"no account {item.account_no!r}")
        original = None
        if item.original_txn_no:
            original = originals.get(item.original_txn_no) or in_batch.get(item.original_txn_no)
            if original is None:
                refuse("original_txn_no", f"no transaction {item.original_txn_no!r} to refund")
        if item_errors:
            plan.errors.extend(item_errors)
            continue
        incoming = PlatformTransaction(
            txn_no=item.txn_no,
            channel=channel,
            channel_txn_no=item.channel_txn_no,
            business_type=item.business_type,
            original=original,
            batch_no=item.batch_no,
            amount=item.amount,
            currency=item.currency,
            fee=item.fee,
            status=item.status,
            created_at=item.created_at,
            completed_at=item.completed_at,
            business_date=item.business_date,
            merchant=merchant,
            account=account,
            counterparty_account=item.counterparty_account,
            counterparty_name=item.counterparty_name,
            order_no=item.order_no,
            received_at=now,
            updated_at=now,
        )
        current = existing.get(item.txn_no)
        if current is None:
            plan.create.append(incoming)
            in_batch[item.txn_no] = incoming
            continue
        completing = current.origin == PlatformTransaction.Origin.SUPPLEMENT and current.confirmed_at is None
        updates, conflicts = _completion(current, incoming, now) if completing else _changes(current, incoming)
        for name, reason in conflicts:
            if not completing:
                refuse(name.removesuffix("_id"), reason)
            plan.conflicts.append(
                TransactionConflict(
                    txn_no=item.txn_no,
                    field=name.removesuffix("_id"),
                    current_value=_conflict_value(current, name),
                    incoming_value=_conflict_value(incoming, name),
                    reason=reason,
                    source=source,
                    source_ref=f"{source_ref} {item.ref}".strip(),
                    received_at=now,
                    received_by=acting_user,
                )
            )
        if conflicts and completing:
            plan.held += 1
            continue
        if conflicts:
            plan.errors.extend(item_errors)
            continue
        if updates:
            plan.update.append((current, updates))
        else:
            plan.unchanged += 1
    return plan


def transactions_upsert(
    *,
    inputs: Sequence[TransactionInput],
    source: str,
    source_ref: str = "",
    acting_user=None,
    now: datetime,
    invalid: Sequence[RecordError] = (),
) -> UpsertResult:
    """Create or move forward our transaction records; all or nothing (see the module docstring).

    ``invalid`` are records the caller could not even read: the batch is refused, but the readable
    records are still checked so the refusal lists every problem at once.
    """
    try:
        with transaction.atomic():
            plan = _plan(inputs, now=now, source=source, source_ref=source_ref, acting_user=acting_user)
            if plan.errors or invalid:
                errors = sorted([*invalid, *plan.errors], key=lambda e: _ref_order(e.ref))
                raise TransactionBatchRefused(errors, conflicts=len(plan.conflicts))
            # The delivery on record, and every record it creates names it.
            receipt = TransactionReceipt.objects.create(
                source=source,
                source_ref=source_ref[:255],
                received_at=now,
                received_by=acting_user,
                created=len(plan.create),
                updated=len(plan.update),
                unchanged=plan.unchanged,
                held=plan.held,
            )
            for txn in plan.create:
                txn.receipt = receipt
            # Originals first: a refund in the same batch points at a row created just before it.
            refunds = [t for t in plan.create if t.business_type == BusinessType.REFUND]
            others = [t for t in plan.create if t.business_type != BusinessType.REFUND]
            for group in (others, refunds):
                for txn in group:
                    if txn.original is not None:
                        txn.original = txn.original  # re-assign: the original now has its primary key
                PlatformTransaction.objects.bulk_create(group, batch_size=CHUNK)
            by_fields: dict[tuple[str, ...], list[PlatformTransaction]] = {}
            for txn, updates in plan.update:
                for name, value in updates.items():
                    setattr(txn, name, value)
                txn.updated_at = now
                by_fields.setdefault(tuple(sorted(updates)) + ("updated_at",), []).append(txn)
            for names, rows in by_fields.items():
                PlatformTransaction.objects.bulk_update(rows, list(names), batch_size=CHUNK)
            # What was held back is on record for the clerks, in the same transaction as the rest.
            TransactionConflict.objects.bulk_create(plan.conflicts)
            _reconcile_changed_days([*plan.create, *(txn for txn, _updates in plan.update)])
    except TransactionBatchRefused:
        if plan.conflicts:
            TransactionConflict.objects.bulk_create(plan.conflicts)
        raise
    return UpsertResult(
        created=len(plan.create),
        updated=len(plan.update),
        unchanged=plan.unchanged,
        held=plan.held,
        txn_nos=[i.txn_no for i in inputs],
        receipt_id=receipt.pk,
    )


def _reconcile_changed_days(changed: Iterable[PlatformTransaction]) -> None:
    """Late records of a date already reconciled: that date runs again once they commit, so its discrepancies
    and its books follow (a date not yet run waits for its own run)."""
    days = {(t.channel_id, t.business_date) for t in changed}
    if not days:
        return
    done = set(
        ReconciliationRun.objects.filter(
            stage=RunStage.TRANSACTION,
            status=ReconciliationRun.Status.SUCCEEDED,
            channel_id__in={c for c, _d in days},
            business_date__in={d for _c, d in days},
            channel__is_active=True,
        ).values_list("channel_id", "business_date")
    )
    for channel_id, day in sorted(days & done):
        enqueue(Job.RUN_START, channel_id=channel_id, trigger=RunTrigger.RECORDS, business_date=day.isoformat())
