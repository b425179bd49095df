"""Staff roles: clerk (经办), checker (复核), admin, staff administrator, auditor (read-only); and the
payment core's API role.

Each role is a Django group. Its permissions are defined here, by app and codename, and synced by
a data migration and again after every ``migrate`` so models added later are covered. Syncing
only adds: a permission an administrator granted by hand is never taken away (a migration takes
away what a role must no longer hold, as backoffice 0005 did when staff administration was split off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from backoffice.core.masking import PERSONAL_DATA_PERMISSION

CLERK = "clerk"
CHECKER = "checker"
ADMIN = "admin"
AUDITOR = "auditor"
# Staff and API tokens: who may sign in, in which role. Holds nothing of money: cannot propose, approve,
# configure channels or books, or call the payment core's endpoints.
USER_ADMIN = "user_admin"
# Not a person: the payment core's API identity (token authentication).
PAYMENT_CORE = "payment_core"

ROLE_LABELS = {
    CLERK: _("Clerk"),
    CHECKER: _("Checker"),
    ADMIN: _("Administrator"),
    AUDITOR: _("Auditor"),
    USER_ADMIN: _("Staff administrator"),
    PAYMENT_CORE: _("Payment core (API)"),
}

# Apps whose data every role may read.
DOMAIN_APPS = ("accounts", "reconciliation")
# Apps an administrator configures in full (staff and tokens are the staff administrator's).
ADMIN_APPS = ("accounts", "reconciliation", "django_celery_beat")
# Apps a staff administrator manages in full: accounts, roles, sign-in lockouts (axes).
USER_ADMIN_APPS = ("auth", "axes")
# Apps an auditor reads besides the domain: the audit trail, schedules, task results, staff.
AUDIT_APPS = ("pghistory", "backoffice", "django_celery_beat", "django_celery_results", "auth", "axes")
PERSONAL_DATA_CODENAME = PERSONAL_DATA_PERMISSION.split(".")[1]


@dataclass(frozen=True)
class RoleSpec:
    view_apps: tuple[str, ...] = ()
    all_apps: tuple[str, ...] = ()
    # (app_label, codename) pairs; ones whose model does not exist yet are skipped until it does.
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # Codenames ``all_apps`` would grant that the role must not hold.
    withheld: tuple[str, ...] = ()


# The queue's and the books' work: the clerks' and checkers', never an administrator's (who configures money and gives
# the second approval above a threshold, but does not propose, approve or work items).
QUEUE_WORK = (
    "propose_resolution",
    "approve_resolution",
    "work_discrepancy",
    "add_savedfilter",
    "change_savedfilter",
    "delete_savedfilter",
    # The books' vouchers: entered by a clerk, approved by a checker, never written by hand otherwise.
    "add_voucher",
    "change_voucher",
    "delete_voucher",
    "approve_voucher",
    "add_entry",
    "change_entry",
    "delete_entry",
)


# What only the payment core does: push its transactions and report refund outcomes (its endpoints).
PAYMENT_CORE_WRITES = (
    "add_platformtransaction",
    "change_platformtransaction",
    "delete_platformtransaction",
    "change_refundorder",
)


ROLE_SPECS: dict[str, RoleSpec] = {
    CLERK: RoleSpec(
        view_apps=DOMAIN_APPS,
        extra=(
            ("reconciliation", "add_statementfile"),
            ("reconciliation", "add_reconciliationrun"),
            ("reconciliation", "propose_resolution"),
            ("reconciliation", "work_discrepancy"),
            ("accounts", "add_voucher"),
            ("reconciliation", "add_savedfilter"),
            ("reconciliation", "change_savedfilter"),
            ("reconciliation", "delete_savedfilter"),
        ),
    ),
    CHECKER: RoleSpec(
        view_apps=DOMAIN_APPS,
        extra=(
            ("reconciliation", "approve_resolution"),
            ("reconciliation", "work_discrepancy"),
            ("accounts", "approve_voucher"),
            ("reconciliation", "add_savedfilter"),
            ("reconciliation", "change_savedfilter"),
            ("reconciliation", "delete_savedfilter"),
        ),
    ),
    ADMIN: RoleSpec(
        view_apps=AUDIT_APPS,
        all_apps=ADMIN_APPS,
        extra=(("reconciliation", "approve_above_threshold"),),
        withheld=QUEUE_WORK + PAYMENT_CORE_WRITES,
    ),
    USER_ADMIN: RoleSpec(
        view_apps=("pghistory", "backoffice"),  # the trail of staff changes
        all_apps=USER_ADMIN_APPS,
        extra=(("backoffice", "issue_apitoken"),),
    ),
    AUDITOR: RoleSpec(view_apps=DOMAIN_APPS + AUDIT_APPS),
    PAYMENT_CORE: RoleSpec(
        extra=(
            ("reconciliation", "view_platformtransaction"),
            ("reconciliation", "add_platformtransaction"),
            ("reconciliation", "change_platformtransaction"),
            ("reconciliation", "view_statementfile"),
            ("reconciliation", "add_statementfile"),
            ("reconciliation", "view_reconciliationrun"),
            ("reconciliation", "add_reconciliationrun"),
            ("reconciliation", "view_discrepancy"),
            ("reconciliation", "view_refundorder"),
            ("reconciliation", "change_refundorder"),
        ),
    ),
}


def _permissions_for(spec: RoleSpec, permission_model) -> list:
    perms = permission_model.objects.select_related("content_type")
    # Audit-trail event models (named *event) are append-only: nobody is granted to change them.
    chosen = list(
        perms.filter(content_type__app_label__in=spec.all_apps)
        .exclude(content_type__model__endswith="event", codename__regex=r"^(add|change|delete)_")
        .exclude(codename__in=spec.withheld)
    )
    # "view_personal_data" also starts with view_, but is granted explicitly, never by app.
    chosen += list(
        perms.filter(content_type__app_label__in=spec.view_apps, codename__startswith="view_").exclude(
            codename=PERSONAL_DATA_CODENAME
        )
    )
    for app_label, codename in spec.extra:
        chosen += list(perms.filter(content_type__app_label=app_label, codename=codename))
    return chosen


def roles_sync(*, group_model=None, permission_model=None) -> None:
    """Create the four staff groups and grant each its permissions (add-only)."""
    if group_model is None or permission_model is None:
        from django.contrib.auth.models import Group, Permission

        group_model, permission_model = Group, Permission
    for name, spec in ROLE_SPECS.items():
        group, _created = group_model.objects.get_or_create(name=name)
        group.permissions.add(*_permissions_for(spec, permission_model))


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # post_migrate fires once per app; sync once, after our last app's permissions exist.
    if getattr(sender, "name", None) != "backoffice":
        return
    roles_sync()
