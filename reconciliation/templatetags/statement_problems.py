"""A statement file's refusal and warnings as the reader sees them: in their language, where known located."""

from __future__ import annotations

from django import template

from reconciliation.services.intake.messages import located, problems_shown

register = template.Library()


@register.filter
def problems(entries) -> list[dict]:
    """``f.errors|problems``: each stored problem with its ``reason`` in the active language, its ``line`` and
    ``field`` (None when the problem has none, so a template never shows an empty line number)."""
    return problems_shown(entries)


@register.filter
def problem_located(problem: dict) -> str:
    """A shown problem as one text: ``line 12, field 应结订单金额: reason`` (only what is known is named)."""
    return located(problem["reason"], line=problem["line"], field=problem["field"])
