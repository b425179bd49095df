"""``python -m backoffice.core.embedded_db [stop]``: print the embedded server's URL (starting it), or
stop it (``make stop-db``). The data directory is EMBEDDED_PGDATA, else var/pgdata."""

import os
import sys
from pathlib import Path

from backoffice.core.embedded_db import embedded_server_start, embedded_server_stop

pgdata = Path(os.environ.get("EMBEDDED_PGDATA", "var/pgdata")).resolve()
if sys.argv[1:] == ["stop"]:
    print("embedded PostgreSQL stopped" if embedded_server_stop(pgdata) else "embedded PostgreSQL was not running")
else:
    print(embedded_server_start(pgdata).url())
