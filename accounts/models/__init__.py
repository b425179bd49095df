"""The accounts app: the parties (parties.py) and, beside them, the books (chart of accounts, vouchers,
postings, bank journal)."""

from accounts.models.parties import (
    Account,
    AccountKind,
    AccountStatus,
    Customer,
    CustomerKind,
    CustomerUser,
    CustomerUserStatus,
    IdType,
    Merchant,
    MerchantStatus,
    Verification,
)

__all__ = [
    "Account",
    "AccountKind",
    "AccountStatus",
    "Customer",
    "CustomerKind",
    "CustomerUser",
    "CustomerUserStatus",
    "IdType",
    "Merchant",
    "MerchantStatus",
    "Verification",
]
