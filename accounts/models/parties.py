"""Parties: customers (individual or enterprise), their platform users, merchants and accounts."""

from __future__ import annotations

import pghistory
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.validators import validate_mcc, validate_resident_id, validate_uscc
from backoffice.core import history
from backoffice.core.db import choices_check
from backoffice.core.masking import mask_account_number
from backoffice.core.money import currency_field


class CustomerKind(models.TextChoices):
    INDIVIDUAL = "INDIVIDUAL", _("Individual")
    ENTERPRISE = "ENTERPRISE", _("Enterprise")


class IdType(models.TextChoices):
    RESIDENT_ID = "RESIDENT_ID", _("Resident ID card")
    PASSPORT = "PASSPORT", _("Passport")
    HK_MACAO_PERMIT = "HK_MACAO_PERMIT", _("Mainland travel permit (HK/Macao)")
    TAIWAN_PERMIT = "TAIWAN_PERMIT", _("Mainland travel permit (Taiwan)")
    FOREIGN_PERMANENT = "FOREIGN_PERMANENT", _("Foreign permanent resident ID")


class Verification(models.TextChoices):
    UNVERIFIED = "UNVERIFIED", _("Not verified")
    PENDING = "PENDING", _("Verification pending")
    VERIFIED = "VERIFIED", _("Verified")
    FAILED = "FAILED", _("Verification failed")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class Customer(models.Model):
    PERSONAL_FIELDS = {"id_number": "id_number"}

    Kind = CustomerKind
    IdType = IdType
    Verification = Verification

    customer_no = models.CharField(_("customer number"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200)
    id_type = models.CharField(_("ID type"), max_length=32, choices=IdType.choices, blank=True)
    id_number = models.CharField(_("ID number"), max_length=64, blank=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    legal_representative = models.CharField(_("legal representative"), max_length=100, blank=True)
    verification_status = models.CharField(
        _("real-name verification"), max_length=16, choices=Verification.choices, default=Verification.UNVERIFIED
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [("view_personal_data", _("Can view personal data unmasked"))]
        constraints = [
            choices_check("kind", CustomerKind, "customer_kind_valid"),
            choices_check("verification_status", Verification, "customer_verification_valid"),
            choices_check("id_type", IdType, "customer_id_type_valid", blank=True),
            models.CheckConstraint(
                condition=~Q(kind="INDIVIDUAL") | (~Q(id_type="") & ~Q(id_number="") & Q(credit_code="")),
                name="customer_individual_has_id",
                violation_error_message=_("An individual customer needs an ID type and number, and no credit code."),
            ),
            models.CheckConstraint(
                condition=~Q(kind="ENTERPRISE")
                | (~Q(credit_code="") & ~Q(legal_representative="") & Q(id_type="") & Q(id_number="")),
                name="customer_enterprise_has_credit_code",
                violation_error_message=_(
                    "An enterprise customer needs a unified social credit code and a legal representative."
                ),
            ),
            models.UniqueConstraint(
                fields=["id_type", "id_number"],
                condition=Q(kind="INDIVIDUAL"),
                name="customer_unique_identity",
                violation_error_message=_("A customer with this ID document already exists."),
            ),
            models.UniqueConstraint(
                fields=["credit_code"],
                condition=Q(kind="ENTERPRISE"),
                name="customer_unique_credit_code",
                violation_error_message=_("A customer with this unified social credit code already exists."),
            ),
            models.CheckConstraint(
                condition=Q(verified_at__isnull=True) | Q(verification_status="VERIFIED"),
                name="customer_verified_at_only_when_verified",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_no} {self.name}"

    def clean(self) -> None:
        errors: dict[str, list] = {}
        if self.kind == self.Kind.INDIVIDUAL:
            if not self.id_type:
                errors.setdefault("id_type", []).append(_("Required for an individual customer."))
            if not self.id_number:
                errors.setdefault("id_number", []).append(_("Required for an individual customer."))
            if self.credit_code:
                errors.setdefault("credit_code", []).append(_("Only enterprise customers have a credit code."))
            if self.id_type == self.IdType.RESIDENT_ID and self.id_number:
                try:
                    validate_resident_id(self.id_number)
                except ValidationError as exc:
                    errors.setdefault("id_number", []).extend(exc.messages)
        elif self.kind == self.Kind.ENTERPRISE:
            if not self.credit_code:
                errors.setdefault("credit_code", []).append(_("Required for an enterprise customer."))
            else:
                try:
                    validate_uscc(self.credit_code)
                except ValidationError as exc:
                    errors.setdefault("credit_code", []).extend(exc.messages)
            if not self.legal_representative:
                errors.setdefault("legal_representative", []).append(_("Required for an enterprise customer."))
            if self.id_type or self.id_number:
                errors.setdefault("id_number", []).append(_("An enterprise is identified by its credit code, not a personal ID."))
        if self.verification_status != self.Verification.VERIFIED and self.verified_at:
            errors.setdefault("verified_at", []).append(_("Only a verified customer has a verification time."))
        if errors:
            raise ValidationError(errors)


class CustomerUserStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    LOCKED = "LOCKED", _("Locked")
    CLOSED = "CLOSED", _("Closed")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class CustomerUser(models.Model):
    """A customer's login identity on the payment platform (not a staff login of this back office)."""

    PERSONAL_FIELDS = {"phone": "phone", "email": "email"}
    Status = CustomerUserStatus

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="users", verbose_name=_("customer"))
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("customer user")
        verbose_name_plural = _("customer users")
        constraints = [
            choices_check("status", CustomerUserStatus, "customeruser_status_valid"),
            models.CheckConstraint(
                condition=~Q(phone="") | ~Q(email=""),
                name="customeruser_has_login",
                violation_error_message=_("A user needs a phone number or an e-mail address."),
            ),
            models.UniqueConstraint(
                fields=["phone"],
                condition=~Q(phone=""),
                name="customeruser_unique_phone",
                violation_error_message=_("Another user already logs in with this phone number."),
            ),
            models.UniqueConstraint(
                fields=["email"],
                condition=~Q(email=""),
                name="customeruser_unique_email",
                violation_error_message=_("Another user already logs in with this e-mail address."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer.customer_no} / {self.pk}"

    def clean(self) -> None:
        if not self.phone and not self.email:
            raise ValidationError({"phone": _("A user needs a phone number or an e-mail address.")})


class AccountKind(models.TextChoices):
    WALLET = "WALLET", _("Wallet")
    SETTLEMENT = "SETTLEMENT", _("Settlement account")
    MARGIN = "MARGIN", _("Margin account")
    PREPAID = "PREPAID", _("Prepaid account")


class AccountStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    FROZEN = "FROZEN", _("Frozen")
    CLOSED = "CLOSED", _("Closed")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class Account(models.Model):
    """Holds a customer's funds or rights: a wallet, a settlement account, …"""

    PERSONAL_FIELDS = {"account_no": "account_number"}
    Kind = AccountKind
    Status = AccountStatus

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("customer"))
    account_no = models.CharField(_("account number"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    currency = currency_field(default="CNY")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            choices_check("kind", AccountKind, "account_kind_valid"),
            choices_check("status", AccountStatus, "account_status_valid"),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(status="CLOSED"),
                name="account_closed_at_only_when_closed",
            ),
        ]

    def __str__(self) -> str:
        # Masked: __str__ ends up in selects, links and logs seen by staff without the permission.
        return f"{mask_account_number(self.account_no)} ({self.get_kind_display()}, {self.currency})"


class MerchantStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    SUSPENDED = "SUSPENDED", _("Suspended")
    CLOSED = "CLOSED", _("Closed")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class Merchant(models.Model):
    """A customer acting as a merchant: the customer's business shadow (个人商户 / 企业商户)."""

    Status = MerchantStatus

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merchants", verbose_name=_("customer"))
    merchant_no = models.CharField(_("merchant number"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    mcc = models.CharField(_("MCC"), max_length=4, validators=[validate_mcc])
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    settlement_account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settling_merchants",
        verbose_name=_("settlement account"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        constraints = [
            choices_check("status", MerchantStatus, "merchant_status_valid"),
            models.CheckConstraint(condition=Q(mcc__regex=r"^\d{4}$"), name="merchant_mcc_four_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_no} {self.name}"

    def clean(self) -> None:
        account = self.settlement_account
        if account is not None and self.customer_id is not None:
            if account.customer_id != self.customer_id:
                raise ValidationError({"settlement_account": _("The settlement account must belong to the merchant's customer.")})
            if account.status == Account.Status.CLOSED:
                raise ValidationError({"settlement_account": _("This account is closed.")})
