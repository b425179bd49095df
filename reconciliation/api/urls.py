from django.urls import path
from rest_framework.routers import DefaultRouter

from reconciliation.api import views as api

router = DefaultRouter()
router.register("transactions", api.TransactionViewSet, basename="transaction")
router.register("statements", api.StatementFileViewSet, basename="statement")
router.register("runs", api.RunViewSet, basename="run")
router.register("discrepancies", api.DiscrepancyViewSet, basename="discrepancy")
router.register("refund-orders", api.RefundOrderViewSet, basename="refund-order")

urlpatterns = [
    path("discrepancies/<int:pk>/propose/", api.discrepancy_propose_api, name="api-discrepancy-propose"),
    path("discrepancies/pair/", api.discrepancies_pair_api, name="api-discrepancies-pair"),
    path("resolutions/<int:pk>/approve/", api.resolution_approve_api, name="api-resolution-approve"),
    path("resolutions/<int:pk>/reject/", api.resolution_reject_api, name="api-resolution-reject"),
    *router.urls,
]
