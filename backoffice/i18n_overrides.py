"""Labels of third-party apps that ship no (or an incomplete) Chinese catalogue.

Listed here so ``makemessages`` extracts them into our catalogue, which takes precedence over the
packages' own (LOCALE_PATHS comes first).
"""

from django.utils.translation import gettext_noop

THIRD_PARTY_LABELS = (
    gettext_noop("Celery Results"),
    gettext_noop("task result"),
    gettext_noop("task results"),
    gettext_noop("group result"),
    gettext_noop("group results"),
)
