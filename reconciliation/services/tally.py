"""The discrepancy tally (``DiscrepancyTally``): folding its rows (what it adds up to, and the check
against the discrepancies it counts: ``reconciliation.selectors.discrepancies``).

The database's triggers append one row per key and statement; between two compactions a key may have
many rows, all of which the readers add up. Compaction replaces every key's rows by their sum in one
statement, so a reader sees the rows either before or after it, and a writer appending meanwhile is
neither blocked nor lost (its rows are not among those deleted and stay beside the sum).
"""

from __future__ import annotations

import logging

from django.db import connection, transaction

from reconciliation.models import DiscrepancyTally
from reconciliation.models.runs import TALLY_KEYS

log = logging.getLogger(__name__)

_KEYS = ", ".join(TALLY_KEYS)
_COMPACT_SQL = f"""
    WITH folded AS (DELETE FROM reconciliation_discrepancytally RETURNING *)
    INSERT INTO reconciliation_discrepancytally ({_KEYS}, items_change, overage_change, shortage_change)
    SELECT {_KEYS}, sum(items_change), sum(overage_change), sum(shortage_change)
    FROM folded
    GROUP BY {_KEYS}
    HAVING sum(items_change) <> 0 OR sum(overage_change) <> 0 OR sum(shortage_change) <> 0
"""


@transaction.atomic
def discrepancy_tally_compact() -> tuple[int, int]:
    """Fold every key's rows into one (keys that add up to nothing disappear). Returns the number of
    rows before and after."""
    before = DiscrepancyTally.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(_COMPACT_SQL)
        after = cursor.rowcount
    log.info("discrepancy tally compacted: %d rows to %d", before, after)
    return before, after
