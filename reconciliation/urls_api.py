from rest_framework.routers import DefaultRouter

from reconciliation import api

router = DefaultRouter()
router.register("transactions", api.TransactionViewSet, basename="transaction")
router.register("statements", api.StatementFileViewSet, basename="statement")

urlpatterns = router.urls
