from django.shortcuts import render
from django.utils import timezone

from reconciliation.selectors import channels_with_current_fees


def dashboard(request):
    now = timezone.now()
    return render(request, "backoffice/dashboard.html", {"channels": channels_with_current_fees(at=now), "now": now})
