"""Database helpers shared by the apps: integrity constraints, SQL literals, a side connection."""

from __future__ import annotations

import psycopg
from django.db import connection, models


def choices_check(field: str, choices: type[models.TextChoices], name: str) -> models.CheckConstraint:
    """A CHECK constraint restricting a status/kind column to its TextChoices values."""
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": choices.values}), name=name)


def independent_connection() -> psycopg.Connection:
    """A new autocommit connection to Django's database, outside Django's transaction: what it writes
    (a job's progress) is visible to others while the job's own transaction is still open."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)
