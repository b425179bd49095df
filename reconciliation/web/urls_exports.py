"""Export downloads, included at the site root: /discrepancies/export.csv, /audit/export.xlsx, …"""

from django.urls import re_path

from reconciliation.web.views import bank_journal, clearing
from reconciliation.web.views import exports as views_exports

app_name = "exports"

FORMAT = r"(?P<fmt>csv|xlsx)"

urlpatterns = [
    re_path(rf"^discrepancies/export\.{FORMAT}$", views_exports.discrepancy_export, name="discrepancies"),
    re_path(rf"^audit/export\.{FORMAT}$", views_exports.audit_export, name="audit"),
    re_path(rf"^runs/export\.{FORMAT}$", views_exports.run_export, name="runs"),
    re_path(rf"^clearing/export\.{FORMAT}$", clearing.clearing_export, name="clearing"),
    re_path(rf"^books/bank-journal/export\.{FORMAT}$", bank_journal.bank_journal_export, name="bank_journal"),
]
