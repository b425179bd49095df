from django.core.management.base import BaseCommand
from django.utils import timezone

from backoffice.demo.world import DEMO_API_TOKEN, DEMO_API_USER, DEMO_STAFF, demo_seed


class Command(BaseCommand):
    help = "Create the demo world (staff for each role, banks, channels, fee models, customers). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=3, help="days of demo records and statements (default 3)")

    def handle(self, *args, **options):
        summary = demo_seed(now=timezone.now(), activity_days=options["days"])
        if summary.created:
            created = ", ".join(f"{n} {label}" for label, n in sorted(summary.created.items()))
            self.stdout.write(f"created: {created}")
        else:
            self.stdout.write("demo data already present: nothing changed")
        self.stdout.write("demo logins:")
        for role, (username, password) in DEMO_STAFF.items():
            self.stdout.write(f"  {role:<8} {username} / {password}")
        self.stdout.write(f"payment core API: user {DEMO_API_USER}, header 'Authorization: Token {DEMO_API_TOKEN}'")
