"""Progress of a long job, visible to other sessions while the job's own transaction is still open.

A parse writes its rows inside one transaction (all or nothing), so its progress cannot be written on
that connection: nobody would see it before the commit. The reporter uses a second, autocommit
connection to the same database and writes at most a few times a second.
"""

from __future__ import annotations

import time

import psycopg

from backoffice.core.db import independent_connection

# Seconds between two progress writes.
MIN_INTERVAL = 0.5


class ProgressReporter:
    def __init__(self, statement_file_id: int):
        self.statement_file_id = statement_file_id
        self._last = 0.0
        self._conn: psycopg.Connection | None = None

    def __enter__(self) -> ProgressReporter:
        self._conn = independent_connection()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._conn is not None:
            self._conn.close()

    def report(self, lines: int) -> None:
        now = time.monotonic()
        if now - self._last < MIN_INTERVAL:
            return
        self._last = now
        self._conn.execute(
            "UPDATE reconciliation_statementfile SET progress_lines = %s WHERE id = %s", [lines, self.statement_file_id]
        )
