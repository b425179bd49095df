from django.urls import path

from reconciliation import views

app_name = "reconciliation"

urlpatterns = [
    path("statements/", views.statement_list, name="statement_list"),
    path("statements/upload/", views.statement_upload, name="statement_upload"),
    path("statements/<int:pk>/", views.statement_detail, name="statement_detail"),
    path("statements/<int:pk>/progress/", views.statement_progress, name="statement_progress"),
]
