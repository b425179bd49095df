from django import template

from reconciliation.models import Direction, LineType

register = template.Library()


@register.filter
def type_label(key: str) -> str:
    """A totals key (a line type or a debit/credit direction) as its translated label."""
    for choices in (LineType, Direction):
        if key in choices.values:
            return choices(key).label
    return key
