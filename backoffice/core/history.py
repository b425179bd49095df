"""The audit trail's update tracker (django-pghistory), planned afresh at every statement.

``PGHISTORY_LEVEL`` is ``Statement``: one trigger call per statement writes all its events from the transition
tables. pghistory's update event pairs the old and new rows with a join of the two transition tables, and
PL/pgSQL plans a trigger's static statement once per connection, with the transition tables' sizes as they
were at that first call (often one row, or none). The join is then a nested loop for ever after in that
connection: an update of 10,000 rows following one of a single row compared 100 million pairs (40 s instead
of 0.1 s, measured), and a long-lived worker connection meets exactly that sequence. Executed as dynamic
SQL the statement is planned at each call with the tables' real sizes (a hash join), for a fraction of a
millisecond of planning per statement. Every tracked model uses this ``UpdateEvent`` instead of pghistory's.
"""

from __future__ import annotations

import pghistory
import pghistory.trigger
import pgtrigger

_QUOTE = "$pgh_event$"  # the function's own body is quoted with $$


class _PlannedPerStatement(pghistory.trigger.Event):
    """pghistory's event trigger with its statement-level SQL run by EXECUTE."""

    def render_func(self, model) -> str:
        rendered = super().render_func(model)
        if self.level != pgtrigger.Statement:
            return rendered
        statement, returned, after = rendered.rpartition("RETURN NULL;")
        if not returned or _QUOTE in statement:
            raise ValueError(f"unexpected pghistory trigger for {model._meta.label}: {rendered!r}")
        return f"EXECUTE {_QUOTE}{statement.strip().rstrip(';').strip()}{_QUOTE};\n{returned}{after}"


class UpdateEvent(pghistory.UpdateEvent):
    def add_event_trigger(self, event_model):
        pgtrigger.register(
            _PlannedPerStatement(
                event_model=event_model,
                label=self.label,
                name=self.trigger_name,
                row=self.row,
                operation=self.operation,
                condition=self.condition,
                level=self.level,
            )
        )(event_model.pgh_tracked_model)
