"""A Django database backend: PostgreSQL on the embedded server, which the first connection starts."""

from __future__ import annotations

from pathlib import Path

from django.db.backends.postgresql import base as postgresql

from backoffice.core.embedded_db import embedded_server_address


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_connection_params(self) -> dict:
        address = embedded_server_address(Path(self.settings_dict["EMBEDDED_DATA_DIR"]))
        # Known only once the server runs; tools reading settings_dict afterwards (dbshell) see them too.
        self.settings_dict.update(HOST=address.host, PORT=address.port)
        return super().get_connection_params()
