from django.urls import path

from reconciliation import views

app_name = "reconciliation"

urlpatterns = [
    path("statements/", views.statement_list, name="statement_list"),
    path("statements/upload/", views.statement_upload, name="statement_upload"),
    path("statements/<int:pk>/", views.statement_detail, name="statement_detail"),
    path("statements/<int:pk>/progress/", views.statement_progress, name="statement_progress"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/request/", views.run_request, name="run_request"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("discrepancies/", views.discrepancy_list, name="discrepancy_list"),
    path("discrepancies/bulk/", views.discrepancy_bulk, name="discrepancy_bulk"),
    path("discrepancies/<int:pk>/", views.discrepancy_detail, name="discrepancy_detail"),
    path("discrepancies/<int:pk>/<str:verb>/", views.discrepancy_act, name="discrepancy_act"),
    path("approvals/", views.approvals, name="approvals"),
    path("filters/save/", views.saved_filter_save, name="saved_filter_save"),
    path("filters/<int:pk>/delete/", views.saved_filter_delete, name="saved_filter_delete"),
]
