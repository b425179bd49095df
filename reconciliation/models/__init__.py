from reconciliation.models.channels import Bank, BankAccount, Channel, FeeModel, FeeTier, Holiday
from reconciliation.models.choices import BusinessType, Rounding

__all__ = ["Bank", "BankAccount", "BusinessType", "Channel", "FeeModel", "FeeTier", "Holiday", "Rounding"]
