"""Compressed statements are expanded under limits: a zip bomb, unsafe member names, a crowd of members or a
nested archive is refused with the reason, the file FAILED and nothing of it imported; real files still pass.
A parse that keeps killing its worker is given up after STATEMENT_PARSE_MAX_ATTEMPTS."""

import io
import os
import tracemalloc
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from helpers import local_dt

from backoffice.core.db import independent_connection
from reconciliation import parsers
from reconciliation.models import StatementFile, StatementLine
from reconciliation.parsers import alipay, unionpay
from reconciliation.parsers.base import Archive, ArchiveLimits, ArchiveRefused, LineStatus, LineType, StatementLineRow
from reconciliation.parsers.writers import render, write_alipay_trade, write_unionpay_zip
from reconciliation.services.intake.statements import StatementRefused, statement_parse, statement_receive

DAY = date(2026, 11, 24)
ZM_NAME = "INN26112488ZM_898110148160001"
ZME_NAME = "INN26112488ZME_898110148160001"
SHARED_SAMPLES = Path(
    os.environ.get("SHARED_FORMATS_DIR", Path(__file__).resolve().parents[2] / ".." / "shared" / "formats" / "samples")
)


def zm_rows(count: int) -> list[StatementLineRow]:
    return [
        StatementLineRow(
            0,
            f"2026112410{i:011d}",
            f"UP{i:08d}",
            LineType.COLLECTION,
            LineStatus.SUCCESS,
            Decimal("12.34"),
            Decimal("0.05"),
            "CNY",
            local_dt(2026, 11, 24, 10, 0, i % 60),
            None,
            type_code="S22",
        )
        for i in range(count)
    ]


def unionpay_zip(count: int = 3, **options) -> bytes:
    return render(write_unionpay_zip, zm_rows(count), file_date=DAY, **options)


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def zip_bomb(tmp_path):
    """200 MB of zeros as a UnionPay ZM member, about 200 KB zipped (a ratio near 1000:1), written in
    streaming steps so the test itself never holds the 200 MB."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(ZM_NAME, "w") as member:
        chunk = bytes(1 << 20)
        for _ in range(200):
            member.write(chunk)
    return path


def receive(channel, content, name="statement.zip") -> StatementFile:
    return statement_receive(
        channel=channel,
        content=content,
        original_name=name,
        source=StatementFile.Source.UPLOAD,
        acting_user=None,
        now=timezone.now(),
        statement_date=DAY,
    )


def refused_on_parsing(statement_file: StatementFile) -> str:
    with pytest.raises(StatementRefused) as excinfo:
        statement_parse(statement_file=statement_file, now=timezone.now())
    statement_file.refresh_from_db()
    assert statement_file.status == StatementFile.Status.FAILED
    [error] = statement_file.errors
    assert (error["line"], error["field"], error["reason"]) == (None, None, excinfo.value.reason)
    assert error["code"].startswith("zip.") and error["params"]["member"]
    assert not StatementLine.objects.filter(file=statement_file).exists()
    return excinfo.value.reason


# --- through the service ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_zip_bomb_is_refused_naming_member_limit_and_ratio_and_nothing_is_imported(channel, zip_bomb):
    with zip_bomb.open("rb") as content:
        statement_file = receive(channel, content)  # recognised by its member's name: nothing expanded yet
    assert statement_file.format_code == "UNIONPAY_ZM"
    tracemalloc.start()
    try:
        reason = refused_on_parsing(statement_file)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ZM_NAME in reason and "zip bomb" in reason
    assert "more than the limit of 200:1 (STATEMENT_MAX_ZIP_RATIO)" in reason
    assert "expands to 1" in reason  # the ratio it declares, about 1000 times
    assert peak < 20 << 20  # refused before anything was expanded


@pytest.mark.django_db
def test_an_archive_expanding_past_the_size_limit_is_refused(channel, settings):
    settings.STATEMENT_MAX_EXPANDED_BYTES = 1 << 20
    statement_file = receive(channel, io.BytesIO(unionpay_zip(3000)))  # 1.8 MB of real records
    reason = refused_on_parsing(statement_file)
    assert f"ZIP member '{ZM_NAME}' declares it expands past the limit of 1 MiB expanded" in reason
    assert "(STATEMENT_MAX_EXPANDED_BYTES), at a ratio of" in reason


@pytest.mark.django_db
def test_an_archive_expanding_more_than_the_ratio_is_refused(channel, settings):
    settings.STATEMENT_MAX_ZIP_RATIO = 10  # real ZM records compress about 25 times
    statement_file = receive(channel, io.BytesIO(unionpay_zip(3000)))
    reason = refused_on_parsing(statement_file)
    assert "more than the limit of 10:1 (STATEMENT_MAX_ZIP_RATIO)" in reason


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["../" + ZM_NAME, "/etc/" + ZM_NAME, "a/../../" + ZM_NAME, "..\\" + ZM_NAME, "C:" + ZM_NAME])
def test_a_member_name_pointing_outside_the_archive_is_refused_before_it_is_stored(channel, name):
    data = zip_of({name: b""})
    with pytest.raises(StatementRefused, match="a name pointing outside the archive") as excinfo:
        receive(channel, io.BytesIO(data))
    assert repr(name) in str(excinfo.value)
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
def test_an_archive_of_too_many_members_is_refused(channel):
    data = zip_of({ZM_NAME: b"", **{f"note{i}.txt": b"x" for i in range(100)}})
    with pytest.raises(StatementRefused, match="holds 101 members, more than 100"):
        receive(channel, io.BytesIO(data))
    assert not StatementFile.objects.exists()


@pytest.mark.django_db
def test_a_nested_archive_is_not_expanded(channel):
    statement_file = receive(channel, io.BytesIO(zip_of({ZM_NAME: unionpay_zip(3)})))
    reason = refused_on_parsing(statement_file)
    assert reason == f"ZIP member '{ZM_NAME}' is itself a ZIP archive: nested archives are not expanded"


@pytest.mark.django_db
def test_real_zipped_statements_still_parse_under_the_default_limits(channel, make_channel):
    unionpay_file = receive(channel, io.BytesIO(unionpay_zip(5000, error_lines=["S22 rejected 0001"])))
    assert statement_parse(statement_file=unionpay_file, now=timezone.now()).status == StatementFile.Status.PARSED
    assert unionpay_file.line_count == 5000 and len(unionpay_file.warnings) == 1
    alipay_zip = render(write_alipay_trade, zm_rows(2000), period=(DAY, DAY), zipped=True)
    alipay_file = receive(make_channel("ALI"), io.BytesIO(alipay_zip))
    assert statement_parse(statement_file=alipay_file, now=timezone.now()).status == StatementFile.Status.PARSED
    assert alipay_file.line_count == 2000


@pytest.mark.skipif(not SHARED_SAMPLES.is_dir(), reason="shared conformance samples are not present")
def test_a_zipped_shared_sample_parses_as_it_does_bare():
    data = (SHARED_SAMPLES / "alipay_trade_20190916.csv").read_bytes()
    zipped = zip_of({"20881234567890120156_20190916_业务明细.csv": data})
    bare, inflated = (alipay.parse_trade(source, strict_totals=False) for source in (data, zipped))
    assert list(inflated.rows) == list(bare.rows)
    assert parsers.detect(zipped).format == "ALIPAY_TRADE"


# --- the guarded reader ------------------------------------------------------------------------------


def test_the_reader_counts_what_it_expands_whatever_the_header_says(zip_bomb):
    """The declared sizes are checked on opening; this is the check behind it, as the bytes come out."""
    with zip_bomb.open("rb") as stream:
        archive = Archive(stream, ArchiveLimits(max_ratio=10_000))
        member = archive.open(ZM_NAME)
        archive.limits = ArchiveLimits(max_expanded_bytes=8 << 20, max_ratio=10_000)  # as if the header had lied
        tracemalloc.start()
        try:
            with pytest.raises(ArchiveRefused, match="expands past the limit of 8 MiB expanded"):
                for _line in member:  # one endless line of zeros: readline must not gather it all
                    pass
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert archive.expanded <= (8 << 20) + (1 << 16)
    assert peak < 32 << 20


def test_the_ratio_is_counted_as_the_bytes_come_out(zip_bomb):
    with zip_bomb.open("rb") as stream:
        archive = Archive(stream, ArchiveLimits(max_ratio=10_000))
        member = archive.open(ZM_NAME)
        archive.limits = ArchiveLimits(max_ratio=100)
        with pytest.raises(ArchiveRefused, match=f"ZIP member '{ZM_NAME}' expands to 10[0-9] times its compressed size"):
            while member.read(1 << 16):
                pass


def test_the_error_member_is_read_only_so_far():
    error_lines = [f"S22 rejected {i:04d}" for i in range(1500)]
    statement = unionpay.parse_zm(unionpay_zip(1, error_lines=error_lines))
    assert len(statement.warnings) == unionpay.ZME_MAX_RECORDS + 1
    assert statement.warnings[-1].message == f"{ZME_NAME}: more than 1000 error lines; the rest are not listed"


def test_an_xlsx_is_checked_before_openpyxl_expands_it():
    from openpyxl import Workbook

    from reconciliation.parsers.generic import GenericFormatConfig

    book = Workbook()
    book.active.append(["Value", "Posted"])
    book.active.append([-1.5, datetime(2026, 11, 24)])
    data = io.BytesIO()
    book.save(data)
    config = GenericFormatConfig.from_dict(
        {"kind": "fund", "file_type": "xlsx", "debit_credit": "signed", "columns": {"booking_date": "Posted", "amount": "Value"}}
    )
    with pytest.raises(ArchiveRefused, match="declares it expands past the limit of 1000 bytes expanded"):
        parsers.parse("GENERIC", data.getvalue(), config=config, archive_limits=ArchiveLimits(max_expanded_bytes=1000))
    assert list(parsers.parse("GENERIC", data.getvalue(), config=config).rows)


# --- a parse that kills its worker ---------------------------------------------------------------------


class WorkerKilled(BaseException):
    """What the parse sees of an out-of-memory kill: nothing after it runs, its transaction rolls back."""


def killed_worker(*args, **kwargs):
    raise WorkerKilled


def _attempts_seen_by_another_session(statement_file_id: int) -> tuple:
    with independent_connection() as other:
        return other.execute(
            "SELECT status, parse_attempts, (SELECT count(*) FROM reconciliation_statementline WHERE file_id = %s) "
            "FROM reconciliation_statementfile WHERE id = %s",
            [statement_file_id, statement_file_id],
        ).fetchone()


@pytest.mark.django_db(transaction=True)
def test_each_attempt_is_counted_before_parsing_so_a_killed_worker_cannot_undo_it(channel, monkeypatch, settings):
    settings.STATEMENT_PARSE_MAX_ATTEMPTS = 3
    statement_file = receive(channel, io.BytesIO(unionpay_zip(3)))
    real_parse = parsers.parse
    monkeypatch.setattr(parsers, "parse", killed_worker)
    for attempt in (1, 2, 3):
        with pytest.raises(WorkerKilled):
            statement_parse(statement_file=statement_file, now=timezone.now())
        assert _attempts_seen_by_another_session(statement_file.pk) == ("PARSING", attempt, 0)
    monkeypatch.setattr(parsers, "parse", real_parse)
    with pytest.raises(StatementRefused, match="parsing stopped the worker 3 times; refused rather than parsed again"):
        statement_parse(statement_file=statement_file, now=timezone.now())
    assert _attempts_seen_by_another_session(statement_file.pk) == ("FAILED", 4, 0)


@pytest.mark.django_db(transaction=True)
def test_an_attempt_that_finishes_clears_the_count(channel, monkeypatch):
    statement_file = receive(channel, io.BytesIO(unionpay_zip(3)))
    real_parse = parsers.parse
    monkeypatch.setattr(parsers, "parse", killed_worker)
    with pytest.raises(WorkerKilled):
        statement_parse(statement_file=statement_file, now=timezone.now())
    monkeypatch.setattr(parsers, "parse", real_parse)
    assert statement_parse(statement_file=statement_file, now=timezone.now()).status == StatementFile.Status.PARSED
    assert _attempts_seen_by_another_session(statement_file.pk) == ("PARSED", 0, 3)


@pytest.mark.django_db
def test_a_file_at_the_attempt_limit_is_refused_without_parsing_and_can_be_parsed_again_on_purpose(
    channel, monkeypatch, settings, clerk
):
    from reconciliation.services.intake.corrections import statement_parse_again
    from reconciliation.tasks import statement_parse_task

    settings.STATEMENT_PARSE_MAX_ATTEMPTS = 2
    statement_file = receive(channel, io.BytesIO(unionpay_zip(3)))
    StatementFile.objects.filter(pk=statement_file.pk).update(parse_attempts=2, status=StatementFile.Status.PARSING)
    real_parse = parsers.parse
    monkeypatch.setattr(parsers, "parse", lambda *args, **kwargs: pytest.fail("parsed although refused"))
    outcome = statement_parse_task(statement_file_id=statement_file.pk)  # the redelivered task
    assert outcome.startswith("refused: ") and "parsing stopped the worker 2 times" in outcome
    statement_file.refresh_from_db()
    assert (statement_file.status, statement_file.parse_attempts) == (StatementFile.Status.FAILED, 3)
    assert "(STATEMENT_PARSE_MAX_ATTEMPTS = 2)" in statement_file.errors[0]["reason"]
    assert not StatementLine.objects.exists()

    monkeypatch.setattr(parsers, "parse", real_parse)
    statement_file = statement_parse_again(statement_file=statement_file, acting_user=clerk, now=timezone.now())
    assert statement_file.parse_attempts == 0
    assert statement_parse(statement_file=statement_file, now=timezone.now()).status == StatementFile.Status.PARSED
