"""A real SFTP server for tests: serves a local directory read-only on 127.0.0.1, on a free port.

    with SFTPTestServer(tmp_path, username="bank", password="secret") as server:
        ...  # connect to server.host:server.port; trust server.host_key_line

Built on paramiko's server API. One user logs in with a password (or, if ``authorized_key`` is
given, with that key). The host key is generated per server: ECDSA, because paramiko cannot
generate Ed25519 keys and a 2048-bit RSA key takes up to a second. Listing, stat and reading work;
every write is refused with "permission denied", as on a channel's read-only server.

Everything the server starts (the listening socket, the accept thread, one paramiko Transport thread
and one SFTP thread per connection) is closed and joined by ``stop()``; its threads are named
``sftp-test-server:<port>…`` so a test can check that none survives.
"""

from __future__ import annotations

import os
import posixpath
import select
import socket
import threading
from pathlib import Path

import paramiko
from paramiko.sftp import SFTP_PERMISSION_DENIED

JOIN_TIMEOUT = 5  # seconds; a thread still alive after this is a bug in the server, not a slow test
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class SFTPTestServer:
    host = "127.0.0.1"

    def __init__(self, root: Path | str, *, username: str, password: str, authorized_key: paramiko.PKey | None = None):
        self.root = Path(root).resolve()
        self.username, self.password, self.authorized_key = username, password, authorized_key
        self.host_key = paramiko.ECDSAKey.generate()
        self.port = 0
        # (username, method) of every login attempt, so a test can tell that no credential was sent.
        self.auth_attempts: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._transports: list[paramiko.Transport] = []
        self._sftp_threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread: threading.Thread | None = None

    @property
    def host_key_line(self) -> str:
        """The line an admin pastes into StatementSource.host_key."""
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    @property
    def thread_prefix(self) -> str:
        return f"sftp-test-server:{self.port}"

    def start(self) -> SFTPTestServer:
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        # stop() writes to this pair to wake the accept loop out of select(): closing a socket that
        # another thread is blocked on does not reliably wake it.
        self._wake = socket.socketpair()
        self._accept_thread = threading.Thread(target=self._accept_loop, name=self.thread_prefix, daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        if self._accept_thread is None:
            return
        self._wake[1].send(b"\0")
        self._accept_thread.join(JOIN_TIMEOUT)
        self._listener.close()
        for end in self._wake:
            end.close()
        with self._lock:
            transports, sftp_threads = list(self._transports), list(self._sftp_threads)
        for transport in transports:
            transport.close()
        for thread in [*transports, *sftp_threads]:
            thread.join(JOIN_TIMEOUT)
        self._accept_thread = None

    def __enter__(self) -> SFTPTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while True:
            readable, _, _ = select.select([self._listener, self._wake[0]], [], [])
            if self._wake[0] in readable:
                return
            connection, _address = self._listener.accept()
            transport = paramiko.Transport(connection)
            transport.name = f"{self.thread_prefix}:transport"
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", _TrackedSFTPServer, _ReadOnlySFTP, owner=self)
            with self._lock:
                self._transports.append(transport)
            # With an event, start_server() returns at once: a slow client never stalls accepting.
            transport.start_server(event=threading.Event(), server=_Login(self))

    def _track(self, thread: threading.Thread) -> None:
        thread.name = f"{self.thread_prefix}:sftp"
        with self._lock:
            self._sftp_threads.append(thread)


class _Login(paramiko.ServerInterface):
    def __init__(self, owner: SFTPTestServer):
        self.owner = owner

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey" if self.owner.authorized_key is not None else "password"

    def check_auth_password(self, username: str, password: str) -> int:
        self.owner.auth_attempts.append((username, "password"))
        if (username, password) == (self.owner.username, self.owner.password):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.owner.auth_attempts.append((username, "publickey"))
        # paramiko itself verifies the client's signature before a login with the key succeeds.
        if username == self.owner.username and self.owner.authorized_key is not None and key == self.owner.authorized_key:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _TrackedSFTPServer(paramiko.SFTPServer):
    """paramiko's SFTP subsystem thread, registered with its server so that stop() can join it."""

    def __init__(self, channel, name, server, sftp_si, *, owner: SFTPTestServer):
        super().__init__(channel, name, server, sftp_si, owner=owner)
        owner._track(self)


class _ReadHandle(paramiko.SFTPHandle):
    def __init__(self, fd: int, flags: int):
        super().__init__(flags)
        self.fd: int | None = fd

    def read(self, offset: int, length: int) -> bytes | int:
        try:
            return os.pread(self.fd, length, offset)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def write(self, offset: int, data: bytes) -> int:
        return SFTP_PERMISSION_DENIED

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.fd))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED

    def close(self) -> None:
        # Called on the client's CLOSE and again by the server at the end of the session.
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _ReadOnlySFTP(paramiko.SFTPServerInterface):
    def __init__(self, server: paramiko.ServerInterface, *, owner: SFTPTestServer):
        super().__init__(server)
        self.root = owner.root

    def _local(self, path: str) -> str:
        # Normalised as an absolute path first, so ".." stops at the served root.
        return os.path.join(self.root, posixpath.normpath("/" + path).lstrip("/"))

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        local = self._local(path)
        try:
            return [
                paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(local, name)), name) for name in sorted(os.listdir(local))
            ]
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._local(path)))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def lstat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.lstat(self._local(path)))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> _ReadHandle | int:
        if flags & _WRITE_FLAGS:
            return SFTP_PERMISSION_DENIED
        try:
            return _ReadHandle(os.open(self._local(path), os.O_RDONLY), flags)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath("/" + path)

    def remove(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def rename(self, oldpath: str, newpath: str) -> int:
        return SFTP_PERMISSION_DENIED

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return SFTP_PERMISSION_DENIED

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_PERMISSION_DENIED
