"""Telling a consumer's (personal) WeChat Pay or Alipay bill from a merchant bill.

People export their own payment history from the WeChat and Alipay apps; clerks sometimes upload such a
file by mistake. It lists a person's purchases, not a merchant's collections, and must be refused with a
reason that says so, rather than "header not found".

Personal bills open with a title and a preamble, then a header such as
- WeChat: 交易时间,交易类型,交易对方,商品,收/支,金额(元),支付方式,当前状态,交易单号,商户单号,备注
  under the title 微信支付账单明细;
- Alipay (older export): 交易号,商家订单号,交易创建时间,付款时间,…,收/支,交易状态,服务费（元）,…,资金状态
  under the title 支付宝交易记录明细查询; (newer export) 交易时间,交易分类,交易对方,…,收/支,…,交易订单号.
Merchant bills never have a 收/支 (in/out) column: a merchant bill is one side of the trade only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .base import StatementParseError, normalize_header
from .messages import Code, Message

SCAN_LINES = 40  # personal bills carry a preamble of about 16 lines before their header

_TITLES = (("微信支付账单明细", "WeChat Pay"), ("支付宝交易记录明细查询", "Alipay"))
_WECHAT_COLUMNS = frozenset({"交易类型", "交易对方", "收/支", "当前状态"})
_ALIPAY_COLUMNS = (frozenset({"交易号", "交易创建时间", "收/支"}), frozenset({"交易对方", "收/支", "交易状态"}))

# The refusal of each channel's personal bill says which merchant bill to download instead.
_REFUSAL = {"WeChat Pay": Code.PERSONAL_WECHAT_BILL, "Alipay": Code.PERSONAL_ALIPAY_BILL}


def channel_of(raw: str, fields: Sequence[str]) -> str | None:
    """The channel ("WeChat Pay" or "Alipay") when the line is the title or the column header of a personal bill."""
    for title, channel in _TITLES:
        if title in raw:
            return channel
    names = {normalize_header(name) for name in fields}
    if _WECHAT_COLUMNS <= names:
        return "WeChat Pay"
    if any(columns <= names for columns in _ALIPAY_COLUMNS):
        return "Alipay"
    return None


def refuse_if_personal(records: Iterator[tuple[int, str, list[str]]], first: tuple[int, str, list[str]]) -> None:
    """Raise the personal-bill refusal when ``first`` or one of the next lines of ``records`` shows a personal
    bill; return otherwise (the caller then refuses the file for what it lacks)."""
    line_no, raw, fields = first
    for _ in range(SCAN_LINES):
        channel = channel_of(raw, fields)
        if channel is not None:
            raise StatementParseError(Message(_REFUSAL[channel]), line=line_no)
        try:
            found = next(records, None)
        except StatementParseError:
            return  # undecodable further on: the caller's refusal stands
        if found is None:
            return
        line_no, raw, fields = found
