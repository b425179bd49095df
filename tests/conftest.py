"""Builders shared by the whole suite. Each builder creates a valid object; tests override what they test."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from itertools import count

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from helpers import local_dt

from accounts.models import Account, Customer, CustomerUser, Merchant
from backoffice.roles import ADMIN, AUDITOR, CHECKER, CLERK
from reconciliation.models import Bank, BankAccount, BusinessType, Channel, FeeModel, Rounding

_seq = count(1)


@pytest.fixture(autouse=True)
def english_by_default():
    """Messages asserted in English unless a test asks for another language explicitly."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def client():
    """The test client as an English-speaking browser (tests pass Accept-Language to change it)."""
    from django.test import Client

    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def make_staff(db):
    def make(role: str, username: str | None = None, password: str = "pw-for-tests-1"):
        user = get_user_model().objects.create_user(
            username=username or f"{role}{next(_seq)}", password=password, is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def clerk(make_staff):
    return make_staff(CLERK)


@pytest.fixture
def checker(make_staff):
    return make_staff(CHECKER)


@pytest.fixture
def admin_staff(make_staff):
    return make_staff(ADMIN)


@pytest.fixture
def auditor(make_staff):
    return make_staff(AUDITOR)


@pytest.fixture
def make_customer(db):
    def make(kind: str = Customer.Kind.INDIVIDUAL, **overrides) -> Customer:
        n = next(_seq)
        if kind == Customer.Kind.INDIVIDUAL:
            fields = {"name": f"测试个人{n}", "id_type": Customer.IdType.PASSPORT, "id_number": f"E{n:08d}"}
        else:
            # A credit code with a correct check character, unique per call.
            from accounts.validators import uscc_check_char

            base = f"91310000MA{n:07d}"
            fields = {"name": f"测试企业{n}有限公司", "credit_code": base + uscc_check_char(base),
                      "legal_representative": "赵敏"}
        customer = Customer(customer_no=f"T{n:08d}", kind=kind, **{**fields, **overrides})
        customer.full_clean()
        customer.save()
        return customer

    return make


@pytest.fixture
def make_account(db):
    def make(customer: Customer, **overrides) -> Account:
        return Account.objects.create(
            customer=customer, **{"account_no": f"A{next(_seq):010d}", "kind": Account.Kind.WALLET, **overrides}
        )

    return make


@pytest.fixture
def make_merchant(db):
    def make(customer: Customer, **overrides) -> Merchant:
        return Merchant.objects.create(
            customer=customer, **{"merchant_no": f"M{next(_seq):08d}", "name": "测试商户", "mcc": "5411", **overrides}
        )

    return make


@pytest.fixture
def make_customer_user(db):
    def make(customer: Customer, **overrides) -> CustomerUser:
        return CustomerUser.objects.create(customer=customer, **{"phone": f"139{next(_seq):08d}", **overrides})

    return make


@pytest.fixture
def bank(db) -> Bank:
    return Bank.objects.create(code="TESTBANK", name="测试银行")


@pytest.fixture
def reserve_account(bank) -> BankAccount:
    return BankAccount.objects.create(
        bank=bank, kind=BankAccount.Kind.RESERVE, account_no="6222000011112222", account_name="备付金专户"
    )


@pytest.fixture
def general_account(bank) -> BankAccount:
    return BankAccount.objects.create(
        bank=bank, kind=BankAccount.Kind.GENERAL, account_no="6222000033334444", account_name="一般户"
    )


@pytest.fixture
def make_channel(bank, reserve_account):
    def make(code: str = "TESTCH", **overrides) -> Channel:
        fields = {
            "name": f"通道 {code}", "bank": bank, "kind": Channel.Kind.WECHAT, "settlement_account": reserve_account,
            "settlement_times": [time(10, 0)], **overrides,
        }
        return Channel.objects.create(code=code, **fields)

    return make


@pytest.fixture
def channel(make_channel) -> Channel:
    return make_channel()


@pytest.fixture
def make_fee_model(db):
    def make(channel: Channel, **overrides) -> FeeModel:
        fields = {
            "business_type": BusinessType.COLLECTION, "rate": Decimal("0.006"), "rounding": Rounding.HALF_UP,
            "charging_mode": FeeModel.ChargingMode.INTERNAL, "valid_from": local_dt(2025, 1, 1), **overrides,
        }
        return FeeModel.objects.create(channel=channel, **fields)

    return make
