"""The reconciliation app in Django's admin: configuration (banks, channels, fee models, statement
formats and sources) and read-only records."""

from reconciliation.admin import config, records  # noqa: F401  (each module registers its ModelAdmins)
