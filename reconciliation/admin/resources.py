"""Import/export of the channel configuration: banks, bank accounts, channels, fee models."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, widgets

from backoffice.core.money import plain_decimal
from backoffice.core.spreadsheets import LookupWidget, SafeExportResource
from reconciliation.models import Bank, BankAccount, Channel, FeeModel, FeeTier


class BankResource(SafeExportResource):
    class Meta:
        model = Bank
        import_id_fields = ("code",)
        fields = ("code", "name", "swift_bic", "cnaps_code", "is_active")
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class BankAccountResource(SafeExportResource):
    bank = fields.Field(attribute="bank", column_name="bank_code", widget=LookupWidget(Bank, "code"))

    class Meta:
        model = BankAccount
        import_id_fields = ("bank", "account_no")
        fields = ("bank", "account_no", "kind", "account_name", "branch", "currency", "is_active")
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return BankAccount.objects.select_related("bank").order_by("id")


class TimeListWidget(widgets.Widget):
    """Settlement times as 'HH:MM,HH:MM'."""

    def clean(self, value, row=None, **kwargs):
        from datetime import time

        times = []
        for part in str(value or "").replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                hour, minute = part.split(":")[:2]
                times.append(time(int(hour), int(minute)))
            except ValueError:
                raise ValueError(_("'%(value)s' is not a time of day (HH:MM).") % {"value": part}) from None
        return times

    def render(self, value, obj=None, **kwargs):
        return ",".join(t.strftime("%H:%M") for t in value or [])


class ChannelResource(SafeExportResource):
    bank = fields.Field(attribute="bank", column_name="bank_code", widget=LookupWidget(Bank, "code"))
    settlement_times = fields.Field(attribute="settlement_times", column_name="settlement_times", widget=TimeListWidget())

    class Meta:
        model = Channel
        import_id_fields = ("code",)
        fields = (
            "code",
            "name",
            "bank",
            "kind",
            "currency",
            "settlement_cycle",
            "settlement_times",
            "cutoff_time",
            "statement_ready_time",
            "calendar",
            "carry_over_days",
            "double_payment_window_hours",
            "match_key",
            "amount_tolerance",
            "fee_tolerance",
            "approval_threshold",
            "write_off_threshold",
            "is_active",
        )
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return Channel.objects.select_related("bank").order_by("code")


def parse_tiers(text: str) -> list[tuple[Decimal, Decimal, Decimal]]:
    """'0:0.006:0|1000:0.005:1.00' -> [(lower_bound, rate, fixed), ...]."""
    tiers = []
    for index, part in enumerate(p.strip() for p in (text or "").split("|")):
        if not part:
            continue
        pieces = part.split(":")
        if len(pieces) != 3:
            raise ValidationError(
                _("Tier %(n)d '%(part)s' must be lower_bound:rate:fixed_amount.") % {"n": index + 1, "part": part}
            )
        try:
            tiers.append(tuple(Decimal(p.strip()) for p in pieces))
        except InvalidOperation:
            raise ValidationError(
                _("Tier %(n)d '%(part)s' holds a value that is not a number.") % {"n": index + 1, "part": part}
            ) from None
    return tiers


class FeeModelResource(SafeExportResource):
    channel = fields.Field(attribute="channel", column_name="channel_code", widget=LookupWidget(Channel, "code"))
    charged_account = fields.Field(
        attribute="charged_account", column_name="charged_account_id", widget=LookupWidget(BankAccount, "id")
    )
    # Read-only for the generic machinery: import_instance parses it and after_save_instance writes it.
    tiers = fields.Field(column_name="tiers", readonly=True)

    class Meta:
        model = FeeModel
        import_id_fields = ("channel", "business_type", "valid_from")
        fields = (
            "channel",
            "business_type",
            "name",
            "rate",
            "fixed_amount",
            "min_fee",
            "max_fee",
            "rounding",
            "charging_mode",
            "charged_account",
            "valid_from",
            "valid_to",
            "tiers",
        )
        export_order = fields
        clean_model_instances = True
        # Tiers live in another table, so an unchanged row may still carry changed tiers.
        skip_unchanged = False

    def get_queryset(self):
        return FeeModel.objects.select_related("channel").prefetch_related("tiers").order_by("channel__code", "id")

    def dehydrate_tiers(self, fee_model: FeeModel) -> str:
        tiers = sorted(fee_model.tiers.all(), key=lambda t: t.lower_bound) if fee_model.pk else []
        return "|".join(
            f"{plain_decimal(t.lower_bound, 0)}:{plain_decimal(t.rate, 0)}:{plain_decimal(t.fixed_amount, 0)}" for t in tiers
        )

    def import_instance(self, instance, row, **kwargs):
        errors: dict = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        try:
            instance._imported_tiers = parse_tiers(row.get("tiers", ""))
        except ValidationError as exc:
            errors["tiers"] = exc.messages
        if errors:
            raise ValidationError(errors)

    def after_save_instance(self, instance, row, **kwargs):
        tiers = getattr(instance, "_imported_tiers", None)
        if tiers is None:
            return
        instance.tiers.all().delete()
        FeeTier.objects.bulk_create(
            FeeTier(fee_model=instance, lower_bound=lower, rate=rate, fixed_amount=fixed) for lower, rate, fixed in tiers
        )
