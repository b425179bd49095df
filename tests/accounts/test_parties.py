"""Customers, users, merchants and accounts: both kinds end to end, and their invariants."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Account, Customer, CustomerUser, Merchant
from accounts.validators import validate_resident_id, validate_uscc


@pytest.mark.parametrize("kind", [Customer.Kind.INDIVIDUAL, Customer.Kind.ENTERPRISE])
def test_customer_of_either_kind_has_users_merchants_and_accounts(
    kind, make_customer, make_account, make_merchant, make_customer_user
):
    customer = make_customer(kind)
    wallet = make_account(customer, kind=Account.Kind.WALLET)
    settlement = make_account(customer, kind=Account.Kind.SETTLEMENT)
    merchant = make_merchant(customer, settlement_account=settlement)
    merchant.full_clean()
    make_customer_user(customer)
    make_customer_user(customer, phone="", email="second@example.cn")

    customer.refresh_from_db()
    assert customer.users.count() == 2
    assert list(customer.accounts.order_by("id")) == [wallet, settlement]
    assert list(customer.merchants.all()) == [merchant]
    assert merchant.settlement_account.customer == customer


def test_resident_id_checksum():
    validate_resident_id("11010519491231002X")
    with pytest.raises(ValidationError, match="check digit"):
        validate_resident_id("110105194912310021")
    with pytest.raises(ValidationError, match="17 digits"):
        validate_resident_id("11010519491231002")


def test_unified_social_credit_code_checksum():
    validate_uscc("91350100M000100Y43")
    with pytest.raises(ValidationError, match="check character"):
        validate_uscc("91350100M000100Y44")
    with pytest.raises(ValidationError, match="18 characters"):
        validate_uscc("91350100I000100Y43")


@pytest.mark.django_db
def test_individual_validation_names_each_field():
    customer = Customer(
        customer_no="X1",
        kind=Customer.Kind.INDIVIDUAL,
        name="王五",
        id_type=Customer.IdType.RESIDENT_ID,
        id_number="110105194912310021",
        credit_code="91350100M000100Y43",
    )
    with pytest.raises(ValidationError) as excinfo:
        customer.full_clean()
    errors = excinfo.value.message_dict
    assert "check digit" in errors["id_number"][0]
    assert "credit_code" in errors


@pytest.mark.django_db
def test_enterprise_validation_names_each_field():
    customer = Customer(customer_no="X2", kind=Customer.Kind.ENTERPRISE, name="某公司", credit_code="91350100M000100Y44")
    with pytest.raises(ValidationError) as excinfo:
        customer.full_clean()
    errors = excinfo.value.message_dict
    assert "check character" in errors["credit_code"][0]
    assert "legal_representative" in errors


@pytest.mark.django_db
def test_database_refuses_an_enterprise_without_credit_code():
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(customer_no="X3", kind=Customer.Kind.ENTERPRISE, name="某公司", legal_representative="甲")


@pytest.mark.django_db
def test_database_refuses_the_same_identity_twice(make_customer):
    first = make_customer(Customer.Kind.INDIVIDUAL)
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(
            customer_no="X4", kind=first.kind, name="另一人", id_type=first.id_type, id_number=first.id_number
        )


@pytest.mark.django_db
def test_customer_user_needs_phone_or_email(make_customer):
    customer = make_customer()
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerUser.objects.create(customer=customer, phone="", email="")


@pytest.mark.django_db
def test_merchant_settlement_account_must_be_its_customers(make_customer, make_account, make_merchant):
    owner, other = make_customer(), make_customer(Customer.Kind.ENTERPRISE)
    foreign_account = make_account(other, kind=Account.Kind.SETTLEMENT)
    merchant = Merchant(customer=owner, merchant_no="M9", name="店", mcc="5411", settlement_account=foreign_account)
    with pytest.raises(ValidationError) as excinfo:
        merchant.full_clean()
    assert "settlement_account" in excinfo.value.message_dict


@pytest.mark.django_db
def test_merchant_mcc_is_four_digits_in_the_database(make_customer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Merchant.objects.create(customer=make_customer(), merchant_no="M10", name="店", mcc="54A1")


@pytest.mark.django_db
def test_account_str_never_shows_the_full_number(make_customer, make_account):
    account = make_account(make_customer(), account_no="W1234567890")
    assert "1234567890" not in str(account)
    assert str(account).startswith("*******7890")
