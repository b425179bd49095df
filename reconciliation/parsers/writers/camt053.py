"""Writers of iSO 20022 camt.053 statements."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO
from xml.sax.saxutils import escape, quoteattr

from reconciliation.parsers.base import (
    ZERO,
    Direction,
    FundMovementRow,
)
from reconciliation.parsers.writers.common import money


def write_camt053(
    rows: Iterable[FundMovementRow],
    out: BinaryIO,
    *,
    account_ref: str,
    currency: str,
    opening_balance: Decimal,
    period: tuple[date, date],
    version: str = "02",
    statement_id: str = "STMT-1",
    created_at: datetime | None = None,
) -> None:
    """One camt.053 statement (version ``001.<version>``), streamed entry by entry. Batch rows
    (with ``items``) get ``Btch`` with NbOfTxs/TtlAmt and one TxDtls per item; single rows one
    TxDtls with the counterparty, EndToEndId = ``business_ref`` and Ustrd = ``memo``."""
    number = int(version)
    if not 2 <= number <= 13:
        raise ValueError("camt.053 versions 001.02 to 001.13 are supported")
    rows = list(rows)  # the closing balance precedes the entries
    closing = opening_balance + sum((row.amount if row.direction is Direction.CREDIT else -row.amount for row in rows), ZERO)
    start, end = period
    created = (created_at or datetime(end.year, end.month, end.day, 23, 0)).isoformat(timespec="seconds")
    write = lambda text: out.write(text.encode("utf-8"))  # noqa: E731 - local shorthand
    write('<?xml version="1.0" encoding="UTF-8"?>\n')
    write(f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{number:02d}"><BkToCstmrStmt>')
    write(f"<GrpHdr><MsgId>{escape(statement_id)}</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>")
    write(f"<Stmt><Id>{escape(statement_id)}</Id><CreDtTm>{created}</CreDtTm>")
    write(f"<FrToDt><FrDtTm>{start.isoformat()}T00:00:00</FrDtTm><ToDtTm>{end.isoformat()}T23:59:59</ToDtTm></FrToDt>")
    write(f"<Acct><Id><IBAN>{escape(account_ref)}</IBAN></Id><Ccy>{currency}</Ccy></Acct>")
    for code, amount, day in (("OPBD", opening_balance, start), ("CLBD", closing, end)):
        indicator = "CRDT" if amount >= 0 else "DBIT"
        write(
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy={quoteattr(currency)}>{money(abs(amount))}</Amt>"
            f"<CdtDbtInd>{indicator}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
        )
    for row in rows:
        write(_camt_entry(row, number))
    write("</Stmt></BkToCstmrStmt></Document>\n")


def _camt_party(role: str, name: str, account: str, number: int) -> str:
    if not name and not account:
        return ""
    named = f"<Nm>{escape(name)}</Nm>" if name else ""
    party = (f"<{role}><Pty>{named}</Pty></{role}>" if number >= 8 else f"<{role}>{named}</{role}>") if name else ""
    acct = f"<{role}Acct><Id><IBAN>{escape(account)}</IBAN></Id></{role}Acct>" if account else ""
    return party + acct


def _camt_details(
    amount: Decimal,
    currency: str,
    reference: str,
    bank_ref: str,
    name: str,
    account: str,
    memo: str,
    pays_out: bool,
    number: int,
) -> str:
    refs = ""
    if reference or bank_ref:
        refs = "<Refs>"
        refs += f"<AcctSvcrRef>{escape(bank_ref)}</AcctSvcrRef>" if bank_ref else ""
        refs += f"<EndToEndId>{escape(reference)}</EndToEndId>" if reference else ""
        refs += "</Refs>"
    party = _camt_party("Cdtr" if pays_out else "Dbtr", name, account, number)
    remittance = f"<RmtInf><Ustrd>{escape(memo)}</Ustrd></RmtInf>" if memo else ""
    return (
        f"<TxDtls>{refs}<AmtDtls><TxAmt><Amt Ccy={quoteattr(currency)}>{money(amount)}</Amt></TxAmt></AmtDtls>"
        f"{'<RltdPties>' + party + '</RltdPties>' if party else ''}{remittance}</TxDtls>"
    )


def _camt_entry(row: FundMovementRow, number: int) -> str:
    indicator = "CRDT" if row.direction is Direction.CREDIT else "DBIT"
    status = "<Sts><Cd>BOOK</Cd></Sts>" if number >= 8 else "<Sts>BOOK</Sts>"
    booking = (
        f"<DtTm>{row.booked_at.isoformat(timespec='seconds')}</DtTm>"
        if row.booked_at
        else f"<Dt>{row.booking_date.isoformat()}</Dt>"
    )
    value = f"<ValDt><Dt>{row.value_date.isoformat()}</Dt></ValDt>" if row.value_date else ""
    parts = [
        f"<Ntry><Amt Ccy={quoteattr(row.currency)}>{money(row.amount)}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>",
        "<RvslInd>true</RvslInd>" if row.is_reversal else "",
        f"{status}<BookgDt>{booking}</BookgDt>{value}",
        f"<AcctSvcrRef>{escape(row.bank_ref)}</AcctSvcrRef>" if row.bank_ref else "",
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>",
    ]
    pays_out = (row.direction is Direction.DEBIT) != row.is_reversal
    if row.items or row.batch_ref:
        batch = f"<Btch><PmtInfId>{escape(row.batch_ref)}</PmtInfId>" if row.batch_ref else "<Btch>"
        if row.items:
            total = sum((item.amount for item in row.items), ZERO)
            batch += f"<NbOfTxs>{len(row.items)}</NbOfTxs><TtlAmt Ccy={quoteattr(row.currency)}>{money(total)}</TtlAmt>"
        details = "".join(
            _camt_details(
                item.amount,
                item.currency,
                item.reference,
                item.bank_ref,
                item.counterparty_name,
                item.counterparty_account,
                item.memo,
                pays_out,
                number,
            )
            for item in row.items
        )
        parts.append(f"<NtryDtls>{batch}</Btch>{details}</NtryDtls>")
        if row.memo:
            parts.append(f"<AddtlNtryInf>{escape(row.memo)}</AddtlNtryInf>")
    elif row.business_ref or row.counterparty_name or row.counterparty_account or row.memo:
        parts.append(
            "<NtryDtls>"
            + _camt_details(
                row.amount,
                row.currency,
                row.business_ref,
                "",
                row.counterparty_name,
                row.counterparty_account,
                row.memo,
                pays_out,
                number,
            )
            + "</NtryDtls>"
        )
    parts.append("</Ntry>")
    return "".join(parts)
