from django.contrib import admin
from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from backoffice.dashboard import views

admin.site.site_header = _("Clearing back office")
admin.site.site_title = _("Clearing back office")
admin.site.index_title = _("Configuration")

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("reconciliation.web.urls")),
    path("", include("reconciliation.web.urls_exports")),
    path("", include("accounts.web.urls")),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("reconciliation.api.urls")),
    # DRF views opt out of the login middleware (they authenticate themselves); the browsable docs
    # send a browser without a session to the login page instead.
    path("docs/api/", login_required(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("docs/api/redoc/", login_required(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
]

# Errors under /api/ are JSON, never an HTML page (backoffice/core/api.py); elsewhere Django's pages.
handler400 = "backoffice.core.api.api_bad_request"
handler403 = "backoffice.core.api.api_permission_denied"
handler404 = "backoffice.core.api.api_page_not_found"
handler500 = "backoffice.core.api.api_server_error"
