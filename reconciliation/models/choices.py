"""Choices shared by several reconciliation models."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class BusinessType(models.TextChoices):
    COLLECTION = "COLLECTION", _("Collection")
    PAYOUT = "PAYOUT", _("Payout")
    REFUND = "REFUND", _("Refund")
    BATCH_PAYOUT = "BATCH_PAYOUT", _("Batch payout")
    RECHARGE = "RECHARGE", _("Recharge")
    OTHER = "OTHER", _("Other")


class Rounding(models.TextChoices):
    """decimal rounding modes, stored by their decimal module names."""

    HALF_UP = "ROUND_HALF_UP", _("Half up")
    HALF_EVEN = "ROUND_HALF_EVEN", _("Half even (banker's)")
    DOWN = "ROUND_DOWN", _("Down (truncate)")
