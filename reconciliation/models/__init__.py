from reconciliation.models.channels import Bank, BankAccount, Channel, FeeModel, FeeTier, Holiday
from reconciliation.models.choices import BusinessType, Rounding
from reconciliation.models.statements import (
    Direction,
    FormatCode,
    FundMovement,
    LineStatus,
    LineType,
    StatementFile,
    StatementFormat,
    StatementKind,
    StatementLine,
    StatementSource,
)
from reconciliation.models.transactions import STATUS_MOVES, PlatformTransaction, TransactionConflict, TransactionStatus

__all__ = [
    "STATUS_MOVES",
    "Bank",
    "BankAccount",
    "BusinessType",
    "Channel",
    "Direction",
    "FeeModel",
    "FeeTier",
    "FormatCode",
    "FundMovement",
    "Holiday",
    "LineStatus",
    "LineType",
    "PlatformTransaction",
    "Rounding",
    "StatementFile",
    "StatementFormat",
    "StatementKind",
    "StatementLine",
    "StatementSource",
    "TransactionConflict",
    "TransactionStatus",
]
