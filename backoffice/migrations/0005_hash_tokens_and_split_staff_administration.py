"""API tokens kept as hashes from now on; staff administration split off the administrator's role.

- Every plain DRF token becomes a hashed backoffice.ApiToken (the same key keeps working) and the plain
  row is deleted, so no readable key is left in the database.
- The administrator group loses what it must no longer hold: staff and token administration (now the
  staff administrator's), the queue's and the books' work, and the payment core's writes. Role syncing
  only ever adds, so taking away is done here, once.
"""

import hashlib

from django.db import migrations
from django.utils import timezone

TAKEN_FROM_ADMIN_APPS = ("auth", "authtoken", "axes")


def hash_plain_tokens(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("backoffice", "ApiToken")
    for token in Token.objects.all():
        ApiToken.objects.get_or_create(
            key_hash=hashlib.sha256(token.key.encode()).hexdigest(),
            defaults={
                "user_id": token.user_id,
                "name": "migrated token",
                "prefix": token.key[:8],
                "created_at": token.created or timezone.now(),
            },
        )
    Token.objects.all().delete()


def split_staff_administration(apps, schema_editor):
    from backoffice.core.roles import ADMIN, PAYMENT_CORE_WRITES, QUEUE_WORK, roles_sync

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    roles_sync(group_model=Group, permission_model=Permission)  # creates the staff administrator's group
    admin = Group.objects.filter(name=ADMIN).first()
    if admin is None:
        return
    taken = Permission.objects.filter(content_type__app_label__in=TAKEN_FROM_ADMIN_APPS).exclude(codename__startswith="view_")
    taken = taken | Permission.objects.filter(codename__in=QUEUE_WORK + PAYMENT_CORE_WRITES)
    admin.permissions.remove(*taken)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0004_staff_history_and_api_tokens"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("axes", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(hash_plain_tokens, migrations.RunPython.noop),
        migrations.RunPython(split_staff_administration, migrations.RunPython.noop),
    ]
