"""Enums are the one source of every state, type and outcome string: in Python, in SQL and in templates.

SQL text writes them through backoffice.core.db.sql_str/sql_list, never as literals; templates compare
only with values some enum holds; the pure parsers' enums mirror the models' choices; every choices
column and every currency column is held to its values by the database too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection, models

from backoffice.core.money import MINOR_UNITS, CurrencyField
from reconciliation import parsers
from reconciliation.models import BusinessType, Direction, FormatCode, LineStatus, StatementKind

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("accounts", "backoffice", "reconciliation")
SQL_WORDS = re.compile(r"\b(SELECT|UPDATE|INSERT INTO|DELETE FROM|WHERE|CASE WHEN)\b")
QUOTED_WORD = re.compile(r"'([A-Z][A-Z0-9_]{2,})'")
TEMPLATE_COMPARISON = re.compile(r"""(?:==|!=)\s*["']([A-Z][A-Z0-9_]{2,})["']""")


def _product_modules():
    for app in PRODUCT:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def _string_parts(tree: ast.AST):
    """Every literal piece of text in a module: plain strings and the fixed parts of f-strings."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_sql_text_holds_no_state_or_type_literal():
    found = []
    for path in _product_modules():
        for line, text in _string_parts(ast.parse(path.read_text(), str(path))):
            if SQL_WORDS.search(text) and QUOTED_WORD.search(text):
                found.append(f"{path.relative_to(ROOT)}:{line}: {QUOTED_WORD.findall(text)}")
    assert not found, "write enum values into SQL with sql_str()/sql_list():\n" + "\n".join(found)


def _enum_values() -> set[str]:
    import backoffice.urls  # noqa: F401  (imports every screen, and the choices they define)

    values = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            values.update(str(value) for value, _label in getattr(field, "flatchoices", None) or [])
    found = [models.TextChoices]
    while found:
        cls = found.pop()
        found.extend(cls.__subclasses__())
        values.update(getattr(cls, "values", []))
    return values


def test_templates_compare_only_with_enum_values():
    known = _enum_values()
    unknown = []
    for path in (ROOT / "templates").rglob("*.html"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            unknown += [f"{path.relative_to(ROOT)}:{number}: {v}" for v in TEMPLATE_COMPARISON.findall(line) if v not in known]
    assert not unknown, "templates compare with strings no enum holds:\n" + "\n".join(unknown)


@pytest.mark.parametrize(
    "pure, choices",
    [
        (parsers.LineType, BusinessType),
        (parsers.LineStatus, LineStatus),
        (parsers.Direction, Direction),
        (parsers.StatementKind, StatementKind),
    ],
)
def test_the_parsers_enums_mirror_the_models_choices(pure, choices):
    assert {str(member) for member in pure} == set(choices.values)


def test_the_format_registry_mirrors_the_format_choices():
    assert set(parsers.FORMATS) == set(FormatCode.values)


def _our_models():
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label in PRODUCT and not model._meta.proxy and not model.__name__.endswith("Event")
    ]


def _check_conditions(model) -> list[str]:
    return [str(c.condition) for c in model._meta.constraints if isinstance(c, models.CheckConstraint)]


def test_every_choices_column_is_held_to_its_values_by_a_check():
    missing = []
    for model in _our_models():
        conditions = _check_conditions(model)
        for field in model._meta.concrete_fields:
            if field.choices and not any(f"'{field.name}__in'" in c for c in conditions):
                missing.append(f"{model._meta.label}.{field.name}")
    assert not missing, "choices without a CHECK (backoffice.core.db.choices_check): " + ", ".join(missing)


def test_every_currency_column_is_a_currency_field():
    plain = [
        f"{model._meta.label}.{field.name}"
        for model in _our_models()
        for field in model._meta.concrete_fields
        if "currency" in field.name and not isinstance(field, CurrencyField)
    ]
    assert not plain, "use backoffice.core.money.currency_field(): " + ", ".join(plain)


@pytest.mark.django_db
def test_the_database_checks_every_currency_column():
    currency_columns = {
        (model._meta.db_table, field.column)
        for model in _our_models()
        for field in model._meta.concrete_fields
        if isinstance(field, CurrencyField)
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, a.attname, pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(k.conkey)
            WHERE k.contype = 'c' AND k.conname LIKE %s AND NOT c.relispartition  -- a partition has its table's
            """,
            ["%_currency_supported"],
        )
        checked = {(table, column): definition for table, column, definition in cursor.fetchall()}
    assert set(checked) == currency_columns
    for definition in checked.values():
        assert all(code in definition for code in MINOR_UNITS)
