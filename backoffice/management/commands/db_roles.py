from django.conf import settings
from django.core.management.base import BaseCommand

from backoffice.core.db_roles import grants_apply, roles_create


class Command(BaseCommand):
    help = (
        "Set up the two database roles: the owner (runs migrations) and the application's role (owns "
        "nothing; the audit trail is append-only for it). With --create (as a superuser): create both "
        "roles and give the database and its tables to the owner. Then grant the application's role."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", default=settings.DATABASE_OWNER_ROLE, help="the owner role (default %(default)s)")
        parser.add_argument("--app", default=settings.DATABASE_APP_ROLE, help="the application's role (default %(default)s)")
        parser.add_argument("--create", action="store_true", help="create the roles and hand ownership over (superuser)")

    def handle(self, *args, **options):
        if options["create"]:
            roles_create(owner=options["owner"], app_role=options["app"])
            self.stdout.write(f"roles {options['owner']} (owner) and {options['app']} (application) ready")
        append_only = grants_apply(options["app"])
        self.stdout.write(f"{options['app']} granted; append-only for it: {len(append_only)} audit and history tables")
