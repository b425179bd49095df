from decimal import Decimal, InvalidOperation

from django import template
from django.utils.html import format_html

from backoffice.core.money import format_money, format_percent
from backoffice.core.roles import ROLE_LABELS

register = template.Library()


@register.filter
def money(amount, currency=""):
    """An amount with its currency, grouped and fixed to the currency's minor unit. Accepts the decimal
    strings stored in JSON totals; anything else that is not a Decimal is shown empty, never as a float."""
    if isinstance(amount, str) and amount:
        try:
            amount = Decimal(amount)
        except InvalidOperation:
            return amount
    if not isinstance(amount, Decimal | int):
        return ""
    return format_money(Decimal(amount), currency)


@register.filter
def percent(rate):
    """0.006 -> '0.60%' (at least two decimals, more when the rate has them)."""
    return format_percent(rate)


@register.simple_tag(takes_context=True)
def user_roles(context):
    user = context["request"].user
    names = [str(ROLE_LABELS.get(g.name, g.name)) for g in user.groups.all()]
    if user.is_superuser:
        names.insert(0, "superuser")
    return ", ".join(names)


@register.simple_tag
def state_badge(value, label):
    """A state shown as text with a shape marker, readable without colour."""
    return format_html('<span class="badge badge-{}">{}</span>', str(value).lower(), label)
