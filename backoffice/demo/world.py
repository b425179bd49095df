"""A small, realistic demo world: staff for each role, banks, channels, fee models and customers.

``demo_seed`` is idempotent: every object is looked up by its natural key, so running it twice
changes nothing (passwords are set only when a staff user is first created).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Customer, CustomerUser, Merchant
from backoffice.core.roles import ADMIN, AUDITOR, CHECKER, CLERK, PAYMENT_CORE, USER_ADMIN, roles_sync
from backoffice.demo.activity import demo_activity_seed, demo_workflow_seed
from backoffice.models import ApiToken
from backoffice.services.tokens import api_token_issue, key_hash
from reconciliation.models import Bank, BankAccount, BusinessType, Channel, FeeModel, Rounding
from reconciliation.services.channels.schedules import channel_schedule_sync

SHANGHAI = ZoneInfo("Asia/Shanghai")
FEES_VALID_FROM = datetime(2025, 1, 1, tzinfo=SHANGHAI)

# Demo logins, printed by the run command. Never use these outside a demo.
DEMO_STAFF = {
    CLERK: ("clerk", "clerk-demo-2026"),
    CHECKER: ("checker", "checker-demo-2026"),
    ADMIN: ("admin", "admin-demo-2026"),
    AUDITOR: ("auditor", "auditor-demo-2026"),
    USER_ADMIN: ("staffadmin", "staffadmin-demo-2026"),
}


DEMO_API_USER = "payment-core"
DEMO_API_TOKEN = "demo0payment0core0token0000000000000000"


@dataclass
class DemoSummary:
    created: dict[str, int] = field(default_factory=dict)

    def count(self, label: str, was_created: bool) -> None:
        if was_created:
            self.created[label] = self.created.get(label, 0) + 1


def _ensure(model, summary: DemoSummary, lookup: dict, defaults: dict):
    obj, created = model.objects.get_or_create(**lookup, defaults=defaults)
    summary.count(model._meta.model_name, created)
    return obj


def _seed_staff(summary: DemoSummary) -> None:
    roles_sync()
    user_model = get_user_model()
    for role, (username, password) in DEMO_STAFF.items():
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": True, "first_name": role.title()}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        summary.count("staff", created)
    # The payment core calls the API with a token (no password, no admin access).
    core, created = user_model.objects.get_or_create(username=DEMO_API_USER, defaults={"first_name": "Payment core"})
    if created:
        core.set_unusable_password()
        core.save(update_fields=["password"])
    core.groups.add(Group.objects.get(name=PAYMENT_CORE))
    if not ApiToken.objects.filter(key_hash=key_hash(DEMO_API_TOKEN)).exists():
        api_token_issue(user=core, name="demo payment core", acting_user=None, now=timezone.now(), key=DEMO_API_TOKEN)
    summary.count("api user", created)


def _seed_banks_and_channels(summary: DemoSummary) -> None:
    icbc = _ensure(
        Bank, summary, {"code": "ICBC"}, {"name": "中国工商银行", "swift_bic": "ICBKCNBJ", "cnaps_code": "102100099996"}
    )
    cmb = _ensure(Bank, summary, {"code": "CMB"}, {"name": "招商银行", "swift_bic": "CMBCCNBS", "cnaps_code": "308584000013"})
    tenpay = _ensure(Bank, summary, {"code": "TENPAY"}, {"name": "财付通支付科技有限公司"})
    alipay = _ensure(Bank, summary, {"code": "ALIPAY"}, {"name": "支付宝（中国）网络技术有限公司"})

    reserve_icbc = _ensure(
        BankAccount,
        summary,
        {"bank": icbc, "account_no": "1001202319000012345"},
        {"kind": BankAccount.Kind.RESERVE, "account_name": "示例支付有限公司备付金专户", "branch": "上海分行营业部"},
    )
    reserve_cmb = _ensure(
        BankAccount,
        summary,
        {"bank": cmb, "account_no": "121909876510601"},
        {"kind": BankAccount.Kind.RESERVE, "account_name": "示例支付有限公司备付金专户", "branch": "上海分行"},
    )
    general_icbc = _ensure(
        BankAccount,
        summary,
        {"bank": icbc, "account_no": "1001202309000067890"},
        {"kind": BankAccount.Kind.GENERAL, "account_name": "示例支付有限公司", "branch": "上海分行营业部"},
    )

    wechat = _ensure(
        Channel,
        summary,
        {"code": "WECHAT"},
        {
            "name": "微信支付",
            "bank": tenpay,
            "kind": Channel.Kind.WECHAT,
            "settlement_account": reserve_cmb,
            "settlement_cycle": Channel.SettlementCycle.T1,
            "settlement_times": [time(10, 0)],
            "statement_ready_time": time(10, 0),
            "match_key": Channel.MatchKey.TXN_NO,
        },
    )
    alipay_channel = _ensure(
        Channel,
        summary,
        {"code": "ALIPAY"},
        {
            "name": "支付宝",
            "bank": alipay,
            "kind": Channel.Kind.ALIPAY,
            "settlement_account": reserve_cmb,
            "settlement_cycle": Channel.SettlementCycle.T1,
            "settlement_times": [time(9, 0)],
            "statement_ready_time": time(9, 30),
            "match_key": Channel.MatchKey.TXN_NO,
        },
    )
    bankdirect = _ensure(
        Channel,
        summary,
        {"code": "BANKDIRECT"},
        {
            "name": "工商银行银企直连",
            "bank": icbc,
            "kind": Channel.Kind.BANK_DIRECT,
            "settlement_account": reserve_icbc,
            "settlement_cycle": Channel.SettlementCycle.T0,
            "settlement_times": [time(10, 0), time(16, 0)],
            "cutoff_time": time(23, 0),
            "statement_ready_time": time(8, 0),
            "calendar": Channel.Calendar.WORKING_DAYS,
            "match_key": Channel.MatchKey.CHANNEL_TXN_NO,
        },
    )

    internal_percent = {"rate": Decimal("0.006"), "rounding": Rounding.HALF_UP, "charging_mode": FeeModel.ChargingMode.INTERNAL}
    for channel in (wechat, alipay_channel):
        for business_type in (BusinessType.COLLECTION, BusinessType.REFUND):
            _ensure(
                FeeModel,
                summary,
                {"channel": channel, "business_type": business_type, "valid_from": FEES_VALID_FROM},
                {"name": "标准费率 0.6%", **internal_percent},
            )
    external_fixed = {
        "rate": Decimal(0),
        "rounding": Rounding.HALF_UP,
        "charging_mode": FeeModel.ChargingMode.EXTERNAL,
        "charged_account": general_icbc,
    }
    _ensure(
        FeeModel,
        summary,
        {"channel": bankdirect, "business_type": BusinessType.PAYOUT, "valid_from": FEES_VALID_FROM},
        {"name": "单笔代付", "fixed_amount": Decimal("2.00"), **external_fixed},
    )
    _ensure(
        FeeModel,
        summary,
        {"channel": bankdirect, "business_type": BusinessType.BATCH_PAYOUT, "valid_from": FEES_VALID_FROM},
        {"name": "批量代发（每笔）", "fixed_amount": Decimal("1.00"), **external_fixed},
    )


def _seed_customers(summary: DemoSummary) -> None:
    people = [
        ("C00000001", "张伟", "110105198503122819", "13812345678", "zhang.wei@example.cn", "M00000001", "张伟便利店", "5411"),
        ("C00000002", "李娜", "310115199007044326", "13987654321", "", "M00000002", "李娜花艺工作室", "5992"),
    ]
    for customer_no, name, id_number, phone, email, merchant_no, merchant_name, mcc in people:
        customer = _ensure(
            Customer,
            summary,
            {"customer_no": customer_no},
            {
                "kind": Customer.Kind.INDIVIDUAL,
                "name": name,
                "id_type": Customer.IdType.RESIDENT_ID,
                "id_number": id_number,
                "verification_status": Customer.Verification.VERIFIED,
                "verified_at": FEES_VALID_FROM,
            },
        )
        _seed_customer_parts(summary, customer, phone, email, merchant_no, merchant_name, mcc)

    enterprises = [
        (
            "C00000101",
            "上海星辰餐饮管理有限公司",
            "91310000MA1FL3AB2N",
            "王建国",
            "021-61234567",
            "finance@xingchen.example.cn",
            "M00000101",
            "星辰餐厅（静安店）",
            "5812",
        ),
        (
            "C00000102",
            "深圳云杉科技有限公司",
            "91440300MA5G7QXY8R",
            "陈晓梅",
            "0755-86001234",
            "pay@yunshan.example.cn",
            "M00000102",
            "云杉商城",
            "5045",
        ),
    ]
    for customer_no, name, credit_code, legal_rep, phone, email, merchant_no, merchant_name, mcc in enterprises:
        customer = _ensure(
            Customer,
            summary,
            {"customer_no": customer_no},
            {
                "kind": Customer.Kind.ENTERPRISE,
                "name": name,
                "credit_code": credit_code,
                "legal_representative": legal_rep,
                "verification_status": Customer.Verification.VERIFIED,
                "verified_at": FEES_VALID_FROM,
            },
        )
        _seed_customer_parts(summary, customer, phone, email, merchant_no, merchant_name, mcc)


def _seed_customer_parts(summary, customer, phone, email, merchant_no, merchant_name, mcc) -> None:
    suffix = customer.customer_no[-4:]
    _ensure(CustomerUser, summary, {"customer": customer, "phone": phone}, {"email": email})
    _ensure(Account, summary, {"account_no": f"W{suffix}0001"}, {"customer": customer, "kind": Account.Kind.WALLET})
    settlement = _ensure(
        Account, summary, {"account_no": f"S{suffix}0001"}, {"customer": customer, "kind": Account.Kind.SETTLEMENT}
    )
    _ensure(
        Merchant,
        summary,
        {"merchant_no": merchant_no},
        {"customer": customer, "name": merchant_name, "mcc": mcc, "settlement_account": settlement},
    )


def demo_seed(*, now: datetime, activity_days: int = 3) -> DemoSummary:
    """The demo world, then ``activity_days`` days of records and statements before today."""
    summary = DemoSummary()
    with transaction.atomic():
        _seed_staff(summary)
        _seed_banks_and_channels(summary)
        _seed_customers(summary)
        for channel in Channel.objects.filter(is_active=True):
            channel_schedule_sync(channel=channel)
    # Statement intake manages its own transactions (a parse commits or fails as a whole).
    created = demo_activity_seed(today=timezone.localdate(now), days=activity_days, now=now)
    staff = {u.username: u for u in get_user_model().objects.filter(username__in=[DEMO_STAFF[CLERK][0], DEMO_STAFF[CHECKER][0]])}
    created |= demo_workflow_seed(clerk=staff[DEMO_STAFF[CLERK][0]], checker=staff[DEMO_STAFF[CHECKER][0]], now=now)
    for label, count in created.items():
        if count:
            summary.created[label] = summary.created.get(label, 0) + count
    return summary
