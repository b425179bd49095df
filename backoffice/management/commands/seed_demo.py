from django.core.management.base import BaseCommand

from backoffice.demo import DEMO_STAFF, demo_seed


class Command(BaseCommand):
    help = "Create the demo world (staff for each role, banks, channels, fee models, customers). Idempotent."

    def handle(self, *args, **options):
        summary = demo_seed()
        if summary.created:
            created = ", ".join(f"{n} {label}" for label, n in sorted(summary.created.items()))
            self.stdout.write(f"created: {created}")
        else:
            self.stdout.write("demo data already present: nothing changed")
        self.stdout.write("demo logins:")
        for role, (username, password) in DEMO_STAFF.items():
            self.stdout.write(f"  {role:<8} {username} / {password}")
