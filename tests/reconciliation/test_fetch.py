"""Scheduled statement fetching (drop directory and SFTP) and the beat schedules behind it."""

from __future__ import annotations

import json
import socket
import threading
from datetime import date, time
from pathlib import Path

import paramiko
import psycopg
import pytest
from django.db import connection
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from helpers import local_dt, wechat_bill, wechat_rows
from sftp_server import SFTPTestServer

from reconciliation.models import StatementFile, StatementKind, StatementLine, StatementSource
from reconciliation.services.channels.schedules import source_schedule_remove, source_schedule_sync
from reconciliation.services.intake.fetch import FETCH_LOCK_NAMESPACE, FetchFailed, statements_fetch

DAY = date(2026, 11, 24)
NOW = local_dt(2026, 11, 25, 6, 0)
PASSWORD = "correct horse battery staple"
PASSWORD_ENV = "TEST_SFTP_PASSWORD"


def bill(start: int, count: int = 2, day: tuple = (2026, 11, 24)) -> bytes:
    """A WeChat trade bill (a format detected from the content); ``start`` keeps each file's bytes distinct."""
    return wechat_bill(wechat_rows(count, start=start, day=day))


def bad_bill() -> bytes:
    """Recognised as a WeChat bill, but the first payment's amount (line 2) is not a number."""
    return bill(900).replace(b"`6.00", b"`6.0x", 1)


@pytest.fixture
def make_source(channel):
    def make(**overrides) -> StatementSource:
        fields = {
            "channel": channel,
            "kind": StatementKind.BUSINESS,
            "transport": StatementSource.Transport.DIRECTORY,
            "filename_pattern": "wx_{date}*.csv",
            "fetch_time": time(6, 0),
            **overrides,
        }
        return StatementSource.objects.create(**fields)

    return make


# --- drop directory ------------------------------------------------------------------------------


@pytest.fixture
def drop(tmp_path) -> Path:
    directory = tmp_path / "drop"
    directory.mkdir()
    return directory


def test_directory_takes_matching_files_parses_them_and_moves_them(make_source, drop):
    (drop / "wx_20261124.csv").write_bytes(bill(1, count=3))
    (drop / "wx_20261124_2.csv").write_bytes(bill(11, count=2))
    (drop / "wx_20261123.csv").write_bytes(bill(21, day=(2026, 11, 23)))  # another date
    (drop / "notes.txt").write_bytes(b"not a statement")
    (drop / ".wx_20261124_3.csv.part").write_bytes(bill(31))  # an upload still in progress
    source = make_source(path=str(drop))

    result = statements_fetch(source=source, statement_date=DAY, now=NOW)

    files = StatementFile.objects.filter(id__in=result.new).order_by("original_name", "id")
    assert [(f.original_name, f.status, f.line_count) for f in files] == [
        ("wx_20261124.csv", StatementFile.Status.PARSED, 3),
        ("wx_20261124_2.csv", StatementFile.Status.PARSED, 2),
    ]
    assert {(f.source, f.kind, f.statement_date, f.uploaded_by_id) for f in files} == {
        (StatementFile.Source.FETCH, source.kind, DAY, None),
    }
    assert StatementLine.objects.filter(file__in=files).count() == 5
    assert (result.already, result.failed) == ([], [])
    assert sorted(p.name for p in (drop / "processed").iterdir()) == ["wx_20261124.csv", "wx_20261124_2.csv"]
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == [
        ".wx_20261124_3.csv.part",
        "notes.txt",
        "wx_20261123.csv",
    ]
    source.refresh_from_db()
    assert source.last_fetched_at == NOW
    assert source.last_result == "2 new, 0 already received, 0 refused"


def test_directory_second_run_takes_nothing_new(make_source, drop):
    (drop / "wx_20261124.csv").write_bytes(bill(1))
    source = make_source(path=str(drop))
    statements_fetch(source=source, statement_date=DAY, now=NOW)

    again = statements_fetch(source=source, statement_date=DAY, now=local_dt(2026, 11, 25, 7, 0))

    assert (again.new, again.already, again.failed) == ([], [], [])
    assert StatementFile.objects.count() == 1
    source.refresh_from_db()
    assert source.last_result == "no file matching wx_20261124*.csv"
    assert source.last_fetched_at == local_dt(2026, 11, 25, 7, 0)


def test_directory_duplicate_content_under_another_name_is_already_received(make_source, drop):
    (drop / "wx_20261124.csv").write_bytes(bill(1))
    (drop / "wx_20261124_resent.csv").write_bytes(bill(1))
    source = make_source(path=str(drop))

    result = statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert len(result.new) == 1
    assert result.already == ["wx_20261124_resent.csv"]
    assert result.failed == []
    assert StatementFile.objects.count() == 1
    # Taken in as well: it must not be looked at again.
    assert sorted(p.name for p in (drop / "processed").iterdir()) == ["wx_20261124.csv", "wx_20261124_resent.csv"]
    assert source.last_result == "1 new, 1 already received, 0 refused"


def test_directory_bad_file_is_failed_and_the_good_ones_land(make_source, drop):
    (drop / "wx_20261124_a.csv").write_bytes(bill(1))
    (drop / "wx_20261124_b.csv").write_bytes(bad_bill())
    (drop / "wx_20261124_c.csv").write_bytes(bill(21))
    source = make_source(path=str(drop))

    result = statements_fetch(source=source, statement_date=DAY, now=NOW)

    landed = StatementFile.objects.filter(id__in=result.new).order_by("original_name")
    assert [(f.original_name, f.status) for f in landed] == [
        ("wx_20261124_a.csv", StatementFile.Status.PARSED),
        ("wx_20261124_c.csv", StatementFile.Status.PARSED),
    ]
    assert result.failed == [("wx_20261124_b.csv", "line 2, field 应结订单金额: '6.0x' is not an amount")]
    bad = StatementFile.objects.get(original_name="wx_20261124_b.csv")
    assert bad.status == StatementFile.Status.FAILED
    assert not StatementLine.objects.filter(file=bad).exists()
    assert source.last_result == (
        "2 new, 0 already received, 1 refused: wx_20261124_b.csv: line 2, field 应结订单金额: '6.0x' is not an amount"
    )
    # A refused file was taken in too: it is on record, so it is not read again.
    assert sorted(p.name for p in (drop / "processed").iterdir()) == [
        "wx_20261124_a.csv",
        "wx_20261124_b.csv",
        "wx_20261124_c.csv",
    ]


def test_directory_unrecognised_file_is_refused_without_stopping_the_others(make_source, drop):
    (drop / "wx_20261124_a.csv").write_bytes(b"this is not any statement format\n")
    (drop / "wx_20261124_b.csv").write_bytes(bill(11))
    source = make_source(path=str(drop))

    result = statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert len(result.new) == 1
    assert [name for name, _error in result.failed] == ["wx_20261124_a.csv"]
    assert "format is not recognised" in result.failed[0][1]


def test_directory_name_clash_in_processed_gets_a_suffix(make_source, drop):
    (drop / "processed").mkdir()
    (drop / "processed" / "wx_20261124.csv").write_bytes(b"an earlier delivery")
    (drop / "wx_20261124.csv").write_bytes(bill(1))
    source = make_source(path=str(drop))

    statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert (drop / "processed" / "wx_20261124.csv").read_bytes() == b"an earlier delivery"
    assert (drop / "processed" / "wx_20261124-1.csv").read_bytes() == bill(1)
    assert not (drop / "wx_20261124.csv").exists()


def test_directory_missing_is_fetch_failed_and_recorded(make_source, tmp_path):
    source = make_source(path=str(tmp_path / "nowhere"))

    with pytest.raises(FetchFailed) as failed:
        statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert "cannot read the directory" in failed.value.reason
    source.refresh_from_db()
    assert source.last_result.startswith("failed: cannot read the directory")
    assert source.last_fetched_at == NOW


def test_a_fetch_of_a_source_already_being_fetched_is_refused(make_source, drop):
    (drop / "wx_20261124.csv").write_bytes(bill(1))
    source = make_source(path=str(drop), last_result="earlier result")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    # Another worker's fetch of the same source holds its lock.
    with psycopg.connect(**params, autocommit=True) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(%s, %s)", [FETCH_LOCK_NAMESPACE, source.pk])

        with pytest.raises(FetchFailed) as failed:
            statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert "another fetch of this source is running" in failed.value.reason
    assert (drop / "wx_20261124.csv").exists()
    source.refresh_from_db()
    # The running fetch writes the result; the refused one leaves it alone.
    assert source.last_result == "earlier result"


# --- SFTP ----------------------------------------------------------------------------------------


@pytest.fixture
def outbox(tmp_path) -> Path:
    directory = tmp_path / "sftp" / "outbox"
    directory.mkdir(parents=True)
    return directory


@pytest.fixture
def sftp_server(outbox):
    with SFTPTestServer(outbox.parent, username="bank", password=PASSWORD) as server:
        yield server


@pytest.fixture
def make_sftp_source(make_source, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)

    def make(server: SFTPTestServer, **overrides) -> StatementSource:
        fields = {
            "transport": StatementSource.Transport.SFTP,
            "path": "/outbox",
            "host": server.host,
            "port": server.port,
            "username": "bank",
            "password_env": PASSWORD_ENV,
            "host_key": server.host_key_line,
            **overrides,
        }
        return make_source(**fields)

    return make


def test_sftp_receives_and_parses_new_files_then_counts_them_as_already_received(sftp_server, outbox, make_sftp_source):
    (outbox / "wx_20261124_1.csv").write_bytes(bill(1, count=3))
    (outbox / "wx_20261124_2.csv").write_bytes(bill(11, count=1))
    (outbox / "wx_20261125_1.csv").write_bytes(bill(21, day=(2026, 11, 25)))
    source = make_sftp_source(sftp_server)

    first = statements_fetch(source=source, statement_date=DAY, now=NOW)

    files = StatementFile.objects.filter(id__in=first.new).order_by("original_name")
    assert [(f.original_name, f.status, f.line_count) for f in files] == [
        ("wx_20261124_1.csv", StatementFile.Status.PARSED, 3),
        ("wx_20261124_2.csv", StatementFile.Status.PARSED, 1),
    ]
    assert files[0].raw_file.read() == bill(1, count=3)
    assert source.last_result == "2 new, 0 already received, 0 refused"

    second = statements_fetch(source=source, statement_date=DAY, now=local_dt(2026, 11, 25, 7, 0))

    assert second.new == []
    assert second.already == ["wx_20261124_1.csv", "wx_20261124_2.csv"]
    assert StatementFile.objects.count() == 2
    # The server is left as it was: no processed/ directory, nothing moved.
    assert sorted(p.name for p in outbox.parent.rglob("*")) == [
        "outbox",
        "wx_20261124_1.csv",
        "wx_20261124_2.csv",
        "wx_20261125_1.csv",
    ]
    source.refresh_from_db()
    assert source.last_result == "0 new, 2 already received, 0 refused"


def test_sftp_bad_file_is_failed_and_the_good_one_lands(sftp_server, outbox, make_sftp_source):
    (outbox / "wx_20261124_1.csv").write_bytes(bad_bill())
    (outbox / "wx_20261124_2.csv").write_bytes(bill(11))
    source = make_sftp_source(sftp_server)

    result = statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert [StatementFile.objects.get(id=i).original_name for i in result.new] == ["wx_20261124_2.csv"]
    assert result.failed == [("wx_20261124_1.csv", "line 2, field 应结订单金额: '6.0x' is not an amount")]


def test_sftp_private_key_login_with_encrypted_key(outbox, make_sftp_source, tmp_path, monkeypatch):
    client_key = paramiko.ECDSAKey.generate()
    key_file = tmp_path / "id_ecdsa"
    client_key.write_private_key_file(str(key_file), password="key passphrase")
    monkeypatch.setenv("TEST_SFTP_KEY_PASSPHRASE", "key passphrase")
    (outbox / "wx_20261124.csv").write_bytes(bill(1))
    with SFTPTestServer(outbox.parent, username="bank", password=PASSWORD, authorized_key=client_key) as server:
        source = make_sftp_source(server, password_env="TEST_SFTP_KEY_PASSPHRASE", private_key_path=str(key_file))

        result = statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert len(result.new) == 1
    assert server.auth_attempts[-1] == ("bank", "publickey")


def test_sftp_encrypted_key_without_passphrase_is_a_clear_error(sftp_server, make_sftp_source, tmp_path):
    key_file = tmp_path / "id_ecdsa"
    paramiko.ECDSAKey.generate().write_private_key_file(str(key_file), password="key passphrase")
    source = make_sftp_source(sftp_server, password_env="", private_key_path=str(key_file))

    with pytest.raises(FetchFailed) as failed:
        statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert failed.value.reason == (
        f"the private key file {key_file} is encrypted: name the environment variable holding its passphrase "
        "as the password variable"
    )


def test_sftp_wrong_password_is_fetch_failed_and_recorded(sftp_server, outbox, make_sftp_source, monkeypatch):
    (outbox / "wx_20261124.csv").write_bytes(bill(1))
    source = make_sftp_source(sftp_server)
    monkeypatch.setenv(PASSWORD_ENV, "wrong")

    with pytest.raises(FetchFailed) as failed:
        statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert failed.value.source == source
    assert "refused the login of user bank" in failed.value.reason
    assert f"check the password in {PASSWORD_ENV}" in failed.value.reason
    source.refresh_from_db()
    assert source.last_result == f"failed: {failed.value.reason}"
    assert source.last_fetched_at == NOW
    assert not StatementFile.objects.exists()


def test_sftp_password_variable_unset_is_a_clear_error(sftp_server, make_sftp_source, monkeypatch):
    source = make_sftp_source(sftp_server)
    monkeypatch.delenv(PASSWORD_ENV)

    with pytest.raises(FetchFailed) as failed:
        statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert failed.value.reason == (
        f"the environment variable {PASSWORD_ENV}, which should hold the SFTP password, is not set on this worker"
    )
    assert sftp_server.auth_attempts == []


def test_sftp_without_configured_host_key_is_refused_naming_the_presented_key(sftp_server, make_sftp_source):
    source = make_sftp_source(sftp_server, host_key="")

    with pytest.raises(FetchFailed) as failed:
        statements_fetch(source=source, statement_date=DAY, now=NOW)

    reason = failed.value.reason
    assert sftp_server.host_key.fingerprint in reason
    assert "no host key is configured" in reason
    assert f"paste this line into the source's SFTP host key: {sftp_server.host_key_line}" in reason
    # Refused before logging in: the password never went to the unverified server.
    assert sftp_server.auth_attempts == []
    source.refresh_from_db()
    assert source.last_result == f"failed: {reason}"


def test_sftp_mismatching_host_key_is_refused_naming_both_keys(sftp_server, make_sftp_source):
    impostor_expected = paramiko.ECDSAKey.generate()
    source = make_sftp_source(sftp_server, host_key=f"{impostor_expected.get_name()} {impostor_expected.get_base64()}")

    with pytest.raises(FetchFailed) as failed:
        statements_fetch(source=source, statement_date=DAY, now=NOW)

    reason = failed.value.reason
    assert (
        f"presented the host key {sftp_server.host_key.fingerprint} instead of the configured "
        f"{impostor_expected.fingerprint}" in reason
    )
    assert sftp_server.auth_attempts == []


def test_sftp_host_key_as_known_hosts_line_is_accepted(sftp_server, outbox, make_sftp_source):
    (outbox / "wx_20261124.csv").write_bytes(bill(1))
    line = f"[{sftp_server.host}]:{sftp_server.port} {sftp_server.host_key_line}"
    source = make_sftp_source(sftp_server, host_key=line)

    result = statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert len(result.new) == 1


def test_sftp_unreadable_host_key_setting_is_a_clear_error(sftp_server, make_sftp_source):
    source = make_sftp_source(sftp_server, host_key="ssh-ed25519 not-base64!")

    with pytest.raises(FetchFailed) as failed:
        statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert failed.value.reason.startswith("the SFTP host key setting is not a public key line")


def test_sftp_server_down_is_fetch_failed(make_sftp_source):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free, and closed again before the fetch
    down = SFTPTestServer(".", username="bank", password=PASSWORD)  # never started: only its host key is used
    source = make_sftp_source(down, port=port)

    with pytest.raises(FetchFailed) as failed:
        statements_fetch(source=source, statement_date=DAY, now=NOW)

    assert failed.value.reason.startswith(f"cannot connect to the SFTP server 127.0.0.1:{port}")
    source.refresh_from_db()
    assert source.last_result.startswith("failed: cannot connect")


def test_sftp_test_server_refuses_writes_and_stops_cleanly(outbox):
    (outbox / "wx.csv").write_bytes(b"data")
    with SFTPTestServer(outbox.parent, username="bank", password=PASSWORD) as server:
        client = paramiko.SSHClient()
        client.get_host_keys().add(f"[{server.host}]:{server.port}", server.host_key.get_name(), server.host_key)
        client.connect(
            server.host, port=server.port, username="bank", password=PASSWORD, allow_agent=False, look_for_keys=False, timeout=5
        )
        with client.open_sftp() as sftp:
            assert sftp.open("/outbox/wx.csv").read() == b"data"
            with pytest.raises(PermissionError):
                sftp.open("/outbox/new.csv", "wb")
            with pytest.raises(PermissionError):
                sftp.remove("/outbox/wx.csv")
        client.close()
        port, prefix = server.port, server.thread_prefix

    assert (outbox / "wx.csv").read_bytes() == b"data"
    assert not [t.name for t in threading.enumerate() if t.name.startswith(prefix)]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --- schedules -----------------------------------------------------------------------------------


def test_schedule_sync_creates_one_daily_task_in_shanghai_time(make_source, drop):
    source = make_source(path=str(drop), fetch_time=time(6, 30))

    task = source_schedule_sync(source=source)

    assert PeriodicTask.objects.filter(id=task.id).count() == 1
    task.refresh_from_db()
    assert task.name == f"fetch statements: {source.id} {source.channel.code} {source.kind}"
    assert task.task == "reconciliation.statements_fetch"
    assert json.loads(task.kwargs) == {"source_id": source.id}
    assert task.enabled is True
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week) == (
        "30",
        "6",
        "*",
        "*",
        "*",
    )
    assert str(crontab.timezone) == "Asia/Shanghai"


def test_schedule_sync_twice_leaves_one_task_and_one_crontab(make_source, drop):
    source = make_source(path=str(drop), fetch_time=time(6, 30))
    crontabs_before = CrontabSchedule.objects.count()

    first = source_schedule_sync(source=source)
    second = source_schedule_sync(source=source)

    assert first.id == second.id
    assert PeriodicTask.objects.filter(task="reconciliation.statements_fetch").count() == 1
    assert CrontabSchedule.objects.count() == crontabs_before + 1


def test_schedule_sources_at_the_same_time_share_one_crontab(make_source, make_channel, drop):
    first = make_source(path=str(drop), fetch_time=time(6, 30))
    second = make_source(path=str(drop), fetch_time=time(6, 30), channel=make_channel("OTHERCH"))

    one, two = source_schedule_sync(source=first), source_schedule_sync(source=second)

    assert one.id != two.id
    assert one.crontab_id == two.crontab_id


def test_schedule_follows_fetch_time_changes_even_after_an_admin_edit(make_source, drop):
    source = make_source(path=str(drop), fetch_time=time(6, 30))
    task = source_schedule_sync(source=source)
    # An admin edits the crontab row in Periodic tasks.
    CrontabSchedule.objects.filter(id=task.crontab_id).update(hour="3", minute="15")

    source.fetch_time = time(8, 5)
    source.save()
    source_schedule_sync(source=source)

    task.refresh_from_db()
    assert (task.crontab.hour, task.crontab.minute) == ("8", "5")
    assert PeriodicTask.objects.filter(task="reconciliation.statements_fetch").count() == 1


def test_schedule_follows_a_renamed_channel_without_a_second_task(make_source, drop):
    source = make_source(path=str(drop))
    source_schedule_sync(source=source)
    source.channel.code = "RENAMED"
    source.channel.save()

    task = source_schedule_sync(source=source)

    assert task.name == f"fetch statements: {source.id} RENAMED {source.kind}"
    assert PeriodicTask.objects.filter(task="reconciliation.statements_fetch").count() == 1


def test_schedule_of_inactive_source_is_disabled(make_source, drop):
    source = make_source(path=str(drop))
    source_schedule_sync(source=source)

    source.is_active = False
    source.save()
    task = source_schedule_sync(source=source)

    task.refresh_from_db()
    assert task.enabled is False


def test_schedule_remove_deletes_only_this_sources_task(make_source, make_channel, drop):
    source = make_source(path=str(drop))
    other = make_source(path=str(drop), channel=make_channel("OTHERCH"))
    source_schedule_sync(source=source)
    kept = source_schedule_sync(source=other)

    source_schedule_remove(source=source)

    assert list(PeriodicTask.objects.filter(task="reconciliation.statements_fetch").values_list("id", flat=True)) == [kept.id]
