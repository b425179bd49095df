from decimal import Decimal

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from backoffice.core.money import format_money
from reconciliation.models import MATCHED_OUTCOMES, Action, BusinessType, Direction, runs

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
