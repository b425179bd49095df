"""Database helpers shared by the apps: integrity constraints, SQL literals, a side connection."""

from __future__ import annotations

import psycopg
from django.db import connection, models


def choices_check(field: str, choices: type[models.TextChoices], name: str, *, blank: bool = False) -> models.CheckConstraint:
    """A CHECK constraint restricting a status/kind column to its TextChoices values ('' too if ``blank``)."""
    allowed = [*choices.values, ""] if blank else choices.values
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": allowed}), name=name)


def independent_connection() -> psycopg.Connection:
    """A new autocommit connection to Django's database, outside Django's transaction: what it writes
    (a job's progress) is visible to others while the job's own transaction is still open."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


def sql_str(value: str) -> str:
    """A string as an SQL literal, 'VALUE' with quotes doubled. SQL text that names a state, type or
    outcome writes ``sql_str(Enum.MEMBER)``, so the enum stays the one source of the string."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(values) -> str:
    """Strings as a list of SQL literals for IN (...): 'A', 'B'."""
    return ", ".join(sql_str(value) for value in values)
