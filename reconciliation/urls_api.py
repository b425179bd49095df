from rest_framework.routers import DefaultRouter

from reconciliation import api

router = DefaultRouter()
router.register("transactions", api.TransactionViewSet, basename="transaction")
router.register("statements", api.StatementFileViewSet, basename="statement")
router.register("runs", api.RunViewSet, basename="run")
router.register("discrepancies", api.DiscrepancyViewSet, basename="discrepancy")

urlpatterns = router.urls
