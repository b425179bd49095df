"""What the product suggests for a discrepancy, and what each action does, in the clerk's words. Shown,
never applied by itself."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backoffice.core.money import format_money, money_str
from reconciliation.models import Action, Discrepancy, DiscrepancyType, LineStatus, TransactionStatus
from reconciliation.models.runs import status_label

State = Discrepancy.State
Type = DiscrepancyType


@dataclass(frozen=True)
class Suggestion:
    action: str
    why: str


def suggest(discrepancy: Discrepancy) -> Suggestion | None:
    """What the engine proposes for a discrepancy, and why (shown to the clerk; never applied by itself)."""
    d = discrepancy
    if d.state == State.RESOLVED:
        return None
    if d.state == State.CARRIED_OVER:
        return Suggestion(
            Action.EXTEND_CARRY_OVER if d.carry_until else "",
            _("Wait: items alone on one side are re-matched automatically until the end of the carry-over window."),
        )
    if d.is_fund:
        return _fund_suggestion(d)
    if d.type == Type.STATUS_MISMATCH and d.bank_status == LineStatus.SUCCESS and d.platform_status != TransactionStatus.SUCCESS:
        return Suggestion(
            Action.SUPPLEMENT,
            _("The channel confirms the payment succeeded while our record says %(status)s: supplement (补单) our record.")
            % {"status": status_label(d.platform_status)},
        )
    if d.type == Type.STATUS_MISMATCH:
        return Suggestion(
            Action.ACCEPT_BANK,
            _(
                "The channel reports %(bank)s while our record says %(ours)s: check the order "
                "with the channel, then accept its status or claim."
            )
            % {"bank": status_label(d.bank_status), "ours": status_label(d.platform_status)},
        )
    if d.type == Type.BANK_ONLY and d.effect > 0:
        return Suggestion(
            Action.SUPPLEMENT,
            _("Money came in that we have no order for: create the missing order (补单) if it is ours, or refund it."),
        )
    if d.type == Type.PLATFORM_ONLY:
        return Suggestion(
            Action.ACCEPT_BANK,
            _(
                "The channel never listed this order after the carry-over window: "
                "mark it failed (accept the channel's version) or claim from the bank."
            ),
        )
    if d.manual_pairing_id:
        small = abs(d.effect) <= d.channel.write_off_threshold
        return Suggestion(
            Action.WRITE_OFF if small else (Action.CLAIM if d.effect < 0 else Action.REFUND),
            _(
                "What the manual pairing left over: %(diff)s between the items paired. Write it off if it is "
                "small, else claim it or refund it, or record an adjustment."
            )
            % {"diff": format_money(abs(d.effect), d.currency)},
        )
    if d.type == Type.AMOUNT_MISMATCH:
        return Suggestion(
            Action.ACCEPT_BANK if abs(d.effect) <= d.channel.write_off_threshold else Action.CLAIM,
            _("The amounts differ by %(diff)s: accept the channel's amount if our record is wrong, else claim.")
            % {"diff": format_money(abs(d.effect), d.currency)},
        )
    if d.type == Type.FEE_MISMATCH:
        return _fee_suggestion(d)
    if d.type == Type.DUPLICATE:
        return Suggestion(
            Action.REFUND if d.effect > 0 else Action.CLAIM,
            _("The channel lists the same transaction twice: refund the second payment, or claim it back."),
        )
    if d.type == Type.DOUBLE_PAYMENT_RISK:
        other = d.related_txn.txn_no if d.related_txn_id else "?"
        if d.effect == 0:  # both paid, and both in our books: a suspicion to confirm or dismiss
            return Suggestion(
                Action.RECOVERY,
                _(
                    "%(amount)s was paid to the same payee by %(other)s shortly before: if the payee was paid "
                    "twice, recover it (追款); if both payments were due, dismiss."
                )
                % {"amount": format_money(d.platform_amount, d.currency), "other": other},
            )
        return Suggestion(
            Action.RECOVERY,
            _(
                "Our record says %(status)s but the channel paid it, and the retry %(other)s paid "
                "again: recover the second payment from the payee (追款)."
            )
            % {"status": status_label(d.platform_status), "other": other},
        )
    return None


def _fee_suggestion(d: Discrepancy) -> Suggestion:
    money = {
        "fee": format_money(d.bank_fee, d.currency),
        "expected": format_money(d.expected_fee, d.currency) if d.expected_fee is not None else "",
        "ours": format_money(d.platform_fee, d.currency) if d.platform_fee is not None else "",
    }
    if d.expected_fee is None:
        return Suggestion(
            Action.CLAIM if d.effect < 0 else Action.ACCEPT_BANK,
            _(
                "The channel charged %(fee)s but no fee model of the channel covers this transaction: add the fee "
                "model and run the date again, claim the fee, or accept it."
            )
            % money,
        )
    if d.effect == 0 and d.platform_fee is not None:  # the model agrees with the channel; our record does not
        return Suggestion(
            Action.ACCEPT_BANK,
            _("Our record says a fee of %(ours)s; the channel charged %(fee)s as our fee model expects: accept it.") % money,
        )
    return Suggestion(
        Action.CLAIM if d.effect < 0 else Action.ACCEPT_BANK,
        _(
            "The channel charged %(fee)s where our fee model expects %(expected)s: claim "
            "the difference, or accept the channel's fee."
        )
        % money,
    )


ACTION_HELP = {
    Action.SUPPLEMENT: gettext_lazy("Create our missing order, or move ours to success, from the channel's line."),
    Action.REFUND: gettext_lazy("Create a refund order the payment core executes; resolved when it reports success."),
    Action.ADJUSTMENT: gettext_lazy("Record a correcting entry (debit, credit, amount) for the books to post."),
    Action.ACCEPT_BANK: gettext_lazy("Correct our record to the channel's amount, fee and status."),
    Action.CLAIM: gettext_lazy("Keep our version and claim the difference from the bank; resolved when recovered."),
    Action.RECOVERY: gettext_lazy("Recover the second payment from the payee; resolved when recovered."),
    Action.WRITE_OFF: gettext_lazy("Write the difference off, within the channel's write-off limit."),
    Action.EXTEND_CARRY_OVER: gettext_lazy("Wait longer for the other side: extend by some business days."),
    Action.DISMISS: gettext_lazy("Both payments were due (e.g. two orders of the same amount): close the risk."),
}


def _fund_suggestion(d: Discrepancy) -> Suggestion | None:
    """Stage 2: a settlement that did not come or differs, a movement nobody expected."""
    amount = money_str(abs(d.effect), d.currency)
    if d.type == Type.SETTLEMENT_MISSING:
        return Suggestion(
            Action.CLAIM,
            _("The channel has not settled %(amount)s of %(date)s within its window: claim it from the channel.")
            % {"amount": amount, "date": d.business_date.isoformat()},
        )
    if d.type == Type.SETTLEMENT_AMOUNT_MISMATCH and d.effect < 0:
        return Suggestion(
            Action.CLAIM,
            _("%(amount)s less than clearing expects: check the date's fees and refunds with the channel, then claim it.")
            % {"amount": amount},
        )
    if d.type == Type.SETTLEMENT_AMOUNT_MISMATCH:
        return Suggestion(
            Action.REFUND,
            _("%(amount)s more than clearing expects: find whose money it is and return it, or book it.") % {"amount": amount},
        )
    if d.type == Type.UNEXPECTED_MOVEMENT:
        return Suggestion(
            Action.ADJUSTMENT,
            _(
                "A movement clearing does not expect (a bank charge, interest, a transfer): book it with an adjustment "
                "between the bank account and the right account (a charge to fee expense, interest to income)."
            ),
        )
    if d.type == Type.FEE_CHARGE_MISMATCH:
        return Suggestion(
            Action.CLAIM if d.effect < 0 else Action.ADJUSTMENT,
            _(
                "The fee charge differs by %(amount)s from the fees billed apart since the last charge: check the "
                "fee models, then claim it or book it."
            )
            % {"amount": amount},
        )
    if d.type == Type.JOURNAL_MISSING:
        return Suggestion(
            Action.ADJUSTMENT,
            _(
                "The bank moved %(amount)s that our bank journal does not have: book it (补账) between the bank "
                "account and the right account, or claim it from the bank."
            )
            % {"amount": amount},
        )
    if d.type == Type.JOURNAL_EXTRA:
        return Suggestion(
            Action.ADJUSTMENT,
            _(
                "Our bank journal has %(amount)s the bank never moved: reverse the entry with an adjustment, or "
                "claim it if the bank should have."
            )
            % {"amount": amount},
        )
    if d.type == Type.RETURN_UNMATCHED:
        return Suggestion(
            Action.ADJUSTMENT,
            _("%(amount)s came back for a payout we hold as paid: check with the bank whether the payee was paid.")
            % {"amount": amount},
        )
    return None
