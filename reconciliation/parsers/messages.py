"""What the parsers say about a file, as stable codes with parameters, so that it can be shown in any language.

A refusal (``StatementParseError``) or a warning (``ParseWarning``) carries a ``Message``: a ``Code`` and its
parameters. Each code holds its English text, a %-format template with named placeholders (``%(value)s``),
used for logs, for the parsers' own tests and as the text stored beside the code. The parsers stay free of
Django: the words a reader sees in their language come from the intake's catalogue
(``reconciliation/services/intake/messages.py``), which has an entry for every code here, keyed by the code,
whose English is this text.

Parameters are what the text shows, ready to be shown: a value quoted as the file holds it (``"'6.0x'"``),
a number, a name. A parameter may itself be a ``Message`` (a phrase of its own, such as the kind of bill a
file is not, or "ZIP member 'x.xml': ") so that it is translated too. A code whose English is a pair
(singular, plural) counts something in its ``count`` parameter.

Codes are stored with every file's errors and warnings and answered by the API: never rename one; retire
it and add another when the meaning changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Union

Param = Union[str, int, "Message"]


class MessageCode(StrEnum):
    """Base of the code enums: each member's value is the stable code, ``english`` its English template
    (or the pair singular, plural)."""

    english: str | tuple[str, str]

    def __new__(cls, value: str, english: str | tuple[str, str]):
        member = str.__new__(cls, value)
        member._value_ = value
        member.english = english
        return member


class Message:
    """A code and its parameters; ``text`` is the English."""

    __slots__ = ("code", "params")

    def __init__(self, code: MessageCode, /, **params: Param) -> None:
        self.code = code
        self.params: Mapping[str, Param] = params

    @property
    def text(self) -> str:
        return english_template(self.code.english, self.params) % {
            name: value.text if isinstance(value, Message) else value for name, value in self.params.items()
        }

    def as_json(self) -> dict:
        """``{"code": ..., "params": {...}}``, a parameter that is a phrase of its own as such a dict too."""
        return {
            "code": str(self.code),
            "params": {name: value.as_json() if isinstance(value, Message) else value for name, value in self.params.items()},
        }

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Message({self.code.name}, {dict(self.params)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self.code == other.code and self.params == other.params

    def __hash__(self) -> int:
        return hash((self.code, tuple(sorted(self.params.items(), key=lambda item: item[0]))))


def english_template(english: str | tuple[str, str], params: Mapping[str, object]) -> str:
    """The template of a code for these parameters: the plural one when ``count`` is not 1."""
    if isinstance(english, tuple):
        return english[0] if params.get("count") == 1 else english[1]
    return english


class Code(MessageCode):
    """Every refusal and warning of the parsers."""

    # --- phrases used inside other messages
    A_WECHAT_TRADE_BILL = "term.wechat_trade_bill", "a WeChat Pay trade bill"
    A_WECHAT_FUND_BILL = "term.wechat_fund_bill", "a WeChat Pay fund-flow bill"
    AN_ALIPAY_TRADE_BILL = "term.alipay_trade_bill", "an Alipay 业务明细 (trade) bill"
    AN_ALIPAY_ACCOUNT_BILL = "term.alipay_account_bill", "an Alipay 账务明细 (account) bill"
    A_UNIONPAY_ZM_FILE = "term.unionpay_zm_file", "a UnionPay ZM file"
    A_CAMT053_STATEMENT = "term.camt053_statement", "a camt.053 statement"
    NONE = "term.none", "none"
    NO_ACCOUNT = "term.no_account", "(none)"
    IN_ZIP_MEMBER = "term.in_zip_member", "ZIP member %(member)s: "
    AND_MORE = "term.and_more", "%(shown)s and %(more)s more"
    SIZE_BYTES = "term.size_bytes", "%(size)s bytes"
    CUT_SHORT = "term.cut_short", "%(value)s… (%(length)s characters)"

    # --- the file as a whole
    EMPTY_FILE = "file.empty", "empty file: not %(what)s"
    HEADER_NOT_FOUND = "file.header_not_found", "not %(what)s: header row with %(signature)s,… not found"
    NO_HEADER_FOUND = "file.no_header_found", "not %(what)s: no header row with %(signature)s,… found"
    HEADER_HOLDS_NUL = "file.header_nul", "the header holds NUL bytes (0x00): the file is damaged, download it again"
    COLUMN_MISSING = "file.column_missing", "required column is missing from the header"
    PERSONAL_WECHAT_BILL = (
        "file.personal_wechat_bill",
        "this is a personal WeChat Pay bill (a consumer's payment history exported from the app), not a merchant "
        "bill: download the merchant's trade bill (交易账单) or fund bill (资金账单) from the WeChat Pay merchant platform",
    )
    PERSONAL_ALIPAY_BILL = (
        "file.personal_alipay_bill",
        "this is a personal Alipay bill (a consumer's payment history exported from the app), not a merchant bill: "
        "download the merchant's 业务明细 or 账务明细 bill from the Alipay merchant platform (商家中心)",
    )

    # --- text encodings and CSV
    UNKNOWN_ENCODING = "text.unknown_encoding", "unknown text encoding %(encoding)s configured for this format"
    UTF16_TEXT = (
        "text.utf16",
        "the file is UTF-16 text (Excel's 'Unicode text'): save it as CSV (UTF-8 or GBK) and upload it again",
    )
    UNDECODABLE = "text.undecodable", "bytes are not valid %(encoding)s (byte 0x%(byte)s at offset %(offset)s)"
    UNDECODABLE_UTF8 = (
        "text.undecodable_utf8",
        "bytes are not valid %(encoding)s (byte 0x%(byte)s at offset %(offset)s) (is the file in another encoding, such as GBK?)",
    )
    QUOTE_NOT_CLOSED = "csv.quote_not_closed", "quoted field is not closed before the end of the file"
    MALFORMED_CSV = "csv.malformed", "malformed CSV: %(detail)s"
    ROW_WIDTH = "row.width", "row has %(found)s fields, the header has %(expected)s"

    # --- values
    VALUE_EMPTY = "value.empty", "is empty"
    TOO_LONG_FOR_AMOUNT = "value.too_long_for_amount", "%(value)s is too long for an amount"
    NOT_AN_AMOUNT = "value.not_amount", "%(value)s is not an amount"
    NOT_A_PERCENTAGE = "value.not_percentage", "%(value)s is not a percentage"
    NOT_AN_AMOUNT_IN_FEN = "value.not_fen", "%(value)s is not an amount in fen"
    NOT_A_DATETIME = "value.not_datetime", "%(value)s is not a date and time (YYYY-MM-DD HH:MM:SS)"
    NOT_A_DATE = "value.not_date", "%(value)s is not a date"

    # --- ZIP archives
    ZIP_UNREADABLE = "zip.unreadable", "not a readable ZIP archive: %(detail)s"
    ZIP_TOO_MANY_MEMBERS = (
        "zip.too_many_members",
        "the ZIP archive holds %(count)s members, more than %(limit)s: refused (a statement archive holds a few files)",
    )
    ZIP_UNSAFE_NAME = (
        "zip.unsafe_name",
        "the ZIP archive holds the member %(member)s, a name pointing outside the archive (an absolute path or '..'): refused",
    )
    ZIP_EXPANDS_PAST_TOTAL = (
        "zip.expands_past_total",
        "ZIP member %(member)s expands past the limit of %(limit)s expanded (STATEMENT_MAX_EXPANDED_BYTES), at a "
        "ratio of %(ratio)s:1: refused as a possible zip bomb",
    )
    ZIP_DECLARES_PAST_TOTAL = (
        "zip.declares_past_total",
        "ZIP member %(member)s declares it expands past the limit of %(limit)s expanded "
        "(STATEMENT_MAX_EXPANDED_BYTES), at a ratio of %(ratio)s:1: refused as a possible zip bomb",
    )
    ZIP_EXPANDS_PAST_RATIO = (
        "zip.expands_past_ratio",
        "ZIP member %(member)s expands to %(ratio)s times its compressed size (%(compressed)s bytes), more than the "
        "limit of %(limit)s:1 (STATEMENT_MAX_ZIP_RATIO): refused as a possible zip bomb",
    )
    ZIP_DECLARES_PAST_RATIO = (
        "zip.declares_past_ratio",
        "ZIP member %(member)s declares it expands to %(ratio)s times its compressed size (%(compressed)s bytes), "
        "more than the limit of %(limit)s:1 (STATEMENT_MAX_ZIP_RATIO): refused as a possible zip bomb",
    )
    ZIP_MEMBER_UNREADABLE = "zip.member_unreadable", "ZIP member %(member)s cannot be read: %(detail)s"
    ZIP_NESTED = "zip.nested", "ZIP member %(member)s is itself a ZIP archive: nested archives are not expanded"
    ZIP_MEMBER_DAMAGED = "zip.member_damaged", "ZIP member %(member)s is damaged: %(detail)s"
    ZIP_NO_MEMBER_ENDING = "zip.no_member_ending", "the ZIP archive holds no …_%(suffix)s member; members: %(members)s"

    # --- WeChat Pay bills
    WECHAT_NO_BACKTICK = "wechat.no_backtick", "detail rows must start with a backtick (`)"
    WECHAT_UNKNOWN_STATE = "wechat.unknown_state", "unknown 交易状态 %(value)s (expected SUCCESS or REFUND)"
    WECHAT_REFUND_COLUMN_MISSING = "wechat.refund_column_missing", "a refund row needs this column, which the header lacks"
    WECHAT_UNKNOWN_REFUND_STATUS = "wechat.unknown_refund_status", "unknown 退款状态 %(value)s"
    WECHAT_REFUND_UNDATED = (
        "wechat.refund_undated",
        "the refund has no 退款申请时间 nor 退款成功时间: dated by 交易时间, the refunded payment's time",
    )
    WECHAT_UNKNOWN_FUND_KIND = "wechat.unknown_fund_kind", "unknown 收支类型 %(value)s (expected 收入 or 支出)"
    SUMMARY_NOT_A_COUNT = "summary.not_count", "%(value)s is not a count"
    SUMMARY_ROW_MISSING = "summary.row_missing", "summary header is not followed by the summary row"
    SUMMARY_ROW_WIDTH = "summary.row_width", "summary row has %(found)s fields, its header %(expected)s"
    SUMMARY_CONTENT_AFTER = "summary.content_after", "unexpected content after the summary row"
    SUMMARY_MISSING = "summary.missing", "the summary (%(first)s,…) is missing: the file may be truncated"
    SUMMARY_LACKS = "summary.lacks", "summary lacks %(name)s"
    SUMMARY_MISMATCH = "summary.mismatch", "summary %(name)s declares %(declared)s, parsed rows give %(parsed)s"

    # --- Alipay bills
    ALIPAY_NUL_ABOVE_HEADER = (
        "alipay.nul_above_header",
        "a line above the column header holds NUL bytes (0x00): the file is damaged, download it again",
    )
    ALIPAY_BAD_PERIOD = "alipay.bad_period", "the period holds a date that does not exist (%(detail)s)"
    ALIPAY_ROW_AFTER_END = "alipay.row_after_end", "row found after the end-of-list marker"
    ALIPAY_FOOTER_MISSING = "alipay.footer_missing", "footer #%(name)s合计 is missing: the file may be truncated"
    ALIPAY_UNKNOWN_TYPE = "alipay.unknown_type", "unknown 业务类型 %(value)s (expected 交易 or 退款)"
    ALIPAY_FOOTER_COUNT_MISMATCH = (
        "alipay.footer_count_mismatch",
        "footer %(footer)s count declares %(declared)s, parsed rows give %(parsed)s",
    )
    ALIPAY_FOOTER_SUM_MISMATCH = (
        "alipay.footer_sum_mismatch",
        "footer %(footer)s %(label)s declares %(declared)s, parsed rows give %(parsed)s",
    )
    ALIPAY_FOOTER_AMOUNT_MISMATCH = (
        "alipay.footer_amount_mismatch",
        "footer %(footer)s amount declares %(declared)s, parsed rows give %(parsed)s",
    )
    ALIPAY_BOTH_AMOUNTS = "alipay.both_amounts", "a row has both 收入金额 and 支出金额"

    # --- UnionPay ZM file
    ZM_WRONG_RECORDS = (
        "unionpay.wrong_records",
        "not a UnionPay ZM file: records of %(expected)s bytes with fields separated by spaces expected, found %(found)s bytes",
    )
    ZM_NO_FILE_DATE = "unionpay.no_file_date", "no file date given: transaction times are left empty"
    ZM_NO_MEMBER = "unionpay.no_member", "the ZIP archive holds no INN…ZM_ member; members: %(members)s"
    ZM_MEMBER_DATE = "unionpay.member_date", "the ZIP member %(member)s is dated %(stamp)s, which is not a date (yymmdd)"
    ZME_TRUNCATED = "unionpay.zme_truncated", "%(member)s: more than %(limit)s error lines; the rest are not listed"
    ZME_RECORD = "unionpay.zme_record", "%(member)s: UnionPay error record: %(record)s"
    ZM_FIELD_NOT_GBK = "unionpay.field_not_gbk", "bytes are not valid GBK (a character is cut by the field boundary?)"
    ZM_NOT_A_TIME = "unionpay.not_time", "%(value)s is not a time (MMDDhhmmss)"
    ZM_RECORD_LENGTH = "unionpay.record_length", "record has %(found)s bytes, a ZM record has %(expected)s"
    ZM_NOT_GBK = "unionpay.not_gbk", "bytes are not valid GBK"
    ZM_FIELDS_SHIFTED = (
        "unionpay.fields_shifted",
        "no space after the field at byte %(byte)s: fields are shifted (was the file re-encoded or edited?)",
    )

    # --- MT940
    MT940_NO_20 = "mt940.no_20", "not an MT940 statement: no :20: tag found"
    MT940_UNDECODABLE = (
        "mt940.undecodable",
        "bytes are not valid %(encoding)s (byte 0x%(byte)s at offset %(offset)s): is the encoding configured for "
        "this format the file's?",
    )
    MT940_NO_OPENING = "mt940.no_opening", "statement %(reference)s has no opening balance (:60F: or :60M:)"
    MT940_NO_CLOSING_BEFORE_NEXT = (
        "mt940.no_closing_before_next",
        "statement %(reference)s (line %(statement_line)s) has no closing balance (:62F:) before the next statement",
    )
    MT940_NO_CLOSING_AT_END = (
        "mt940.no_closing_at_end",
        "statement %(reference)s (line %(statement_line)s) has no closing balance (:62F:): the file may be truncated",
    )
    MT940_MOVEMENT_BEFORE_OPENING = "mt940.movement_before_opening", "movement before the opening balance (:60F:)"
    MT940_BAD_MOVEMENT = "mt940.bad_movement", "%(value)s is not an MT940 movement line"
    MT940_VALUE_DATE_PAST_MONTH = (
        "mt940.value_date_past_month",
        "%(value)s is not a calendar date (%(month)s has %(days)s days): taken as %(taken)s, the last day of that month",
    )
    MT940_CLOSING_WITHOUT_OPENING = "mt940.closing_without_opening", "closing balance without an opening balance"
    MT940_CLOSING_CURRENCY = (
        "mt940.closing_currency",
        "closing balance currency %(currency)s differs from the opening balance's %(opening_currency)s",
    )
    MT940_BALANCE_MISMATCH = (
        "mt940.balance_mismatch",
        "closing balance declares %(closing)s %(currency)s, opening balance %(opening)s + movements %(movements)s "
        "give %(expected)s",
    )
    MT940_BAD_BALANCE = "mt940.bad_balance", "%(value)s is not a balance (C/D, YYMMDD, currency, amount)"
    MT940_BAD_AMOUNT = "mt940.bad_amount", "%(value)s is not an MT940 amount (digits with one decimal comma)"
    MT940_BAD_DATE = "mt940.bad_date", "%(value)s is not a date (YYMMDD)"
    MT940_BAD_ENTRY_DATE = "mt940.bad_entry_date", "%(value)s is not a date (MMDD)"

    # --- camt.053
    CAMT_NO_XML_MEMBER = (
        "camt.no_xml_member",
        "the ZIP archive holds no XML member (a camt.053 statement); members: %(members)s",
    )
    CAMT_NOT_WELL_FORMED = "camt.not_well_formed", "%(where)sXML is not well-formed: %(detail)s"
    CAMT_UNKNOWN_ENCODING = "camt.unknown_encoding", "%(where)sXML declares an unknown encoding: %(detail)s"
    CAMT_FORBIDDEN_XML = (
        "camt.forbidden_xml",
        "%(where)sXML uses a DTD, entity declarations or external references, which statements must not (%(detail)s)",
    )
    CAMT_BAD_ROOT = (
        "camt.bad_root",
        "%(where)snot a camt.053 statement: root element %(element)s is not a Document in a %(namespace)sNN namespace",
    )
    CAMT_NO_DOCUMENT = "camt.no_document", "%(where)snot a camt.053 statement: no Document element"
    CAMT_BALANCE_NO_AMOUNT = "camt.balance_no_amount", "balance %(balance)s has no Amt"
    CAMT_BAD_DATE_OR_DATETIME = "camt.bad_date_or_datetime", "%(value)s is not an ISO date or date-time"
    CAMT_BAD_DATE = "camt.bad_date", "%(value)s is not an ISO date"
    CAMT_BAD_DATETIME = "camt.bad_datetime", "%(value)s is not an ISO date-time"
    CAMT_ENTRIES_WITHOUT_STATUS = (
        "camt.entries_without_status",
        (
            "statement of account %(account)s: %(count)s entry has no status (Sts): taken as booked, as a camt.053 "
            "statement reports booked entries (entries %(entries)s)",
            "statement of account %(account)s: %(count)s entries have no status (Sts): taken as booked, as a camt.053 "
            "statement reports booked entries (entries %(entries)s)",
        ),
    )
    CAMT_SKIPPED = (
        "camt.skipped",
        (
            "%(count)s entry skipped as not booked (status %(statuses)s)",
            "%(count)s entries skipped as not booked (status %(statuses)s)",
        ),
    )
    CAMT_SKIPPED_ENTRIES = "camt.skipped_entries", "statement of account %(account)s: %(skipped)s (entries %(entries)s)"
    CAMT_BALANCE_MISMATCH = (
        "camt.balance_mismatch",
        "statement of account %(account)s: closing balance (CLBD) declares %(closing)s %(currency)s, opening balance "
        "%(opening)s + entries %(movements)s give %(expected)s",
    )
    CAMT_BALANCE_MISMATCH_SKIPPED = (
        "camt.balance_mismatch_skipped",
        "statement of account %(account)s: closing balance (CLBD) declares %(closing)s %(currency)s, opening balance "
        "%(opening)s + entries %(movements)s give %(expected)s; %(skipped)s, not counted in the entries",
    )
    CAMT_ENTRY_NOT_BOOKED = "camt.entry_not_booked", "entry with status %(status)s skipped: not booked"
    CAMT_ENTRY_NO_AMOUNT = "camt.entry_no_amount", "entry has no Amt"
    CAMT_BAD_INDICATOR = "camt.bad_indicator", "%(value)s is not CRDT or DBIT"
    CAMT_ENTRY_NO_BOOKING_DATE = "camt.entry_no_booking_date", "entry has no booking date"
    CAMT_BATCH_COUNT_MISMATCH = (
        "camt.batch_count_mismatch",
        "batch declares NbOfTxs %(declared)s, the entry lists %(listed)s TxDtls",
    )
    CAMT_BATCH_TOTAL_MISMATCH = "camt.batch_total_mismatch", "batch TtlAmt declares %(declared)s, parsed rows give %(parsed)s"
    CAMT_BATCH_ENTRY_MISMATCH = (
        "camt.batch_entry_mismatch",
        "entry Amt of the batch declares %(declared)s, parsed rows give %(parsed)s",
    )
    CAMT_BATCH_ITEM_NO_AMOUNT = "camt.batch_item_no_amount", "batch transaction has no amount"

    # --- the configurable CSV / XLSX format: its configuration
    CONFIG_NOT_AN_OBJECT = "config.not_object", "must be an object"
    CONFIG_UNKNOWN_SETTING_KNOWN = "config.unknown_setting_known", "unknown setting; known: %(known)s"
    CONFIG_UNKNOWN_SETTING = "config.unknown_setting", "unknown setting"
    CONFIG_INDICATOR_MAP_REQUIRED = "config.indicator_map_required", "required when debit_credit is 'indicator'"
    CONFIG_NOT_TEXT = "config.not_text", "must be a text"
    CONFIG_REQUIRED = "config.required", "is required"
    CONFIG_NOT_ONE_OF = "config.not_one_of", "%(value)s is not one of %(choices)s"
    CONFIG_NOT_WHOLE_NUMBER = "config.not_whole_number", "must be a whole number >= %(minimum)s"
    CONFIG_NOT_BOOLEAN = "config.not_boolean", "must be true or false"
    CONFIG_NOT_TEXTS = "config.not_texts", "must be a text or a list of non-empty texts"
    CONFIG_EMPTY_LIST = "config.empty_list", "must name at least one"
    CONFIG_NOT_STRPTIME = "config.not_strptime", "%(value)s is not a strptime pattern (e.g. %%Y-%%m-%%d)"
    CONFIG_UNKNOWN_ENCODING = "config.unknown_encoding", "%(value)s is not a known encoding"
    CONFIG_NOT_ASCII_COMPATIBLE = (
        "config.not_ascii_compatible",
        "%(value)s is not ASCII-compatible (UTF-16 is not supported)",
    )
    CONFIG_BAD_DELIMITER = "config.bad_delimiter", "must be one character other than a quote or newline"
    CONFIG_COLUMNS_NOT_A_MAP = "config.columns_not_map", "must map target fields to header names"
    CONFIG_NOT_A_BUSINESS_FIELD = "config.not_business_field", "not a field of a business statement; fields: %(fields)s"
    CONFIG_NOT_A_FUND_FIELD = "config.not_fund_field", "not a field of a fund statement; fields: %(fields)s"
    CONFIG_NOT_HEADER_NAMES = (
        "config.not_header_names",
        "must be a header name or a list of alternative header names",
    )
    CONFIG_OCCURRED_DATE_REQUIRED = "config.occurred_date_required", "required with columns.occurred_time"
    CONFIG_BOOKING_TIME_OR_BOOKED_AT = "config.booking_time_or_booked_at", "use either booking_time or booked_at"
    CONFIG_COLUMN_NOT_USED = "config.column_not_used", "not used when debit_credit is %(mode)s"
    CONFIG_NOT_A_VALUE_MAP = "config.not_value_map", "must map file values to codes"
    CONFIG_BAD_DECIMAL_SEPARATOR = "config.bad_decimal_separator", "must be '.' or ','"
    CONFIG_BAD_THOUSANDS_SEPARATOR = (
        "config.bad_thousands_separator",
        "must be '', ',', '.', ' ' or \"'\" and differ from the decimal separator",
    )
    CONFIG_BAD_UNIT = "config.bad_unit", "must be 'yuan' or 'fen'"
    CONFIG_BAD_CURRENCY = "config.bad_currency", "%(value)s is not an ISO 4217 code such as CNY"
    CONFIG_PATTERN_REQUIRED = (
        "config.pattern_required",
        "is required (a regex with (?P<count>…), (?P<amount>…) and/or (?P<fee>…))",
    )
    CONFIG_BAD_REGEX = "config.bad_regex", "is not a valid regex: %(detail)s"
    CONFIG_PATTERN_GROUPS = "config.pattern_groups", "needs a named group count, amount or fee"
    CONFIG_BAD_SCOPE = "config.bad_scope", "must be one of %(choices)s"

    # --- the configurable CSV / XLSX format: its files
    GENERIC_NOT_A_DATE = "generic.not_date", "%(value)s is not a date in the format %(format)s"
    GENERIC_NOT_A_DATE_ANY = "generic.not_date_any", "%(value)s is not a date in any of the formats %(formats)s"
    GENERIC_NOT_A_DATETIME = "generic.not_datetime", "%(value)s is not a date and time in the format %(format)s"
    GENERIC_NOT_A_DATETIME_ANY = (
        "generic.not_datetime_any",
        "%(value)s is not a date and time in any of the formats %(formats)s",
    )
    GENERIC_NOT_A_TIME = "generic.not_time", "%(value)s is not a time in the format %(format)s"
    GENERIC_NOT_A_TIME_ANY = "generic.not_time_any", "%(value)s is not a time in any of the formats %(formats)s"
    GENERIC_NOT_WHOLE_FEN = "generic.not_whole_fen", "%(value)s is not a whole number of fen"
    GENERIC_XLSX_UNREADABLE = "generic.xlsx_unreadable", "not a readable XLSX workbook: %(detail)s"
    GENERIC_NO_SHEET = "generic.no_sheet", "the workbook has no sheet %(sheet)s; sheets: %(sheets)s"
    GENERIC_HEADER_EMPTY = "generic.header_empty", "the header row is empty"
    GENERIC_ENDS_BEFORE_HEADER = "generic.ends_before_header", "the file ends before the header row %(row)s"
    GENERIC_COLUMN_MISSING = (
        "generic.column_missing",
        "required column is missing from the header (looked for %(names)s)",
    )
    GENERIC_CONTROL_COUNT_MISMATCH = (
        "generic.control_count_mismatch",
        "control total count declares %(declared)s, parsed rows give %(parsed)s",
    )
    GENERIC_CONTROL_AMOUNT_MISMATCH = (
        "generic.control_amount_mismatch",
        "control total amount declares %(declared)s, parsed rows give %(parsed)s",
    )
    GENERIC_CONTROL_FEE_MISMATCH = (
        "generic.control_fee_mismatch",
        "control total fee declares %(declared)s, parsed rows give %(parsed)s",
    )
    GENERIC_NO_CONTROL_FOOTER = "generic.no_control_footer", "no footer row matches the control-total pattern"
    GENERIC_NOT_IN_MAP = "generic.not_in_map", "value %(value)s is not in the configured %(map)s map"
    GENERIC_DEBIT_AND_CREDIT = "generic.debit_and_credit", "a row has both a debit and a credit amount"
    GENERIC_NEITHER_DEBIT_NOR_CREDIT = "generic.neither_debit_nor_credit", "a row has neither a debit nor a credit amount"


def shortened_list(items: list[str], *, limit: int) -> Param:
    """``"1, 2, 3"``, or a phrase ``"1, 2, 3 and 4 more"`` when there are more than ``limit``."""
    shown = ", ".join(items[:limit])
    return Message(Code.AND_MORE, shown=shown, more=len(items) - limit) if len(items) > limit else shown


def names_or_none(names: list[str]) -> Param:
    """Names joined by commas, or the word "none"."""
    return ", ".join(names) if names else Message(Code.NONE)
