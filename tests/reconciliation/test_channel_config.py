"""Channel configuration in the admin: fee models with tiers, validity overlap, import/export."""

import io
from datetime import time
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from helpers import local_dt

from reconciliation.models import BusinessType, Channel, FeeModel, FeeTier


@pytest.mark.django_db
def test_overlapping_validity_is_refused_by_the_database(channel, make_fee_model):
    make_fee_model(channel, valid_from=local_dt(2025, 1, 1), valid_to=local_dt(2026, 1, 1))
    make_fee_model(channel, valid_from=local_dt(2026, 1, 1))  # adjacent: allowed (valid_to is exclusive)
    make_fee_model(channel, business_type=BusinessType.REFUND, valid_from=local_dt(2025, 6, 1))  # other type
    with pytest.raises(IntegrityError), transaction.atomic():
        make_fee_model(channel, valid_from=local_dt(2025, 12, 31))


@pytest.mark.django_db
def test_overlap_is_a_form_error_in_the_admin(client, admin_staff, channel, make_fee_model):
    make_fee_model(channel, valid_from=local_dt(2025, 1, 1))
    client.force_login(admin_staff)
    response = client.post(
        reverse("admin:reconciliation_feemodel_add"),
        {
            "channel": channel.pk,
            "business_type": "COLLECTION",
            "rate": "0.005",
            "fixed_amount": "0",
            "rounding": "ROUND_HALF_UP",
            "charging_mode": "INTERNAL",
            "valid_from_0": "2025-03-01",
            "valid_from_1": "00:00:00",
            "tiers-TOTAL_FORMS": "0",
            "tiers-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "valid during part of this period" in response.content.decode()
    assert FeeModel.objects.count() == 1


@pytest.mark.django_db
def test_fee_model_with_tiers_inline_saved_by_an_admin(client, admin_staff, channel, general_account):
    client.force_login(admin_staff)
    response = client.post(
        reverse("admin:reconciliation_feemodel_add"),
        {
            "channel": channel.pk,
            "business_type": "PAYOUT",
            "rate": "0",
            "fixed_amount": "2.00",
            "min_fee": "",
            "max_fee": "",
            "rounding": "ROUND_HALF_UP",
            "charging_mode": "EXTERNAL",
            "charged_account": general_account.pk,
            "valid_from_0": "2025-01-01",
            "valid_from_1": "00:00:00",
            "tiers-TOTAL_FORMS": "2",
            "tiers-INITIAL_FORMS": "0",
            "tiers-0-lower_bound": "50000",
            "tiers-0-rate": "0",
            "tiers-0-fixed_amount": "5.00",
            "tiers-1-lower_bound": "1000000",
            "tiers-1-rate": "0",
            "tiers-1-fixed_amount": "10.00",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    fee_model = FeeModel.objects.get()
    assert sorted(fee_model.tiers.values_list("fixed_amount", flat=True)) == [Decimal("5.00"), Decimal("10.00")]
    page = client.get(reverse("admin:reconciliation_feemodel_change", args=[fee_model.pk])).content.decode()
    # worked examples: 10,000 -> base 2.00; 100,000 -> first tier 5.00; 1,000,000 -> top tier 10.00
    assert "2.00 CNY" in page
    assert "5.00 CNY" in page
    assert "10.00 CNY" in page


@pytest.mark.django_db
def test_fee_model_form_errors_are_per_field(client, admin_staff, channel):
    client.force_login(admin_staff)
    response = client.post(
        reverse("admin:reconciliation_feemodel_add"),
        {
            "channel": channel.pk,
            "business_type": "PAYOUT",
            "rate": "-0.1",
            "fixed_amount": "0.001",
            "min_fee": "5",
            "max_fee": "1",
            "rounding": "ROUND_HALF_UP",
            "charging_mode": "EXTERNAL",
            "valid_from_0": "2025-01-01",
            "valid_from_1": "00:00:00",
            "tiers-TOTAL_FORMS": "0",
            "tiers-INITIAL_FORMS": "0",
        },
    )
    errors = response.context["adminform"].form.errors
    assert {"rate", "fixed_amount", "max_fee", "charged_account"} <= set(errors)
    assert not FeeModel.objects.exists()


@pytest.mark.django_db
def test_channel_business_date_follows_the_cutoff(make_channel):
    midnight = make_channel("MIDNIGHT")
    late = make_channel("LATE", cutoff_time=time(23, 0))
    assert midnight.business_date_of(local_dt(2026, 3, 1, 23, 30)).isoformat() == "2026-03-01"
    assert late.business_date_of(local_dt(2026, 3, 1, 22, 59, 59)).isoformat() == "2026-03-01"
    assert late.business_date_of(local_dt(2026, 3, 1, 23, 0)).isoformat() == "2026-03-02"


def _import(client, url_name, text):
    upload = io.BytesIO(text.encode())
    upload.name = "config.csv"
    return client.post(reverse(url_name), {"format": "0", "resource": "0", "import_file": upload})


@pytest.mark.django_db
def test_fee_models_import_with_tiers_and_export_round_trip(client, admin_staff, channel):
    client.force_login(admin_staff)
    header = (
        "channel_code,business_type,name,rate,fixed_amount,min_fee,max_fee,rounding,charging_mode,"
        "charged_account_id,valid_from,valid_to,tiers\n"
    )
    bad = header + f"{channel.code},COLLECTION,x,0.006,0,,,ROUND_HALF_UP,INTERNAL,,2025-01-01 00:00:00,,0:0.006\n"
    response = _import(client, "admin:reconciliation_feemodel_import", bad)
    assert "lower_bound:rate:fixed_amount" in response.content.decode()
    assert not FeeModel.objects.exists()

    good = header + (
        f"{channel.code},COLLECTION,x,0.006,0,,,ROUND_HALF_UP,INTERNAL,,2025-01-01 00:00:00,,0:0.006:0|10000:0.004:0\n"
    )
    preview = _import(client, "admin:reconciliation_feemodel_import", good)
    client.post(reverse("admin:reconciliation_feemodel_process_import"), preview.context["confirm_form"].initial)
    fee_model = FeeModel.objects.get()
    assert list(FeeTier.objects.filter(fee_model=fee_model).order_by("lower_bound").values_list("rate", flat=True)) == [
        Decimal("0.006"),
        Decimal("0.004"),
    ]

    export = client.post(
        reverse("admin:reconciliation_feemodel_export"),
        {
            "format": "0",
            "resource": "0",
            **{f"feemodelresource_{name}": "on" for name in ("channel", "business_type", "rate", "tiers")},
        },
    )
    assert "0:0.006:0|10000:0.004:0" in export.content.decode("utf-8-sig")


@pytest.mark.django_db
def test_channel_import_refuses_bad_times_and_unknown_bank(client, admin_staff, bank):
    client.force_login(admin_staff)
    header = (
        "code,name,bank_code,kind,currency,settlement_cycle,settlement_times,cutoff_time,statement_ready_time,"
        "calendar,carry_over_days,match_key,amount_tolerance,fee_tolerance,is_active\n"
    )
    text = header + (
        f"NEWCH,新通道,{bank.code},WECHAT,CNY,T1,10:00;25:99,00:00,09:00,EVERY_DAY,2,TXN_NO,0,0,1\n"
        "OTHER,另一个,NOBANK,WECHAT,CNY,T1,10:00,00:00,09:00,EVERY_DAY,2,TXN_NO,0,0,1\n"
    )
    html = _import(client, "admin:reconciliation_channel_import", text).content.decode()
    assert "&#x27;25:99&#x27; is not a time of day" in html
    assert "No bank with code &#x27;NOBANK&#x27;" in html
    assert not Channel.objects.exists()


@pytest.mark.django_db
def test_the_approval_and_write_off_thresholds_are_edited_in_the_admin_and_never_negative(client, admin_staff, channel):
    client.force_login(admin_staff)
    page = client.get(reverse("admin:reconciliation_channel_change", args=[channel.pk])).content.decode()
    assert 'name="approval_threshold"' in page and 'name="write_off_threshold"' in page
    fields = ("code", "approval_threshold", "write_off_threshold")
    exported = client.post(
        reverse("admin:reconciliation_channel_export"),
        {"format": "0", "resource": "0", **{f"channelresource_{name}": "on" for name in fields}},
    )
    header = exported.content.decode("utf-8-sig").splitlines()[0]
    assert "approval_threshold" in header and "write_off_threshold" in header
    for field in ("approval_threshold", "write_off_threshold"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Channel.objects.filter(pk=channel.pk).update(**{field: Decimal("-1")})
