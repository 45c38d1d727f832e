"""Start, find and stop the embedded database server (``secantusd-py``).

The embedded server lets ``apos`` run with no MongoDB installed: its data lives in a folder
the user can see (``<data_dir>/db``). It comes from the ``secantusdb`` package, which is GPL
licensed, so it is only ever run as a separate process and never imported here.

Several apos commands may share one server: whoever starts it records it in
``embedded-server.json`` and is the only one that stops it; the others reuse it. An
exclusive lock on ``embedded-server.lock`` serialises the check-then-start (and the stop),
so two commands launched at the same moment never race to open the same folder.

Waiting is done by polling with ``asyncio.sleep`` rather than by blocking calls in threads:
a thread stuck in ``flock`` or ``wait`` cannot be cancelled and would hold up interpreter
exit, whereas a polling loop stops as soon as its task is cancelled (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from apos.errors import StartupError

SERVER_EXECUTABLE = "secantusd-py"
STORAGE_FOLDER = "db"
STATE_FILE = "embedded-server.json"
LOCK_FILE = "embedded-server.lock"
LOG_FILE = "embedded-server.log"
# Loopback only: the embedded server has no authentication, so it must not be reachable
# from other machines.
HOST = "127.0.0.1"

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
# Long enough for another command to start (20 s) or stop (10 s) the server under the lock.
LOCK_TIMEOUT_S = 60.0
PING_TIMEOUT_MS = 1500
POLL_INTERVAL_S = 0.05

NOT_INSTALLED = (
    "The embedded database server (secantusd-py) is not installed. "
    "Install it with: pip install 'apos[embedded]' — "
    "or point APOS_MONGODB_URI at a MongoDB server."
)

# With ``--port 0`` the operating system picks the port; the server announces it as
# "... INFO secantus.server: secantus listening on 127.0.0.1:45951".
_LISTENING = re.compile(r"listening on (?P<host>\S+):(?P<port>\d+)\s*$", re.MULTILINE)
_LOG_TAIL_LINES = 15

# Shortened reasons: pymongo appends its whole topology description and timeout settings,
# which bury the one fact a person needs (refused, timed out, bad password...).
_REASON_CUTS = (", Timeout:", ", full error:", " (configured timeouts:")
_REASON_MAX_CHARS = 300


@dataclass(frozen=True)
class _ServerRecord:
    """What ``embedded-server.json`` says about the server that was started last."""

    pid: int
    host: str
    port: int


class EmbeddedServer:
    """The embedded server whose data lives in ``data_dir / "db"``.

    ``owned`` tells whether this object started the process (and so must stop it) or merely
    found one already running for the same folder.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.storage_dir = data_dir / STORAGE_FOLDER
        self.state_path = data_dir / STATE_FILE
        self.lock_path = data_dir / LOCK_FILE
        self.log_path = data_dir / LOG_FILE
        self.owned = False
        self.host = HOST
        self.port: int | None = None
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The URI of the server in use; only meaningful after :meth:`ensure_running`."""
        if self.port is None:
            raise RuntimeError("the embedded server has not been started")
        return server_uri(self.host, self.port)

    async def ensure_running(self) -> str:
        """Reuse the folder's running server or start one; return its URI."""
        if self._process is not None and self._process.poll() is None:
            return self.uri
        async with _exclusive_lock(self.lock_path, LOCK_TIMEOUT_S) as locked:
            if not locked:
                raise StartupError(
                    f"Another apos command has been starting the embedded database server in "
                    f"{self.data_dir} for over {LOCK_TIMEOUT_S:g} s; if none is running, "
                    f"delete {self.lock_path} and try again."
                )
            record = await asyncio.to_thread(_read_record, self.state_path)
            if record is not None and await self._is_answering(record):
                self.owned = False
                self.host, self.port, self.pid = record.host, record.port, record.pid
                return self.uri
            await self._start(record)
            return self.uri

    async def stop(self) -> None:
        """Stop the server if this object started it; otherwise leave it to its owner."""
        process = self._process
        if process is None:
            return
        # The lock keeps a command that is checking the state file from seeing our server
        # half-stopped and trying to start a second one on a folder still in use. If the
        # lock cannot be had, stopping matters more than that courtesy.
        try:
            async with _exclusive_lock(self.lock_path, LOCK_TIMEOUT_S):
                await _terminate(process)
                self._process = None
                self.owned = False
                await asyncio.to_thread(_forget_record, self.state_path, process.pid)
        finally:
            if process.poll() is None:  # cancelled while waiting for the lock
                process.kill()
                process.wait()

    async def _is_answering(self, record: _ServerRecord) -> bool:
        if not _pid_alive(record.pid):
            return False  # a stale record left by a server that is gone
        return await probe(server_uri(record.host, record.port)) is None

    async def _start(self, previous: _ServerRecord | None) -> None:
        executable = find_server_executable()
        if executable is None:
            raise StartupError(NOT_INSTALLED)
        try:
            self.storage_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(
                f"Cannot create the database folder {self.storage_dir}: {exc.strerror or exc}"
            ) from None
        # Spawned and recorded on the loop itself, not in a thread: both take milliseconds,
        # and a cancellation landing in a thread hop could orphan an untracked server.
        try:
            log_offset, process = self._spawn(executable)
        except OSError as exc:
            raise StartupError(f"Cannot run {executable}: {exc}") from None
        try:
            port = await self._wait_until_listening(process, log_offset, previous)
            _write_record(self.state_path, _ServerRecord(process.pid, self.host, port))
        except BaseException:
            await _terminate(process)
            raise
        self._process = process
        self.owned = True
        self.port, self.pid = port, process.pid

    def _spawn(self, executable: str) -> tuple[int, subprocess.Popen[bytes]]:
        """Start the child; return where its output begins in the log, and the process.

        A new session keeps a terminal's Ctrl-C away from the server: only apos receives
        it, and apos stops the server last, once nothing uses the database any more. The
        working directory is the data folder so that a stray ``secantusd.toml`` wherever
        apos happens to be run from is not picked up by the server.
        """
        command = [
            executable,
            "--host", self.host,
            "--port", "0",
            "--storage-path", str(self.storage_dir),
            # The listening line is logged at INFO: keep it even if a config file says less.
            "--log-level", "INFO",
        ]
        with self.log_path.open("ab") as log:
            log.write(f"--- apos started {SERVER_EXECUTABLE} at {time.ctime()} ---\n".encode())
            log.flush()
            offset = log.tell()
            # close_fds (the default) matters: the child must not inherit the lock's file
            # descriptor, or the lock would outlive this command.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                close_fds=True,
            )
        return offset, process

    async def _wait_until_listening(
        self, process: subprocess.Popen[bytes], log_offset: int, previous: _ServerRecord | None
    ) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            exited = process.poll() is not None
            output = await asyncio.to_thread(_read_from, self.log_path, log_offset)
            if exited:
                raise self._start_failure(process, output, previous)
            match = _LISTENING.search(output)
            if match is not None:
                port = int(match["port"])
                if await probe(server_uri(self.host, port)) is None:
                    return port
            if time.monotonic() > deadline:
                raise StartupError(
                    f"The embedded database server did not answer within "
                    f"{START_TIMEOUT_S:g} s. Last lines of {self.log_path}:\n{_tail(output)}"
                )
            await asyncio.sleep(POLL_INTERVAL_S * 2)

    def _start_failure(
        self, process: subprocess.Popen[bytes], output: str, previous: _ServerRecord | None
    ) -> StartupError:
        if "resource busy" in output.lower():
            holder = ""
            if previous is not None and _pid_alive(previous.pid):
                holder = f" (process {previous.pid}, recorded in {self.state_path})"
            return StartupError(
                f"The database folder {self.storage_dir} is in use by another database "
                f"server{holder}. Stop that server, or point APOS_MONGODB_URI at it."
            )
        return StartupError(
            f"The embedded database server stopped during start-up (exit code "
            f"{process.returncode}). Last lines of {self.log_path}:\n{_tail(output)}"
        )


def server_uri(host: str, port: int) -> str:
    """The URI for a server on ``host:port``.

    ``directConnection`` because the server describes itself as a one-node replica set;
    without it the driver would go looking for the set's members under their advertised
    names instead of simply talking to the address it was given.
    """
    return f"mongodb://{host}:{port}/?directConnection=true"


def find_server_executable() -> str | None:
    """The ``secantusd-py`` next to this Python (the venv's ``bin``), else on ``PATH``.

    The venv comes first because that is where ``pip install 'apos[embedded]'`` puts it,
    even when the venv was never activated and so is not on ``PATH``.
    """
    beside_python = Path(sys.executable).parent / SERVER_EXECUTABLE
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which(SERVER_EXECUTABLE)


async def probe(uri: str, timeout_ms: int = PING_TIMEOUT_MS) -> str | None:
    """Ping ``uri`` with a short-lived client: ``None`` if it answers, else why not."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        reason = await ping_failure(client)
    finally:
        await client.close()
    if reason is not None:
        del client
        discard_abandoned_sockets()
    return reason


async def ping_failure(client: AsyncMongoClient[Any]) -> str | None:
    """Run ``ping``: ``None`` if it answers, else a one-line reason fit for people."""
    try:
        await client.admin.command("ping")
    except PyMongoError as exc:
        return short_reason(exc)
    return None


def short_reason(exc: BaseException) -> str:
    """The first, human-relevant part of a driver error message."""
    text = str(exc)
    for cut in _REASON_CUTS:
        text = text.split(cut, 1)[0]
    text = text.strip() or type(exc).__name__
    if len(text) > _REASON_MAX_CHARS:
        text = text[: _REASON_MAX_CHARS - 1] + "…"
    return text


def discard_abandoned_sockets() -> None:
    """Free, quietly, the socket pymongo may abandon after a failed connection attempt.

    Closing a client cancels its monitor; when that lands while the monitor is opening a
    socket to an unreachable server, pymongo (4.20) leaves the socket unclosed, and it is
    only freed (with a ``ResourceWarning``) whenever the garbage collector gets to it —
    possibly in the middle of unrelated code. Callers first drop every reference to the
    closed client, then call this to have it freed here, where the warning is known noise.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@contextlib.asynccontextmanager
async def _exclusive_lock(path: Path, timeout_s: float) -> AsyncIterator[bool]:
    """Hold an exclusive ``flock`` on ``path``; yield whether it was acquired in time."""
    fd = _open_lock_file(path)  # instant, and not worth a thread hop that could leak it
    try:
        deadline = time.monotonic() + timeout_s
        acquired = _try_flock(fd)
        while not acquired and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
            acquired = _try_flock(fd)
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


async def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, up to :data:`STOP_TIMEOUT_S` to shut down cleanly, then SIGKILL; reap it."""
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            await _exited_within(process, STOP_TIMEOUT_S)
    finally:
        # Also reached when cancelled mid-wait: never leave the child running or unreaped.
        if process.poll() is None:
            process.kill()
            process.wait()


async def _exited_within(process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL_S)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, but belongs to another user
    return True


def _read_record(path: Path) -> _ServerRecord | None:
    """The recorded server, or ``None`` if there is no usable record (treated as stale)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid, host, port = data.get("pid"), data.get("host"), data.get("port")
    if not (isinstance(pid, int) and isinstance(host, str) and isinstance(port, int)):
        return None
    return _ServerRecord(pid=pid, host=host, port=port)


def _write_record(path: Path, record: _ServerRecord) -> None:
    # Written aside then renamed, so a reader never sees half a file.
    temporary = path.with_name(path.name + ".tmp")
    payload = {"pid": record.pid, "host": record.host, "port": record.port}
    temporary.write_text(json.dumps(payload) + "\n", encoding="utf-8")
    temporary.replace(path)


def _forget_record(path: Path, pid: int) -> None:
    """Remove the record, unless it now describes some other server."""
    record = _read_record(path)
    if record is not None and record.pid == pid:
        path.unlink(missing_ok=True)


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _tail(output: str) -> str:
    lines = output.strip().splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(no output)"
