"""Banks, payment channels, our bank accounts, fee models and the business-day calendar."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pghistory
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Func, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.core import history
from backoffice.core.db import choices_check
from backoffice.core.money import currency_field, is_on_minor_unit, money_field
from reconciliation.models.choices import BusinessType, Rounding

code_validator = RegexValidator(
    r"^[A-Z][A-Z0-9_]{1,31}$", _("Use 2–32 capital letters, digits or underscores, starting with a letter.")
)


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class Bank(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(_("name"), max_length=200)
    swift_bic = models.CharField(_("SWIFT BIC"), max_length=11, blank=True)
    cnaps_code = models.CharField(_("CNAPS code"), max_length=12, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("bank")
        verbose_name_plural = _("banks")

    def __str__(self) -> str:
        return self.name


class BankAccountKind(models.TextChoices):
    RESERVE = "RESERVE", _("Reserve")
    GENERAL = "GENERAL", _("General")
    FEE = "FEE", _("Fee account")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class BankAccount(models.Model):
    """One of OUR accounts at a bank: customer reserve funds (备付金), general (一般户) or fees."""

    PERSONAL_FIELDS = {"account_no": "account_number"}
    Kind = BankAccountKind

    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("bank"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    account_no = models.CharField(_("account number"), max_length=40)
    account_name = models.CharField(_("account name"), max_length=200)
    branch = models.CharField(_("branch"), max_length=200, blank=True)
    currency = currency_field(default="CNY")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("bank account")
        verbose_name_plural = _("bank accounts")
        constraints = [
            choices_check("kind", BankAccountKind, "bankaccount_kind_valid"),
            models.UniqueConstraint(fields=["bank", "account_no"], name="bankaccount_unique_number"),
        ]

    def __str__(self) -> str:
        # Never the full number: __str__ ends up in selects, logs and exports.
        return f"{self.bank.name} {self.get_kind_display()} ****{self.account_no[-4:]}"


class HolidayKind(models.TextChoices):
    HOLIDAY = "HOLIDAY", _("Holiday")
    WORKDAY = "WORKDAY", _("Make-up working day")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class Holiday(models.Model):
    """A day that differs from the Monday–Friday rule in the working-day calendar.

    HOLIDAY: a weekday with no bank business. WORKDAY: a weekend day worked (调休补班).
    """

    Kind = HolidayKind

    day = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        constraints = [choices_check("kind", HolidayKind, "holiday_kind_valid")]

    def __str__(self) -> str:
        return f"{self.day} {self.name or self.get_kind_display()}"


class ChannelKind(models.TextChoices):
    BANK_DIRECT = "BANK_DIRECT", _("Bank direct connection")
    WECHAT = "WECHAT", _("WeChat Pay")
    ALIPAY = "ALIPAY", _("Alipay")
    UNIONPAY = "UNIONPAY", _("UnionPay")
    OTHER = "OTHER", _("Other")


class SettlementCycle(models.TextChoices):
    T0 = "T0", _("T+0 (same day)")
    T1 = "T1", _("T+1 (next business day)")


class MatchKey(models.TextChoices):
    CHANNEL_TXN_NO = "CHANNEL_TXN_NO", _("Channel's serial number")
    TXN_NO = "TXN_NO", _("Our order number echoed by the channel")


class ChannelCalendar(models.TextChoices):
    EVERY_DAY = "EVERY_DAY", _("Every calendar day")
    WORKING_DAYS = "WORKING_DAYS", _("Working days (Mon–Fri, holiday calendar)")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class Channel(models.Model):
    """One payment route through a bank or institution."""

    Kind = ChannelKind
    SettlementCycle = SettlementCycle
    MatchKey = MatchKey
    Calendar = ChannelCalendar

    code = models.CharField(_("code"), max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(_("name"), max_length=200)
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="channels", verbose_name=_("bank"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    currency = currency_field(default="CNY")
    settlement_account = models.ForeignKey(
        BankAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settling_channels",
        verbose_name=_("settlement account"),
        help_text=_("Our reserve account where this channel settles."),
    )
    settlement_cycle = models.CharField(
        _("settlement cycle"), max_length=2, choices=SettlementCycle.choices, default=SettlementCycle.T1
    )
    settlement_times = ArrayField(
        models.TimeField(),
        verbose_name=_("settlement times"),
        default=list,
        blank=True,
        help_text=_("Times of day the channel settles, comma separated (a T+0 channel may settle several times)."),
    )
    cutoff_time = models.TimeField(
        _("day cutoff"),
        default=time(0, 0),
        help_text=_("Transactions at or after this time belong to the next business date. 00:00 = midnight."),
    )
    statement_ready_time = models.TimeField(
        _("statement ready at"),
        default=time(9, 0),
        help_text=_("When the channel's statements for the previous day are available."),
    )
    calendar = models.CharField(_("calendar"), max_length=16, choices=Calendar.choices, default=Calendar.EVERY_DAY)
    carry_over_days = models.PositiveSmallIntegerField(
        _("carry-over window (business days)"),
        default=2,
        help_text=_("How long an unmatched item waits for a later file (T+1, T+2) before it becomes open."),
    )
    match_key = models.CharField(_("match key"), max_length=16, choices=MatchKey.choices, default=MatchKey.TXN_NO)
    amount_tolerance = money_field(
        _("amount tolerance"),
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("Largest difference between our amount and the channel's still treated as equal."),
    )
    fee_tolerance = money_field(
        _("fee tolerance"),
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("Largest difference between the channel's fee and our fee model still treated as equal."),
    )
    approval_threshold = money_field(
        _("second approval above"),
        default=50000,
        validators=[MinValueValidator(0)],
        help_text=_("Resolutions of more than this amount need a second approval by an administrator."),
    )
    double_payment_window_hours = models.PositiveIntegerField(
        _("double-payment window (hours)"),
        default=72,
        help_text=_(
            "A successful payout to the same payee and amount within this many hours of another one (or of one "
            "we recorded as failed or unknown) is flagged as a double-payment risk. 0 = compare retries of the "
            "same business order only."
        ),
    )
    write_off_threshold = money_field(
        _("write-off limit"),
        default=10,
        validators=[MinValueValidator(0)],
        help_text=_("Largest discrepancy that may be written off."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        constraints = [
            choices_check("kind", ChannelKind, "channel_kind_valid"),
            choices_check("settlement_cycle", SettlementCycle, "channel_cycle_valid"),
            choices_check("match_key", MatchKey, "channel_match_key_valid"),
            choices_check("calendar", ChannelCalendar, "channel_calendar_valid"),
            models.CheckConstraint(condition=Q(amount_tolerance__gte=0), name="channel_amount_tolerance_gte_0"),
            models.CheckConstraint(condition=Q(fee_tolerance__gte=0), name="channel_fee_tolerance_gte_0"),
            models.CheckConstraint(condition=Q(approval_threshold__gte=0), name="channel_approval_threshold_gte_0"),
            models.CheckConstraint(condition=Q(write_off_threshold__gte=0), name="channel_write_off_threshold_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        if self.settlement_account_id and self.settlement_account.currency != self.currency:
            raise ValidationError({"settlement_account": _("The settlement account's currency differs from the channel's.")})
        if self.settlement_account_id and self.settlement_account.kind != BankAccount.Kind.RESERVE:
            raise ValidationError({"settlement_account": _("A channel settles into a reserve account.")})

    def business_date_of(self, moment: datetime) -> date:
        """The business date a transaction at ``moment`` belongs to under this channel's cutoff."""
        local = timezone.localtime(moment)
        day = local.date()
        if self.cutoff_time != time(0, 0) and local.time() >= self.cutoff_time:
            day += timedelta(days=1)
        return day


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class ChargingMode(models.TextChoices):
    INTERNAL = "INTERNAL", _("Internal (deducted from the settled amount)")
    EXTERNAL = "EXTERNAL", _("External (billed separately)")


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class FeeModel(models.Model):
    """How a channel charges us for one business type during a validity period."""

    ChargingMode = ChargingMode

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="fee_models", verbose_name=_("channel"))
    business_type = models.CharField(_("business type"), max_length=16, choices=BusinessType.choices)
    name = models.CharField(_("name"), max_length=200, blank=True)
    rate = models.DecimalField(
        _("rate"),
        max_digits=12,
        decimal_places=8,
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("As a fraction of the amount: 0.006 means 0.60%."),
    )
    fixed_amount = money_field(_("fixed amount"), default=0, validators=[MinValueValidator(0)])
    min_fee = money_field(_("minimum fee"), null=True, blank=True, validators=[MinValueValidator(0)])
    max_fee = money_field(_("maximum fee"), null=True, blank=True, validators=[MinValueValidator(0)])
    rounding = models.CharField(_("rounding"), max_length=16, choices=Rounding.choices, default=Rounding.HALF_UP)
    charging_mode = models.CharField(
        _("charging mode"), max_length=16, choices=ChargingMode.choices, default=ChargingMode.INTERNAL
    )
    charged_account = models.ForeignKey(
        BankAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="charged_fee_models",
        verbose_name=_("charged bank account"),
        help_text=_("For external charging: our account the channel debits the fee from."),
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid to"), null=True, blank=True, help_text=_("Exclusive. Empty: open-ended."))

    class Meta:
        verbose_name = _("fee model")
        verbose_name_plural = _("fee models")
        constraints = [
            choices_check("business_type", BusinessType, "feemodel_business_type_valid"),
            choices_check("rounding", Rounding, "feemodel_rounding_valid"),
            choices_check("charging_mode", ChargingMode, "feemodel_charging_mode_valid"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(fixed_amount__gte=0), name="feemodel_rate_fixed_gte_0"),
            models.CheckConstraint(condition=Q(min_fee__isnull=True) | Q(min_fee__gte=0), name="feemodel_min_gte_0"),
            models.CheckConstraint(
                condition=Q(min_fee__isnull=True) | Q(max_fee__isnull=True) | Q(max_fee__gte=F("min_fee")),
                name="feemodel_max_gte_min",
                violation_error_message=_("The maximum fee must not be below the minimum fee."),
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="feemodel_valid_to_after_from",
                violation_error_message=_("'Valid to' must be after 'valid from'."),
            ),
            models.CheckConstraint(
                condition=(Q(charging_mode=ChargingMode.EXTERNAL) & Q(charged_account__isnull=False))
                | (Q(charging_mode=ChargingMode.INTERNAL) & Q(charged_account__isnull=True)),
                name="feemodel_external_has_charged_account",
                violation_error_message=_(
                    "External charging needs the bank account the fee is charged to; internal charging has none."
                ),
            ),
            ExclusionConstraint(
                name="feemodel_no_overlapping_validity",
                expressions=[
                    ("channel", RangeOperators.EQUAL),
                    ("business_type", RangeOperators.EQUAL),
                    (TsTzRange("valid_from", "valid_to"), RangeOperators.OVERLAPS),
                ],
                violation_error_message=_(
                    "Another fee model of this channel and business type is valid during part of this period."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel.code} {self.get_business_type_display()} {timezone.localtime(self.valid_from):%Y-%m-%d}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        currency = self.channel.currency if self.channel_id else None
        if currency:
            for name in ("fixed_amount", "min_fee", "max_fee"):
                value = getattr(self, name)
                if value is not None and not is_on_minor_unit(value, currency):
                    errors[name] = _("Use at most the currency's minor unit (%(currency)s).") % {"currency": currency}
        if self.charging_mode == self.ChargingMode.EXTERNAL and not self.charged_account_id:
            errors["charged_account"] = _("External charging needs the bank account the fee is charged to.")
        if self.charging_mode == self.ChargingMode.INTERNAL and self.charged_account_id:
            errors["charged_account"] = _("Internal charging deducts the fee from the settlement; leave this empty.")
        if self.min_fee is not None and self.max_fee is not None and self.max_fee < self.min_fee:
            errors["max_fee"] = _("The maximum fee must not be below the minimum fee.")
        if self.valid_to is not None and self.valid_from is not None and self.valid_to <= self.valid_from:
            errors["valid_to"] = _("'Valid to' must be after 'valid from'.")
        if errors:
            raise ValidationError(errors)


@pghistory.track(pghistory.InsertEvent(), history.UpdateEvent(), pghistory.DeleteEvent())
class FeeTier(models.Model):
    """An amount bracket of a fee model: from ``lower_bound`` (inclusive) up to the next tier's bound.

    The whole transaction amount is charged at the rate and fixed amount of the bracket it falls in.
    Amounts below the first tier use the fee model's own rate and fixed amount.
    """

    fee_model = models.ForeignKey(FeeModel, on_delete=models.CASCADE, related_name="tiers", verbose_name=_("fee model"))
    lower_bound = money_field(_("from amount"), validators=[MinValueValidator(0)])
    rate = models.DecimalField(_("rate"), max_digits=12, decimal_places=8, default=0, validators=[MinValueValidator(0)])
    fixed_amount = money_field(_("fixed amount"), default=0, validators=[MinValueValidator(0)])

    class Meta:
        verbose_name = _("fee tier")
        verbose_name_plural = _("fee tiers")
        constraints = [
            models.UniqueConstraint(fields=["fee_model", "lower_bound"], name="feetier_unique_bound"),
            models.CheckConstraint(
                condition=Q(lower_bound__gte=0) & Q(rate__gte=0) & Q(fixed_amount__gte=0), name="feetier_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"≥ {self.lower_bound}"
