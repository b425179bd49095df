"""The words of every refusal and warning a statement file can get, in the reader's language.

The parsers (pure Python, no Django) and the intake's own checks give each problem a stable code with its
parameters (``reconciliation.parsers.messages``: ``Message``, ``Code``; ``IntakeCode`` below for the checks
that need the database). A file's errors and warnings are stored as JSON, one entry per problem::

    {"line": 12, "field": "应结订单金额", "reason": "'6.0x' is not an amount",
     "code": "value.not_amount", "params": {"value": "'6.0x'"}}

``reason`` is the English text (logs, the command line, and what rows stored before codes existed show);
``code`` and ``params`` are rendered at display time by this catalogue in the language of whoever reads
them, so a file refused overnight by a worker reads in Chinese to one clerk and in English to another.

The catalogue has an entry for every code (a test holds it complete and its English equal to the codes' own);
msgids are the English texts, their zh-hans translations are in ``locale/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from reconciliation.parsers import Code, Message, MessageCode


class IntakeCode(MessageCode):
    """What the intake itself says about a file while parsing it (the checks that need the database)."""

    # --- phrases used inside other messages
    BUSINESS_KIND = "term.business_kind", "business-detail"
    FUND_KIND = "term.fund_kind", "fund"

    # --- refusals
    NOT_THE_DECLARED_KIND = (
        "intake.not_the_declared_kind",
        "not the declared type: the format reads %(read)s statements, the file was declared %(declared)s",
    )
    SEVERAL_ACCOUNTS = (
        "intake.several_accounts",
        "the file holds statements of %(count)d accounts or currencies (%(accounts)s): a statement file is taken "
        "for one bank account in one currency. Ask the bank for one file per account, or upload each account's "
        "statement on its own.",
    )
    NO_ACCOUNT = "intake.no_account", "the statement names no account"
    CHOSEN_ACCOUNT_NOT_THE_CHANNELS = (
        "intake.chosen_account_not_the_channels",
        "the chosen bank account %(chosen)s is not one of channel %(channel)s's bank accounts",
    )
    NOT_THE_CHOSEN_ACCOUNT = (
        "intake.not_the_chosen_account",
        "the statement is of account %(account)s, not of the chosen bank account %(chosen)s",
    )
    NOT_THE_CHANNELS_ACCOUNT = (
        "intake.not_the_channels_account",
        "the statement is of account %(account)s, which is not one of channel %(channel)s's bank accounts "
        "(%(held)s). Upload it under the channel of that account, or have an administrator add the account to the "
        "channel's bank.",
    )
    ACCOUNT_CURRENCY = (
        "intake.account_currency",
        "the statement of account %(account)s is in %(currency)s, but bank account %(ours)s is held in %(held)s",
    )
    MOVEMENT_OF_ANOTHER_ACCOUNT = (
        "intake.movement_of_another_account",
        "a movement of account %(other)s in a file of account %(account)s: a statement file is taken for one bank account",
    )
    MOVEMENT_CURRENCY = (
        "intake.movement_currency",
        "a movement in %(currency)s on an account held in %(held)s: totals never mix currencies",
    )
    VALUE_NOT_SUPPORTED = "intake.value_not_supported", "%(value)s is a value we do not support"
    ROW_VALUE_NOT_SUPPORTED = "intake.row_value_not_supported", "a row holds a value we do not support"
    VALUE_NOT_STORED = "intake.value_not_stored", "%(value)s cannot be stored: %(detail)s"
    ROW_NOT_STORED = "intake.row_not_stored", "a row cannot be stored: %(detail)s"
    NO_LINES = "intake.no_lines", "the file holds no statement lines"
    REPEATED_LINE = "intake.repeated_line", "repeats line %(first)s exactly (duplicate line)"
    ATTEMPTS_EXHAUSTED = (
        "intake.attempts_exhausted",
        "parsing stopped the worker %(count)d times; refused rather than parsed again "
        "(STATEMENT_PARSE_MAX_ATTEMPTS = %(limit)d). Look into the file (a zip bomb? far bigger than usual?), then "
        "parse it again.",
    )
    FORMAT_CONFIG = (
        "intake.format_config",
        "the statement format's configuration cannot be used: setting %(key)s: %(reason)s",
    )
    FAILED = "intake.failed", "the file could not be parsed: %(detail)s"

    # --- warnings
    REPEATED_LINE_KEPT = "intake.repeated_line_kept", "repeats line %(first)s exactly: imported, reported as a duplicate"
    QUIET_DAY = "intake.quiet_day", "no movements: the statement states its balances only (a quiet day)"


CATALOGUE: dict[MessageCode, Promise] = {
    Code.A_WECHAT_TRADE_BILL: _("a WeChat Pay trade bill"),
    Code.A_WECHAT_FUND_BILL: _("a WeChat Pay fund-flow bill"),
    Code.AN_ALIPAY_TRADE_BILL: _("an Alipay 业务明细 (trade) bill"),
    Code.AN_ALIPAY_ACCOUNT_BILL: _("an Alipay 账务明细 (account) bill"),
    Code.A_UNIONPAY_ZM_FILE: _("a UnionPay ZM file"),
    Code.A_CAMT053_STATEMENT: _("a camt.053 statement"),
    Code.NONE: _("none"),
    Code.NO_ACCOUNT: _("(none)"),
    Code.IN_ZIP_MEMBER: _("ZIP member %(member)s: "),
    Code.AND_MORE: _("%(shown)s and %(more)s more"),
    Code.SIZE_BYTES: _("%(size)s bytes"),
    Code.CUT_SHORT: _("%(value)s… (%(length)s characters)"),
    Code.EMPTY_FILE: _("empty file: not %(what)s"),
    Code.HEADER_NOT_FOUND: _("not %(what)s: header row with %(signature)s,… not found"),
    Code.NO_HEADER_FOUND: _("not %(what)s: no header row with %(signature)s,… found"),
    Code.HEADER_HOLDS_NUL: _("the header holds NUL bytes (0x00): the file is damaged, download it again"),
    Code.COLUMN_MISSING: _("required column is missing from the header"),
    Code.PERSONAL_WECHAT_BILL: _(
        "this is a personal WeChat Pay bill (a consumer's payment history exported "
        "from the app), not a merchant bill: download the merchant's trade bill "
        "(交易账单) or fund bill (资金账单) from the WeChat Pay merchant platform"
    ),
    Code.PERSONAL_ALIPAY_BILL: _(
        "this is a personal Alipay bill (a consumer's payment history exported from "
        "the app), not a merchant bill: download the merchant's 业务明细 or 账务明细 bill "
        "from the Alipay merchant platform (商家中心)"
    ),
    Code.UNKNOWN_ENCODING: _("unknown text encoding %(encoding)s configured for this format"),
    Code.UTF16_TEXT: _("the file is UTF-16 text (Excel's 'Unicode text'): save it as CSV (UTF-8 or GBK) and upload it again"),
    Code.UNDECODABLE: _("bytes are not valid %(encoding)s (byte 0x%(byte)s at offset %(offset)s)"),
    Code.UNDECODABLE_UTF8: _(
        "bytes are not valid %(encoding)s (byte 0x%(byte)s at offset %(offset)s) (is the file in another encoding, such as GBK?)"
    ),
    Code.QUOTE_NOT_CLOSED: _("quoted field is not closed before the end of the file"),
    Code.MALFORMED_CSV: _("malformed CSV: %(detail)s"),
    Code.ROW_WIDTH: _("row has %(found)s fields, the header has %(expected)s"),
    Code.VALUE_EMPTY: _("is empty"),
    Code.TOO_LONG_FOR_AMOUNT: _("%(value)s is too long for an amount"),
    Code.NOT_AN_AMOUNT: _("%(value)s is not an amount"),
    Code.NOT_A_PERCENTAGE: _("%(value)s is not a percentage"),
    Code.NOT_AN_AMOUNT_IN_FEN: _("%(value)s is not an amount in fen"),
    Code.NOT_A_DATETIME: _("%(value)s is not a date and time (YYYY-MM-DD HH:MM:SS)"),
    Code.NOT_A_DATE: _("%(value)s is not a date"),
    Code.ZIP_UNREADABLE: _("not a readable ZIP archive: %(detail)s"),
    Code.ZIP_TOO_MANY_MEMBERS: _(
        "the ZIP archive holds %(count)s members, more than %(limit)s: refused (a statement archive holds a few files)"
    ),
    Code.ZIP_UNSAFE_NAME: _(
        "the ZIP archive holds the member %(member)s, a name pointing outside the archive (an absolute path or '..'): refused"
    ),
    Code.ZIP_EXPANDS_PAST_TOTAL: _(
        "ZIP member %(member)s expands past the limit of %(limit)s expanded "
        "(STATEMENT_MAX_EXPANDED_BYTES), at a ratio of %(ratio)s:1: refused as a "
        "possible zip bomb"
    ),
    Code.ZIP_DECLARES_PAST_TOTAL: _(
        "ZIP member %(member)s declares it expands past the limit of %(limit)s "
        "expanded (STATEMENT_MAX_EXPANDED_BYTES), at a ratio of %(ratio)s:1: refused "
        "as a possible zip bomb"
    ),
    Code.ZIP_EXPANDS_PAST_RATIO: _(
        "ZIP member %(member)s expands to %(ratio)s times its compressed size "
        "(%(compressed)s bytes), more than the limit of %(limit)s:1 "
        "(STATEMENT_MAX_ZIP_RATIO): refused as a possible zip bomb"
    ),
    Code.ZIP_DECLARES_PAST_RATIO: _(
        "ZIP member %(member)s declares it expands to %(ratio)s times its compressed "
        "size (%(compressed)s bytes), more than the limit of %(limit)s:1 "
        "(STATEMENT_MAX_ZIP_RATIO): refused as a possible zip bomb"
    ),
    Code.ZIP_MEMBER_UNREADABLE: _("ZIP member %(member)s cannot be read: %(detail)s"),
    Code.ZIP_NESTED: _("ZIP member %(member)s is itself a ZIP archive: nested archives are not expanded"),
    Code.ZIP_MEMBER_DAMAGED: _("ZIP member %(member)s is damaged: %(detail)s"),
    Code.ZIP_NO_MEMBER_ENDING: _("the ZIP archive holds no …_%(suffix)s member; members: %(members)s"),
    Code.WECHAT_NO_BACKTICK: _("detail rows must start with a backtick (`)"),
    Code.WECHAT_UNKNOWN_STATE: _("unknown 交易状态 %(value)s (expected SUCCESS or REFUND)"),
    Code.WECHAT_REFUND_COLUMN_MISSING: _("a refund row needs this column, which the header lacks"),
    Code.WECHAT_UNKNOWN_REFUND_STATUS: _("unknown 退款状态 %(value)s"),
    Code.WECHAT_REFUND_UNDATED: _(
        "the refund has no 退款申请时间 nor 退款成功时间: dated by 交易时间, the refunded payment's time"
    ),
    Code.WECHAT_UNKNOWN_FUND_KIND: _("unknown 收支类型 %(value)s (expected 收入 or 支出)"),
    Code.SUMMARY_NOT_A_COUNT: _("%(value)s is not a count"),
    Code.SUMMARY_ROW_MISSING: _("summary header is not followed by the summary row"),
    Code.SUMMARY_ROW_WIDTH: _("summary row has %(found)s fields, its header %(expected)s"),
    Code.SUMMARY_CONTENT_AFTER: _("unexpected content after the summary row"),
    Code.SUMMARY_MISSING: _("the summary (%(first)s,…) is missing: the file may be truncated"),
    Code.SUMMARY_LACKS: _("summary lacks %(name)s"),
    Code.SUMMARY_MISMATCH: _("summary %(name)s declares %(declared)s, parsed rows give %(parsed)s"),
    Code.ALIPAY_NUL_ABOVE_HEADER: _(
        "a line above the column header holds NUL bytes (0x00): the file is damaged, download it again"
    ),
    Code.ALIPAY_BAD_PERIOD: _("the period holds a date that does not exist (%(detail)s)"),
    Code.ALIPAY_ROW_AFTER_END: _("row found after the end-of-list marker"),
    Code.ALIPAY_FOOTER_MISSING: _("footer #%(name)s合计 is missing: the file may be truncated"),
    Code.ALIPAY_UNKNOWN_TYPE: _("unknown 业务类型 %(value)s (expected 交易 or 退款)"),
    Code.ALIPAY_FOOTER_COUNT_MISMATCH: _("footer %(footer)s count declares %(declared)s, parsed rows give %(parsed)s"),
    Code.ALIPAY_FOOTER_SUM_MISMATCH: _("footer %(footer)s %(label)s declares %(declared)s, parsed rows give %(parsed)s"),
    Code.ALIPAY_FOOTER_AMOUNT_MISMATCH: _("footer %(footer)s amount declares %(declared)s, parsed rows give %(parsed)s"),
    Code.ALIPAY_BOTH_AMOUNTS: _("a row has both 收入金额 and 支出金额"),
    Code.ZM_WRONG_RECORDS: _(
        "not a UnionPay ZM file: records of %(expected)s bytes with fields separated by spaces expected, found %(found)s bytes"
    ),
    Code.ZM_NO_FILE_DATE: _("no file date given: transaction times are left empty"),
    Code.ZM_NO_MEMBER: _("the ZIP archive holds no INN…ZM_ member; members: %(members)s"),
    Code.ZM_MEMBER_DATE: _("the ZIP member %(member)s is dated %(stamp)s, which is not a date (yymmdd)"),
    Code.ZME_TRUNCATED: _("%(member)s: more than %(limit)s error lines; the rest are not listed"),
    Code.ZME_RECORD: _("%(member)s: UnionPay error record: %(record)s"),
    Code.ZM_FIELD_NOT_GBK: _("bytes are not valid GBK (a character is cut by the field boundary?)"),
    Code.ZM_NOT_A_TIME: _("%(value)s is not a time (MMDDhhmmss)"),
    Code.ZM_RECORD_LENGTH: _("record has %(found)s bytes, a ZM record has %(expected)s"),
    Code.ZM_NOT_GBK: _("bytes are not valid GBK"),
    Code.ZM_FIELDS_SHIFTED: _(
        "no space after the field at byte %(byte)s: fields are shifted (was the file re-encoded or edited?)"
    ),
    Code.MT940_NO_20: _("not an MT940 statement: no :20: tag found"),
    Code.MT940_UNDECODABLE: _(
        "bytes are not valid %(encoding)s (byte 0x%(byte)s at offset %(offset)s): is "
        "the encoding configured for this format the file's?"
    ),
    Code.MT940_NO_OPENING: _("statement %(reference)s has no opening balance (:60F: or :60M:)"),
    Code.MT940_NO_CLOSING_BEFORE_NEXT: _(
        "statement %(reference)s (line %(statement_line)s) has no closing balance (:62F:) before the next statement"
    ),
    Code.MT940_NO_CLOSING_AT_END: _(
        "statement %(reference)s (line %(statement_line)s) has no closing balance (:62F:): the file may be truncated"
    ),
    Code.MT940_MOVEMENT_BEFORE_OPENING: _("movement before the opening balance (:60F:)"),
    Code.MT940_BAD_MOVEMENT: _("%(value)s is not an MT940 movement line"),
    Code.MT940_VALUE_DATE_PAST_MONTH: _(
        "%(value)s is not a calendar date (%(month)s has %(days)s days): taken as %(taken)s, the last day of that month"
    ),
    Code.MT940_CLOSING_WITHOUT_OPENING: _("closing balance without an opening balance"),
    Code.MT940_CLOSING_CURRENCY: _(
        "closing balance currency %(currency)s differs from the opening balance's %(opening_currency)s"
    ),
    Code.MT940_BALANCE_MISMATCH: _(
        "closing balance declares %(closing)s %(currency)s, opening balance "
        "%(opening)s + movements %(movements)s give %(expected)s"
    ),
    Code.MT940_BAD_BALANCE: _("%(value)s is not a balance (C/D, YYMMDD, currency, amount)"),
    Code.MT940_BAD_AMOUNT: _("%(value)s is not an MT940 amount (digits with one decimal comma)"),
    Code.MT940_BAD_DATE: _("%(value)s is not a date (YYMMDD)"),
    Code.MT940_BAD_ENTRY_DATE: _("%(value)s is not a date (MMDD)"),
    Code.CAMT_NO_XML_MEMBER: _("the ZIP archive holds no XML member (a camt.053 statement); members: %(members)s"),
    Code.CAMT_NOT_WELL_FORMED: _("%(where)sXML is not well-formed: %(detail)s"),
    Code.CAMT_UNKNOWN_ENCODING: _("%(where)sXML declares an unknown encoding: %(detail)s"),
    Code.CAMT_FORBIDDEN_XML: _(
        "%(where)sXML uses a DTD, entity declarations or external references, which statements must not (%(detail)s)"
    ),
    Code.CAMT_BAD_ROOT: _(
        "%(where)snot a camt.053 statement: root element %(element)s is not a Document in a %(namespace)sNN namespace"
    ),
    Code.CAMT_NO_DOCUMENT: _("%(where)snot a camt.053 statement: no Document element"),
    Code.CAMT_BALANCE_NO_AMOUNT: _("balance %(balance)s has no Amt"),
    Code.CAMT_BAD_DATE_OR_DATETIME: _("%(value)s is not an ISO date or date-time"),
    Code.CAMT_BAD_DATE: _("%(value)s is not an ISO date"),
    Code.CAMT_BAD_DATETIME: _("%(value)s is not an ISO date-time"),
    Code.CAMT_ENTRIES_WITHOUT_STATUS: ngettext_lazy(
        "statement of account %(account)s: %(count)s entry has no status (Sts): "
        "taken as booked, as a camt.053 statement reports booked entries (entries "
        "%(entries)s)",
        "statement of account %(account)s: %(count)s entries have no status (Sts): "
        "taken as booked, as a camt.053 statement reports booked entries (entries "
        "%(entries)s)",
        "count",
    ),
    Code.CAMT_SKIPPED: ngettext_lazy(
        "%(count)s entry skipped as not booked (status %(statuses)s)",
        "%(count)s entries skipped as not booked (status %(statuses)s)",
        "count",
    ),
    Code.CAMT_SKIPPED_ENTRIES: _("statement of account %(account)s: %(skipped)s (entries %(entries)s)"),
    Code.CAMT_BALANCE_MISMATCH: _(
        "statement of account %(account)s: closing balance (CLBD) declares "
        "%(closing)s %(currency)s, opening balance %(opening)s + entries "
        "%(movements)s give %(expected)s"
    ),
    Code.CAMT_BALANCE_MISMATCH_SKIPPED: _(
        "statement of account %(account)s: closing balance (CLBD) declares "
        "%(closing)s %(currency)s, opening balance %(opening)s + entries "
        "%(movements)s give %(expected)s; %(skipped)s, not counted in the entries"
    ),
    Code.CAMT_ENTRY_NOT_BOOKED: _("entry with status %(status)s skipped: not booked"),
    Code.CAMT_ENTRY_NO_AMOUNT: _("entry has no Amt"),
    Code.CAMT_BAD_INDICATOR: _("%(value)s is not CRDT or DBIT"),
    Code.CAMT_ENTRY_NO_BOOKING_DATE: _("entry has no booking date"),
    Code.CAMT_BATCH_COUNT_MISMATCH: _("batch declares NbOfTxs %(declared)s, the entry lists %(listed)s TxDtls"),
    Code.CAMT_BATCH_TOTAL_MISMATCH: _("batch TtlAmt declares %(declared)s, parsed rows give %(parsed)s"),
    Code.CAMT_BATCH_ENTRY_MISMATCH: _("entry Amt of the batch declares %(declared)s, parsed rows give %(parsed)s"),
    Code.CAMT_BATCH_ITEM_NO_AMOUNT: _("batch transaction has no amount"),
    Code.CONFIG_NOT_AN_OBJECT: _("must be an object"),
    Code.CONFIG_UNKNOWN_SETTING_KNOWN: _("unknown setting; known: %(known)s"),
    Code.CONFIG_UNKNOWN_SETTING: _("unknown setting"),
    Code.CONFIG_INDICATOR_MAP_REQUIRED: _("required when debit_credit is 'indicator'"),
    Code.CONFIG_NOT_TEXT: _("must be a text"),
    Code.CONFIG_REQUIRED: _("is required"),
    Code.CONFIG_NOT_ONE_OF: _("%(value)s is not one of %(choices)s"),
    Code.CONFIG_NOT_WHOLE_NUMBER: _("must be a whole number >= %(minimum)s"),
    Code.CONFIG_NOT_BOOLEAN: _("must be true or false"),
    Code.CONFIG_NOT_TEXTS: _("must be a text or a list of non-empty texts"),
    Code.CONFIG_EMPTY_LIST: _("must name at least one"),
    Code.CONFIG_NOT_STRPTIME: _("%(value)s is not a strptime pattern (e.g. %%Y-%%m-%%d)"),
    Code.CONFIG_UNKNOWN_ENCODING: _("%(value)s is not a known encoding"),
    Code.CONFIG_NOT_ASCII_COMPATIBLE: _("%(value)s is not ASCII-compatible (UTF-16 is not supported)"),
    Code.CONFIG_BAD_DELIMITER: _("must be one character other than a quote or newline"),
    Code.CONFIG_COLUMNS_NOT_A_MAP: _("must map target fields to header names"),
    Code.CONFIG_NOT_A_BUSINESS_FIELD: _("not a field of a business statement; fields: %(fields)s"),
    Code.CONFIG_NOT_A_FUND_FIELD: _("not a field of a fund statement; fields: %(fields)s"),
    Code.CONFIG_NOT_HEADER_NAMES: _("must be a header name or a list of alternative header names"),
    Code.CONFIG_OCCURRED_DATE_REQUIRED: _("required with columns.occurred_time"),
    Code.CONFIG_BOOKING_TIME_OR_BOOKED_AT: _("use either booking_time or booked_at"),
    Code.CONFIG_COLUMN_NOT_USED: _("not used when debit_credit is %(mode)s"),
    Code.CONFIG_NOT_A_VALUE_MAP: _("must map file values to codes"),
    Code.CONFIG_BAD_DECIMAL_SEPARATOR: _("must be '.' or ','"),
    Code.CONFIG_BAD_THOUSANDS_SEPARATOR: _("must be '', ',', '.', ' ' or \"'\" and differ from the decimal separator"),
    Code.CONFIG_BAD_UNIT: _("must be 'yuan' or 'fen'"),
    Code.CONFIG_BAD_CURRENCY: _("%(value)s is not an ISO 4217 code such as CNY"),
    Code.CONFIG_PATTERN_REQUIRED: _("is required (a regex with (?P<count>…), (?P<amount>…) and/or (?P<fee>…))"),
    Code.CONFIG_BAD_REGEX: _("is not a valid regex: %(detail)s"),
    Code.CONFIG_PATTERN_GROUPS: _("needs a named group count, amount or fee"),
    Code.CONFIG_BAD_SCOPE: _("must be one of %(choices)s"),
    Code.GENERIC_NOT_A_DATE: _("%(value)s is not a date in the format %(format)s"),
    Code.GENERIC_NOT_A_DATE_ANY: _("%(value)s is not a date in any of the formats %(formats)s"),
    Code.GENERIC_NOT_A_DATETIME: _("%(value)s is not a date and time in the format %(format)s"),
    Code.GENERIC_NOT_A_DATETIME_ANY: _("%(value)s is not a date and time in any of the formats %(formats)s"),
    Code.GENERIC_NOT_A_TIME: _("%(value)s is not a time in the format %(format)s"),
    Code.GENERIC_NOT_A_TIME_ANY: _("%(value)s is not a time in any of the formats %(formats)s"),
    Code.GENERIC_NOT_WHOLE_FEN: _("%(value)s is not a whole number of fen"),
    Code.GENERIC_XLSX_UNREADABLE: _("not a readable XLSX workbook: %(detail)s"),
    Code.GENERIC_NO_SHEET: _("the workbook has no sheet %(sheet)s; sheets: %(sheets)s"),
    Code.GENERIC_HEADER_EMPTY: _("the header row is empty"),
    Code.GENERIC_ENDS_BEFORE_HEADER: _("the file ends before the header row %(row)s"),
    Code.GENERIC_COLUMN_MISSING: _("required column is missing from the header (looked for %(names)s)"),
    Code.GENERIC_CONTROL_COUNT_MISMATCH: _("control total count declares %(declared)s, parsed rows give %(parsed)s"),
    Code.GENERIC_CONTROL_AMOUNT_MISMATCH: _("control total amount declares %(declared)s, parsed rows give %(parsed)s"),
    Code.GENERIC_CONTROL_FEE_MISMATCH: _("control total fee declares %(declared)s, parsed rows give %(parsed)s"),
    Code.GENERIC_NO_CONTROL_FOOTER: _("no footer row matches the control-total pattern"),
    Code.GENERIC_NOT_IN_MAP: _("value %(value)s is not in the configured %(map)s map"),
    Code.GENERIC_DEBIT_AND_CREDIT: _("a row has both a debit and a credit amount"),
    Code.GENERIC_NEITHER_DEBIT_NOR_CREDIT: _("a row has neither a debit nor a credit amount"),
    IntakeCode.BUSINESS_KIND: _("business-detail"),
    IntakeCode.FUND_KIND: _("fund"),
    IntakeCode.NOT_THE_DECLARED_KIND: _(
        "not the declared type: the format reads %(read)s statements, the file was declared %(declared)s"
    ),
    IntakeCode.SEVERAL_ACCOUNTS: _(
        "the file holds statements of %(count)d accounts or currencies "
        "(%(accounts)s): a statement file is taken for one bank account in one "
        "currency. Ask the bank for one file per account, or upload each account's "
        "statement on its own."
    ),
    IntakeCode.NO_ACCOUNT: _("the statement names no account"),
    IntakeCode.CHOSEN_ACCOUNT_NOT_THE_CHANNELS: _(
        "the chosen bank account %(chosen)s is not one of channel %(channel)s's bank accounts"
    ),
    IntakeCode.NOT_THE_CHOSEN_ACCOUNT: _("the statement is of account %(account)s, not of the chosen bank account %(chosen)s"),
    IntakeCode.NOT_THE_CHANNELS_ACCOUNT: _(
        "the statement is of account %(account)s, which is not one of channel "
        "%(channel)s's bank accounts (%(held)s). Upload it under the channel of that "
        "account, or have an administrator add the account to the channel's bank."
    ),
    IntakeCode.ACCOUNT_CURRENCY: _(
        "the statement of account %(account)s is in %(currency)s, but bank account %(ours)s is held in %(held)s"
    ),
    IntakeCode.MOVEMENT_OF_ANOTHER_ACCOUNT: _(
        "a movement of account %(other)s in a file of account %(account)s: a statement file is taken for one bank account"
    ),
    IntakeCode.MOVEMENT_CURRENCY: _("a movement in %(currency)s on an account held in %(held)s: totals never mix currencies"),
    IntakeCode.VALUE_NOT_SUPPORTED: _("%(value)s is a value we do not support"),
    IntakeCode.ROW_VALUE_NOT_SUPPORTED: _("a row holds a value we do not support"),
    IntakeCode.VALUE_NOT_STORED: _("%(value)s cannot be stored: %(detail)s"),
    IntakeCode.ROW_NOT_STORED: _("a row cannot be stored: %(detail)s"),
    IntakeCode.NO_LINES: _("the file holds no statement lines"),
    IntakeCode.REPEATED_LINE: _("repeats line %(first)s exactly (duplicate line)"),
    IntakeCode.ATTEMPTS_EXHAUSTED: _(
        "parsing stopped the worker %(count)d times; refused rather than parsed "
        "again (STATEMENT_PARSE_MAX_ATTEMPTS = %(limit)d). Look into the file (a zip "
        "bomb? far bigger than usual?), then parse it again."
    ),
    IntakeCode.FORMAT_CONFIG: _("the statement format's configuration cannot be used: setting %(key)s: %(reason)s"),
    IntakeCode.FAILED: _("the file could not be parsed: %(detail)s"),
    IntakeCode.REPEATED_LINE_KEPT: _("repeats line %(first)s exactly: imported, reported as a duplicate"),
    IntakeCode.QUIET_DAY: _("no movements: the statement states its balances only (a quiet day)"),
}

CODES: dict[str, MessageCode] = {str(code): code for enum in (Code, IntakeCode) for code in enum}


def message_from_json(data: Mapping) -> Message | None:
    """The message a stored ``{"code", "params"}`` holds; None for a code this version does not know."""
    code = CODES.get(data.get("code") or "")
    if code is None:
        return None
    params = {}
    for name, value in (data.get("params") or {}).items():
        if isinstance(value, Mapping):
            value = message_from_json(value)
            if value is None:
                return None
        params[name] = value
    return Message(code, **params)


def message_text(message: Message) -> str:
    """The message in the active language (a phrase given as a parameter too)."""
    params = {name: message_text(value) if isinstance(value, Message) else value for name, value in message.params.items()}
    entry = CATALOGUE.get(message.code)
    if entry is None:  # pragma: no cover - the catalogue is complete (tests/reconciliation/test_statement_messages.py)
        return message.text
    return str(entry % params)


def problem_json(message: Message, *, line: int | None = None, field: str | None = None) -> dict:
    """A problem as a file stores it among its errors or warnings. A line or field it does not have is None,
    never empty."""
    return {"line": line or None, "field": field or None, "reason": message.text, **message.as_json()}


def problem_text(entry: Mapping) -> str:
    """The reason of a stored problem in the active language; the stored text when it has no code this version
    knows (rows stored before codes existed) or its parameters do not fit."""
    message = message_from_json(entry) if entry.get("code") else None
    if message is not None:
        try:
            return message_text(message)
        except (KeyError, TypeError, ValueError):
            pass
    return str(entry.get("reason") or "")


def located(text: str, *, line: int | None = None, field: str | None = None) -> str:
    """``line 12, field 应结订单金额: reason`` in the active language; only what is known is named, so a
    problem of the whole file reads as its reason alone, never "line :"."""
    if line and field:
        return gettext("line %(line)s, field %(field)s: %(reason)s") % {"line": line, "field": field, "reason": text}
    if line:
        return gettext("line %(line)s: %(reason)s") % {"line": line, "reason": text}
    if field:
        return gettext("field %(field)s: %(reason)s") % {"field": field, "reason": text}
    return text


def problems_shown(entries: Iterable[Mapping] | None) -> list[dict]:
    """A file's stored errors or warnings as shown (screens, API): each with its reason in the active
    language, its line and field, its code and parameters (None and {} for rows stored before codes)."""
    return [
        {
            "line": entry.get("line") or None,
            "field": entry.get("field") or None,
            "reason": problem_text(entry),
            "code": entry.get("code") or None,
            "params": entry.get("params") or {},
        }
        for entry in entries or []
        if isinstance(entry, Mapping)
    ]
