"""The clerk screens (namespace "reconciliation")."""

from django.urls import path

from reconciliation.web.views import bank_journal, clearing, discrepancies, runs, statements

app_name = "reconciliation"

urlpatterns = [
    path("statements/", statements.statement_list, name="statement_list"),
    path("statements/upload/", statements.statement_upload, name="statement_upload"),
    path("statements/<int:pk>/", statements.statement_detail, name="statement_detail"),
    path("statements/<int:pk>/progress/", statements.statement_progress, name="statement_progress"),
    path("statements/<int:pk>/replace/", statements.statement_replace_view, name="statement_replace"),
    path("statements/<int:pk>/parse-again/", statements.statement_parse_again_view, name="statement_parse_again"),
    path("runs/", runs.run_list, name="run_list"),
    path("runs/request/", runs.run_request, name="run_request"),
    path("runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("runs/<int:pk>/progress/", runs.run_progress, name="run_progress"),
    path("clearing/", clearing.clearing_view, name="clearing"),
    path("funds/", clearing.fund_report, name="fund_report"),
    path("books/bank-journal/", bank_journal.bank_journal_view, name="bank_journal"),
    path("discrepancies/", discrepancies.discrepancy_list, name="discrepancy_list"),
    path("discrepancies/bulk/", discrepancies.discrepancy_bulk, name="discrepancy_bulk"),
    path("discrepancies/pair/", discrepancies.discrepancy_pair, name="discrepancy_pair"),
    path("discrepancies/<int:pk>/", discrepancies.discrepancy_detail, name="discrepancy_detail"),
    path("discrepancies/<int:pk>/<str:verb>/", discrepancies.discrepancy_act, name="discrepancy_act"),
    path("approvals/", discrepancies.approvals, name="approvals"),
    path("filters/save/", discrepancies.saved_filter_save, name="saved_filter_save"),
    path("filters/<int:pk>/delete/", discrepancies.saved_filter_delete, name="saved_filter_delete"),
]
