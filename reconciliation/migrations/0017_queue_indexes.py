"""Indexes for the discrepancy queue's orderings (docs/benchmarks.md, "The discrepancy queue under load").

With 100,000 discrepancies the queue sorted the whole table for every page (an external merge sort on
disk: 90 ms as it opens, 160 ms sorted by amount). These two indexes hand PostgreSQL each ordering
ready-made, tie-breaking id included (``SortFilter`` always ends on it), so a page reads 50 index
entries backwards, filtered or not.

Raw SQL, and no change to the model's state: ``(abs(effect), id)`` is the expression the queue's
``abs_effect`` annotation sorts by. Declaring both in ``Discrepancy.Meta.indexes`` (with
``SeparateDatabaseAndState``) is the tidier home once that file is free to change.
"""

from django.db import migrations

TABLE = "reconciliation_discrepancy"


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0016_configuration_history_append_only"),
    ]

    operations = [
        # The default sort (-date) and every filter that keeps it (state, type, channel, direction, age).
        migrations.RunSQL(
            f"CREATE INDEX discrepancy_queue_date ON {TABLE} (business_date, id)",
            reverse_sql="DROP INDEX discrepancy_queue_date",
        ),
        # Sorted by the size of the money effect (sort=abs / -abs).
        migrations.RunSQL(
            f"CREATE INDEX discrepancy_queue_abs_effect ON {TABLE} ((abs(effect)), id)",
            reverse_sql="DROP INDEX discrepancy_queue_abs_effect",
        ),
    ]
