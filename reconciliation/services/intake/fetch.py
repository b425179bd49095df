"""Scheduled intake: take in a statement source's files for one date, from a drop directory or an SFTP server.

Every file goes through ``statement_receive`` and ``statement_parse``, like an upload, one file at a
time and each in its own transactions: a bad file is recorded as failed and the others still land.
A directory source moves what it took in to ``processed/``, so a file is looked at once. An SFTP
server is never written to (channels' servers are usually read-only): a file seen again is recognised
by its content and counted as already received.

A drop directory must receive its files complete, by renaming them into place: a file that matches
the pattern is read as it is. Hidden names (".wx_20261124.csv.part") never match a pattern that does
not itself start with a dot, as in a shell, which covers the temporary names of scp, rsync and sftp.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import logging
import os
import posixpath
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

import paramiko
from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _

from reconciliation.models import StatementFile, StatementSource
from reconciliation.services.intake.messages import located
from reconciliation.services.intake.statements import StatementRefused, statement_parse, statement_receive
from reconciliation.services.jobs import Job, enqueue

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 15  # seconds, for each of: TCP connect, SSH banner, login, opening the SFTP channel
READ_TIMEOUT = 60  # seconds without an answer from the server before a transfer is given up
SPOOL_BYTES = 8 << 20  # a downloaded file stays in memory up to this size, then spills to a temporary file
COPY_CHUNK = 1 << 20
# SFTP read requests in flight (32 KiB each): prefetching keeps the link busy, the cap keeps what
# arrives ahead of the copy to about 2 MiB whatever the file's size.
PREFETCH_REQUESTS = 64
PROCESSED_DIR = "processed"
# First key of pg_try_advisory_lock(int, int); ingest's parse lock uses 7301.
FETCH_LOCK_NAMESPACE = 7302
SUMMARY_MAX_FAILURES = 5  # failures spelled out in last_result; the rest are counted


class FetchFailed(Exception):
    """The source could not be read at all: server down, login or host key refused, directory missing."""

    def __init__(self, source: StatementSource, reason: str):
        self.source, self.reason = source, reason
        super().__init__(reason)

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class FetchResult:
    new: list[int] = field(default_factory=list)  # ids of the StatementFiles received by this fetch
    already: list[str] = field(default_factory=list)  # names of files whose content had been received before
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file name, what is wrong with it)
    pattern: str = ""  # the file name pattern with the date filled in

    def summary(self) -> str:
        """One line for people: "2 new, 1 already received, 1 refused: wx_20261124.csv: line 5, field …"."""
        if not (self.new or self.already or self.failed):
            return _("no file matching %(pattern)s") % {"pattern": self.pattern}
        text = _("%(new)d new, %(already)d already received, %(failed)d refused") % {
            "new": len(self.new),
            "already": len(self.already),
            "failed": len(self.failed),
        }
        if self.failed:
            details = [f"{name}: {error}" for name, error in self.failed[:SUMMARY_MAX_FAILURES]]
            if len(self.failed) > SUMMARY_MAX_FAILURES:
                details.append(_("and %(count)d more") % {"count": len(self.failed) - SUMMARY_MAX_FAILURES})
            text += ": " + "; ".join(details)
        return text


def statements_fetch(*, source: StatementSource, statement_date: date, now: datetime) -> FetchResult:
    """Take in the source's files for ``statement_date`` that were not received yet, and parse them.

    Not one transaction on purpose: each file is received and parsed in its own transactions, so
    the files that are good stay received whatever happens to the next one, and parse progress is
    visible while it runs. Raises FetchFailed when the source cannot be read (after recording it).
    """
    pattern = source.filename_pattern.replace("{date}", f"{statement_date:%Y%m%d}")
    intake = _Intake(source=source, statement_date=statement_date, now=now, result=FetchResult(pattern=pattern))
    with _exclusive(source):
        try:
            if source.transport == StatementSource.Transport.SFTP:
                _fetch_sftp(source, pattern, intake)
            else:
                _fetch_directory(source, pattern, intake)
        except FetchFailed as exc:
            _record(source, now, _("failed: %(reason)s") % {"reason": exc.reason}, intake.result)
            raise
        except Exception as exc:
            # A bug or a lost database: the traceback goes to the worker's log; the source must not
            # keep showing the previous run's result as if this one had not happened.
            _record(source, now, _("stopped by an unexpected error: %(error)s") % {"error": _error_text(exc)}, intake.result)
            raise
    _record(source, now, "", intake.result)
    return intake.result


def statements_fetch_later(*, sources: Iterable[StatementSource]) -> int:
    """Ask a worker to fetch each source's files of yesterday now (outside its schedule)."""
    count = 0
    for source in sources:
        enqueue(Job.STATEMENTS_FETCH, source_id=source.pk)
        count += 1
    return count


def _record(source: StatementSource, now: datetime, problem: str, result: FetchResult) -> None:
    if not problem:
        text = result.summary()
    elif result.new or result.already or result.failed:
        text = _("%(problem)s (before that: %(summary)s)") % {"problem": problem, "summary": result.summary()}
    else:
        text = problem
    # No compare-and-set: this is a report of the latest run, not a state transition; last run wins.
    StatementSource.objects.filter(pk=source.pk).update(last_fetched_at=now, last_result=text)
    source.last_fetched_at, source.last_result = now, text


@contextmanager
def _exclusive(source: StatementSource) -> Iterator[None]:
    """One fetch per source at a time (the schedule and a manual run may overlap): two would race to
    receive the same file and to move it. A session lock, released even if the worker dies."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [FETCH_LOCK_NAMESPACE, source.pk])
        if not cursor.fetchone()[0]:
            raise FetchFailed(source, _("another fetch of this source is running; try again when it has finished"))
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [FETCH_LOCK_NAMESPACE, source.pk])


def _matches(name: str, pattern: str) -> bool:
    # As in a shell, a wildcard does not match a leading dot (see the module docstring).
    if name.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _refusal_text(exc: StatementRefused) -> str:
    """The refusal without the file name, which the result already pairs it with (in the language the
    summary is written in, like the rest of it)."""
    return located(exc.reason, line=exc.line, field=exc.field)


@dataclass
class _Intake:
    source: StatementSource
    statement_date: date
    now: datetime
    result: FetchResult

    def fail(self, name: str, error: str) -> None:
        self.result.failed.append((name, error))

    def take(self, *, content: BinaryIO, name: str) -> bool:
        """Receive and parse one file. True once the file is on record (received before, received
        now, or refused), i.e. it need not be read again; False if it should be tried again later."""
        try:
            statement_file = statement_receive(
                channel=self.source.channel,
                content=content,
                original_name=name,
                source=StatementFile.Source.FETCH,
                acting_user=None,
                now=self.now,
                kind=self.source.kind,
                statement_date=self.statement_date,
            )
        except StatementRefused as exc:
            if exc.duplicate_of is not None:
                self.result.already.append(name)
            else:
                self.fail(name, _refusal_text(exc))
            return True
        except Exception as exc:
            # Nothing was stored (the media storage is full, say): keep the file for the next run.
            logger.exception("receiving %s from statement source #%s failed", name, self.source.pk)
            self.fail(name, _error_text(exc))
            return False
        try:
            statement_parse(statement_file=statement_file, now=self.now)
        except StatementRefused as exc:
            self.fail(name, _refusal_text(exc))
        except Exception as exc:
            # statement_parse has marked the file FAILED; one broken file must not stop the others.
            logger.exception("parsing %s (statement file #%s) failed", name, statement_file.pk)
            self.fail(name, _error_text(exc))
        else:
            self.result.new.append(statement_file.pk)
        return True


# --- drop directory ------------------------------------------------------------------------------


def _fetch_directory(source: StatementSource, pattern: str, intake: _Intake) -> None:
    directory = Path(source.path)
    try:
        names = sorted(entry.name for entry in os.scandir(directory) if entry.is_file() and _matches(entry.name, pattern))
    except OSError as exc:
        raise FetchFailed(
            source, _("cannot read the directory %(path)s: %(error)s") % {"path": directory, "error": exc.strerror or exc}
        ) from exc
    for name in names:
        path = directory / name
        try:
            with path.open("rb") as content:
                taken = intake.take(content=content, name=name)
        except OSError as exc:
            intake.fail(name, _("cannot be read: %(error)s") % {"error": exc.strerror or exc})
            continue
        if taken:
            _move_to_processed(source, path)


def _move_to_processed(source: StatementSource, path: Path) -> Path:
    processed = path.parent / PROCESSED_DIR
    try:
        processed.mkdir(exist_ok=True)
        target, n = processed / path.name, 1
        while target.exists():
            target = processed / f"{path.stem}-{n}{path.suffix}"
            n += 1
        path.rename(target)
    except OSError as exc:
        # Not a problem of this file: the worker cannot write to the directory, and every later file
        # would be received again and again. Stop and say so.
        raise FetchFailed(
            source,
            _("%(name)s was taken in but cannot be moved to %(dir)s: %(error)s; the workers need write access to the directory")
            % {"name": path.name, "dir": processed, "error": exc.strerror or exc},
        ) from exc
    return target


# --- SFTP ----------------------------------------------------------------------------------------


def _fetch_sftp(source: StatementSource, pattern: str, intake: _Intake) -> None:
    with _sftp_session(source) as sftp:
        try:
            entries = sftp.listdir_attr(source.path or ".")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise FetchFailed(
                source, _("cannot list %(path)s on the server: %(error)s") % {"path": source.path, "error": _error_text(exc)}
            ) from exc
        files = sorted(
            (e for e in entries if not stat.S_ISDIR(e.st_mode or 0) and _matches(e.filename, pattern)),
            key=lambda e: e.filename,
        )
        for entry in files:
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
                try:
                    _download(sftp, posixpath.join(source.path, entry.filename), entry.st_size, spool)
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    # A timeout leaves the SFTP session out of step, a dead transport has nothing more
                    # to give: both end the fetch. Anything else (permission denied) is this file's.
                    if isinstance(exc, TimeoutError) or not sftp.get_channel().get_transport().is_active():
                        raise FetchFailed(
                            source,
                            _("the connection broke while reading %(name)s: %(error)s")
                            % {"name": entry.filename, "error": _error_text(exc)},
                        ) from exc
                    intake.fail(entry.filename, _("cannot be read from the server: %(error)s") % {"error": _error_text(exc)})
                    continue
                intake.take(content=spool, name=entry.filename)


def _download(sftp: paramiko.SFTPClient, remote_path: str, size: int | None, spool: BinaryIO) -> None:
    # One byte past the limit is enough for statement_receive to refuse the file with its own message,
    # without first copying a runaway file in full.
    limit = settings.STATEMENT_MAX_BYTES + 1
    with sftp.open(remote_path, "rb") as remote:
        remote.prefetch(min(size, limit) if size is not None else None, PREFETCH_REQUESTS)
        copied = 0
        while copied < limit and (chunk := remote.read(min(COPY_CHUNK, limit - copied))):
            spool.write(chunk)
            copied += len(chunk)
    spool.seek(0)


class _UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey):
        self.key = key
        super().__init__(key.fingerprint)


class _RefuseUnknownHostKey(paramiko.MissingHostKeyPolicy):
    """Never trust on first use: the admin pastes the key after checking it with the server's operator."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(key)


def _key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def _configured_host_keys(source: StatementSource) -> list[paramiko.PKey]:
    """The keys of the host_key setting: one per line, "type base64 [comment]" as in a .pub file, or a
    known_hosts line with the host names in front (both are what admins get to copy)."""
    keys = []
    for line in source.host_key.splitlines():
        fields = line.split()
        if not fields:
            continue
        for key_type, data in (fields[i : i + 2] for i in (0, 1) if len(fields) >= i + 2):
            try:
                keys.append(paramiko.PKey.from_type_string(key_type, base64.b64decode(data, validate=True)))
                break
            except (paramiko.UnknownKeyType, paramiko.SSHException, binascii.Error, ValueError):
                continue
        else:
            raise FetchFailed(
                source,
                _("the SFTP host key setting is not a public key line like 'ssh-ed25519 AAAA…': %(line)s")
                % {"line": line.strip()[:80]},
            )
    return keys


def _credentials(source: StatementSource) -> tuple[str | None, paramiko.PKey | None]:
    password = None
    if source.password_env:
        try:
            password = os.environ[source.password_env]
        except KeyError:
            raise FetchFailed(
                source,
                _("the environment variable %(name)s, which should hold the SFTP password, is not set on this worker")
                % {"name": source.password_env},
            ) from None
    pkey = _private_key(source, password) if source.private_key_path else None
    if password is None and pkey is None:
        raise FetchFailed(source, _("neither a password variable nor a private key file is configured"))
    return password, pkey


def _private_key(source: StatementSource, password: str | None) -> paramiko.PKey:
    path = source.private_key_path
    try:
        try:
            return paramiko.PKey.from_path(path)
        except TypeError:
            # cryptography's way of saying that the key is encrypted and no password was given. The
            # password, if any, then doubles as the key's passphrase (as with ssh's own client).
            if password is None:
                raise FetchFailed(
                    source,
                    _(
                        "the private key file %(path)s is encrypted: name the environment variable holding its "
                        "passphrase as the password variable"
                    )
                    % {"path": path},
                ) from None
            return paramiko.PKey.from_path(path, password.encode())
    except OSError as exc:
        raise FetchFailed(
            source, _("cannot read the private key file %(path)s: %(error)s") % {"path": path, "error": exc.strerror or exc}
        ) from exc
    except (TypeError, ValueError, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        raise FetchFailed(
            source,
            _("the private key file %(path)s cannot be read as a private key: %(error)s")
            % {"path": path, "error": _error_text(exc)},
        ) from exc


@contextmanager
def _sftp_session(source: StatementSource) -> Iterator[paramiko.SFTPClient]:
    host_keys = _configured_host_keys(source)
    password, pkey = _credentials(source)
    server = f"{source.host}:{source.port}"
    client = paramiko.SSHClient()
    try:
        # Only the configured keys are trusted: no ~/.ssh/known_hosts, no agent, no keys lying around.
        client.set_missing_host_key_policy(_RefuseUnknownHostKey())
        known_as = source.host if source.port == 22 else f"[{source.host}]:{source.port}"
        for key in host_keys:
            client.get_host_keys().add(known_as, key.get_name(), key)
        try:
            # The host key is checked before any credential is sent.
            client.connect(
                source.host,
                port=source.port,
                username=source.username,
                password=password,
                pkey=pkey,
                allow_agent=False,
                look_for_keys=False,
                timeout=CONNECT_TIMEOUT,
                banner_timeout=CONNECT_TIMEOUT,
                auth_timeout=CONNECT_TIMEOUT,
                channel_timeout=CONNECT_TIMEOUT,
            )
            sftp = client.open_sftp()
        except _UnknownHostKey as exc:
            raise FetchFailed(
                source,
                _(
                    "the server %(server)s presented the host key %(fingerprint)s, but no host key is configured for "
                    "this source, so the connection was refused before logging in. Confirm this fingerprint with the "
                    "server's operator, then paste this line into the source's SFTP host key: %(line)s"
                )
                % {"server": server, "fingerprint": exc.key.fingerprint, "line": _key_line(exc.key)},
            ) from None
        except paramiko.BadHostKeyException as exc:
            raise FetchFailed(
                source,
                _(
                    "the server %(server)s presented the host key %(fingerprint)s instead of the configured "
                    "%(expected)s, so the connection was refused before logging in: the server's key has changed, or "
                    "someone is intercepting the connection. Only if the server's operator confirms the new "
                    "fingerprint, replace the source's SFTP host key with: %(line)s"
                )
                % {
                    "server": server,
                    "fingerprint": exc.key.fingerprint,
                    "expected": exc.expected_key.fingerprint,
                    "line": _key_line(exc.key),
                },
            ) from None
        except paramiko.AuthenticationException as exc:
            credential = (
                _("the private key file %(path)s") % {"path": source.private_key_path}
                if pkey is not None
                else _("the password in %(name)s") % {"name": source.password_env}
            )
            raise FetchFailed(
                source,
                _("the server %(server)s refused the login of user %(user)s (%(error)s): check %(credential)s")
                % {"server": server, "user": source.username, "error": _error_text(exc), "credential": credential},
            ) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise FetchFailed(
                source,
                _("cannot connect to the SFTP server %(server)s: %(error)s") % {"server": server, "error": _error_text(exc)},
            ) from exc
        sftp.get_channel().settimeout(READ_TIMEOUT)
        yield sftp
    finally:
        client.close()
