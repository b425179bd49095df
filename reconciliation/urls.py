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
]
