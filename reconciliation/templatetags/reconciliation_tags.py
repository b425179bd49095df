from decimal import Decimal

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from backoffice.core.money import format_money
from backoffice.templatetags.backoffice_tags import state_badge
from reconciliation.models import (
    MATCHED_OUTCOMES,
    Action,
    BusinessType,
    Direction,
    Discrepancy,
    DiscrepancyState,
    DiscrepancyType,
    EffectDirection,
    runs,
)

register = template.Library()


@register.filter
def type_label(key: str) -> str:
    """A totals key (a line type or a debit/credit direction) as its translated label."""
    for choices in (BusinessType, Direction):
        if key in choices.values:
            return choices(key).label
    return key


@register.filter
def status_label(value: str) -> str:
    return runs.status_label(value)


@register.filter
def action_label(value: str) -> str:
    return Action(value).label if value in Action.values else value


@register.filter
def discrepancy_count(counts: dict) -> int:
    """How many discrepancies a run's outcome counts hold (everything but the matched outcomes)."""
    return sum(v["count"] for k, v in counts.get("outcomes", {}).items() if k not in MATCHED_OUTCOMES)


@register.simple_tag
def effect_chart(points, currency: str = "CNY"):
    """A small inline SVG: per business date, the overage (bar up) and shortage (bar down) of the latest
    run. Drawn on the server from the data, so no script or external asset is needed."""
    width, height, pad_left, pad_bottom = 640, 170, 8, 22
    scale = max([abs(p["overage"]) for p in points] + [abs(p["shortage"]) for p in points] + [Decimal(1)])
    band = (width - pad_left * 2) / max(len(points), 1)
    middle = (height - pad_bottom) / 2
    half = middle - 6
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(_("Overage and shortage per business date"))}">',
        f'<line x1="{pad_left}" y1="{middle:.1f}" x2="{width - pad_left}" y2="{middle:.1f}" class="axis"/>',
    ]
    for index, point in enumerate(points):
        x = pad_left + index * band
        bar = band * 0.6
        label = point["day"].strftime("%m-%d")
        if point["run"] is None:
            parts.append(f'<text x="{x + band / 2:.1f}" y="{middle - 4:.1f}" class="none">–</text>')
        for value, klass in ((point["overage"], "over"), (point["shortage"], "short")):
            if not value:
                continue
            size = float(abs(value) / scale) * half
            y = middle - size if value > 0 else middle
            title = f"{label} {_('overage') if value > 0 else _('shortage')} {format_money(value, currency)}"
            parts.append(
                f'<rect x="{x + (band - bar) / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(size, 1):.1f}" '
                f'class="{klass}"><title>{escape(title)}</title></rect>'
            )
        parts.append(f'<text x="{x + band / 2:.1f}" y="{height - 6}" class="day">{label}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every value above is escaped or a number


def _money_or_dash(amount, currency: str) -> str:
    return format_money(amount, currency) if isinstance(amount, Decimal | int) else "—"


class _Labels:
    """Every label the rows show, translated once per table (``get_FOO_display`` translates all of a field's
    choices each time it is called)."""

    def __init__(self):
        self.types = {value: str(label) for value, label in Discrepancy._meta.get_field("type").flatchoices}
        self.states = {value: str(label) for value, label in Discrepancy._meta.get_field("state").flatchoices}
        self.closings = {value: str(label) for value, label in Discrepancy._meta.get_field("closed_as").flatchoices}
        self.status: dict[str, str] = {}
        self.assigned, self.batch = _("assigned"), _("batch")
        self.overage, self.shortage = _("Overage"), _("Shortage")

    def status_note(self, status: str) -> str:
        if not status:
            return ""
        if status not in self.status:
            self.status[status] = runs.status_label(status)
        return format_html(' <span class="muted">({})</span>', self.status[status])


def _discrepancy_note(d, labels: _Labels) -> str:
    if d.closed_as:
        return labels.closings.get(d.closed_as, d.closed_as)
    if d.state == DiscrepancyState.CARRIED_OVER:
        return _("waits until %(until)s") % {"until": d.carry_until.isoformat() if d.carry_until else ""}
    if d.related_txn_id:
        return _("retry %(no)s") % {"no": d.related_txn.txn_no}
    if d.type == DiscrepancyType.FEE_MISMATCH:
        return _("fee %(fee)s, expected %(expected)s") % {
            "fee": format_money(d.bank_fee, d.currency) if d.bank_fee is not None else "",
            "expected": format_money(d.expected_fee, d.currency) if d.expected_fee is not None else "",
        }
    return ""


def _discrepancy_row(d, *, selectable: bool, show_finding: bool, labels: _Labels, today) -> str:
    cells = []
    if selectable:
        cells.append(
            format_html('<td><input type="checkbox" name="ids" value="{}" form="bulk-form" aria-label="#{}"></td>', d.pk, d.pk)
        )
    marker = format_html(' <span class="muted" title="{}">●</span>', labels.assigned) if d.assigned_to_id else ""
    link = reverse("reconciliation:discrepancy_detail", args=[d.pk])
    cells.append(format_html('<td><a href="{}">{}</a>{}</td>', link, d.pk, marker))
    if show_finding:
        cells.append(format_html('<td class="finding" data-finding="{}">{}</td>', d.finding, d.finding_label))
    cells.append(format_html('<td class="nowrap">{}</td><td>{}</td>', d.business_date.isoformat(), d.channel.code))
    cells.append(format_html('<td class="type-cell">{}</td>', labels.types.get(d.type, d.type)))
    cells.append(format_html('<td class="nowrap">{}</td>', state_badge(d.state, labels.states.get(d.state, d.state))))
    ours = d.platform_txn.txn_no if d.platform_txn_id and d.platform_txn.txn_no else "—"
    cells.append(format_html('<td class="mono">{}{}</td>', ours, labels.status_note(d.platform_status)))
    if d.statement_line_id:
        line = d.statement_line
        theirs = format_html("{}{}", line.channel_txn_no or line.txn_no, labels.status_note(d.bank_status))
    elif d.batch_no:
        theirs = format_html("{} {}", labels.batch, d.batch_no)
    else:
        theirs = "—"
    cells.append(format_html('<td class="mono">{}</td>', theirs))
    cells.append(
        format_html(
            '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>',
            _money_or_dash(d.platform_amount, d.currency),
            _money_or_dash(d.bank_amount, d.currency),
            format_money(d.effect, d.currency),
        )
    )
    if d.direction == EffectDirection.OVERAGE:
        direction = state_badge(d.direction, labels.overage)
    elif d.direction == EffectDirection.SHORTAGE:
        direction = state_badge(d.direction, labels.shortage)
    else:
        direction = "—"
    cells.append(format_html('<td class="nowrap">{}</td>', direction))
    age = None if d.state == DiscrepancyState.RESOLVED else (today - d.business_date).days  # as Discrepancy.age_days
    days = ngettext("%(n)s day", "%(n)s days", age) % {"n": age} if age is not None else ""
    cells.append(format_html('<td class="num nowrap">{}</td>', days))
    cells.append(format_html('<td class="note-cell">{}</td>', _discrepancy_note(d, labels)))
    return format_html("<tr>{}</tr>", mark_safe("".join(cells)))  # noqa: S308 (each cell built by format_html)


@register.simple_tag
def discrepancy_rows(rows, selectable=False, show_finding=False):
    """The queue's rows, built in Python: the busiest table of the product, where the template engine cost a
    quarter of the page's time. The same markup the other tables use (badges, money, dashes)."""
    labels, today = _Labels(), timezone.localdate()
    body = [_discrepancy_row(d, selectable=selectable, show_finding=show_finding, labels=labels, today=today) for d in rows]
    if not body:
        return format_html('<tr><td colspan="15" class="muted">{}</td></tr>', _("No discrepancy."))
    return mark_safe("\n".join(body))  # noqa: S308 (each row built by format_html)
