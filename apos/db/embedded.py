"""Start, find and stop the embedded database server (``secantusd-py``).

The embedded server lets ``apos`` run with no MongoDB installed: its data lives in a folder
the user can see (``<data_dir>/db``). It comes from the ``secantusdb`` package, which is GPL
licensed, so it is only ever run as a separate process and never imported here.

Several apos commands may share one server (``apos serve`` twice, or ``apos users:add``
while a site is served). Whoever finds no server starts one and records it in
``embedded-server.json``; the others reuse it. An exclusive lock on
``embedded-server.lock`` serialises that check-then-start, so two commands launched at the
same moment never race to open the same folder.

Who stops the server is decided by a second lock file, ``embedded-server.users``: every
process using the server holds a *shared* ``flock`` on it, and the kernel drops that lock
when the process ends, however it ends (even ``kill -9``). A command that is done with
the server gives up its shared lock and then tries, without waiting, for an *exclusive*
one: it only gets it if no other process is using the server, and then it stops the
server. So the last user stops it, whether it started the server or found it running —
which also covers a server left behind by a command that was killed outright: the next
command adopts it and, being its last user, stops it. Which process started the server
plays no part.

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
USERS_FILE = "embedded-server.users"
LOG_FILE = "embedded-server.log"
# Loopback only: the embedded server has no authentication, so it must not be reachable
# from other machines.
HOST = "127.0.0.1"

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
# After SIGKILL a process is gone within milliseconds; this only bounds the wait.
KILL_TIMEOUT_S = 2.0
# Long enough for another command to start (20 s) or stop (10 s) the server under a lock.
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

# The servers this Python process spawned and has not reaped yet, by pid. A server outlives
# the object that started it whenever another apos process still uses it, so its
# ``Popen`` is kept here rather than on that object: whichever object in this process ends
# up stopping it can then wait for it as a parent should, and a server stopped by another
# process is reaped here (``_reap_exited_servers``) instead of lingering as a zombie.
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class _ServerRecord:
    """What ``embedded-server.json`` says about the server that was started last."""

    pid: int
    host: str
    port: int


class EmbeddedServer:
    """The embedded server whose data lives in ``data_dir / "db"``, as one user sees it.

    Between :meth:`ensure_running` and :meth:`stop` the object counts as a user of the
    server (see the module docstring); ``stop`` stops the server only if it was the last
    user. ``owned`` merely tells whether this object started the process or found one
    already running for the same folder: it is shown to people, and decides nothing.
    """

    def __init__(self, data_dir: Path) -> None:
        # Absolute because the server runs in the data folder (see ``_spawn``): a relative
        # storage path would be resolved against that folder a second time.
        self.data_dir = data_dir.absolute()
        self.storage_dir = self.data_dir / STORAGE_FOLDER
        self.state_path = self.data_dir / STATE_FILE
        self.lock_path = self.data_dir / LOCK_FILE
        self.users_path = self.data_dir / USERS_FILE
        self.log_path = self.data_dir / LOG_FILE
        self.owned = False
        self.host = HOST
        self.port: int | None = None
        self.pid: int | None = None
        # Open, with a shared lock on ``users_path``, while this object uses the server.
        self._users_fd: int | None = None

    @property
    def uri(self) -> str:
        """The URI of the server in use; only meaningful after :meth:`ensure_running`."""
        if self.port is None:
            raise RuntimeError("the embedded server has not been started")
        return server_uri(self.host, self.port)

    async def ensure_running(self) -> str:
        """Reuse the folder's running server or start one; return its URI.

        From then on, until :meth:`stop`, this object holds its shared lock on the users
        file, so no other apos process stops the server under it. If this fails, the
        object is left not using any server.
        """
        _reap_exited_servers()
        if self._users_fd is not None and self.pid is not None and _is_server(self.pid):
            return self.uri
        async with _exclusive_lock(self.lock_path, LOCK_TIMEOUT_S) as locked:
            if not locked:
                raise StartupError(
                    f"Another apos command has been starting the embedded database server in "
                    f"{self.data_dir} for over {LOCK_TIMEOUT_S:g} s; if none is running, "
                    f"delete {self.lock_path} and try again."
                )
            try:
                # Joined *before* the record is read: once the record says a server is
                # running, no other process can be about to stop it.
                if self._users_fd is None:
                    self._users_fd = await self._join_users()
                record = await asyncio.to_thread(_read_record, self.state_path)
                if record is not None and await self._is_answering(record):
                    self.owned = False
                    self.host, self.port, self.pid = record.host, record.port, record.pid
                    return self.uri
                await self._start(record)
                return self.uri
            except BaseException:
                self._leave_users()
                raise

    async def stop(self) -> None:
        """Stop using the server, and stop the server too if no other apos process uses it.

        The exclusive lock on the users file is only free once every other user has
        released its shared lock (or died), so whoever gets it is the last user and stops
        the server, whether it started it or not. Not getting it means someone else still
        needs the server: it is left running for them, and the last of them stops it.
        Holding the exclusive lock while stopping keeps a command that is starting up from
        adopting a server that is going away (it joins the users before reading the
        record). Calling this again, or without :meth:`ensure_running`, does nothing.

        No lock is waited for here, so stopping is never held up by a command that is busy
        starting the server: that command already counts as a user.
        """
        _reap_exited_servers()
        fd, self._users_fd = self._users_fd, None
        if fd is None:
            return
        self.owned = False
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
            if _try_flock(fd, fcntl.LOCK_EX):
                await self._stop_server()
        finally:
            os.close(fd)  # also releases the exclusive lock, once the server is gone

    async def _join_users(self) -> int:
        """Open the users file and take a shared lock on it; return its descriptor.

        The wait only lasts while some other command holds the exclusive lock, that is
        while it stops the server (at most :data:`STOP_TIMEOUT_S` plus a kill).
        """
        fd = _open_lock_file(self.users_path)
        try:
            if not await _flock_within(fd, fcntl.LOCK_SH, LOCK_TIMEOUT_S):
                raise StartupError(
                    f"Another apos command has been stopping the embedded database server "
                    f"in {self.data_dir} for over {LOCK_TIMEOUT_S:g} s; if none is "
                    f"running, delete {self.users_path} and try again."
                )
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _leave_users(self) -> None:
        """Give up the shared lock (without stopping anything) if this object holds it."""
        fd, self._users_fd = self._users_fd, None
        if fd is not None:
            os.close(fd)

    async def _stop_server(self) -> None:
        """Stop the server and forget it; the caller holds the exclusive lock.

        That is the server named in the record and, should the record have gone missing
        or been overwritten, the one this object used (normally both are the same).
        A record still naming a process that would not go away is kept: the next command
        then reports the folder as busy, which is the truth.
        """
        record = await asyncio.to_thread(_read_record, self.state_path)
        pids = {record.pid} if record is not None else set()
        if self.pid is not None:
            pids.add(self.pid)
        for pid in pids:
            if await _stop_process(pid):
                await asyncio.to_thread(_forget_record, self.state_path, pid)

    async def _is_answering(self, record: _ServerRecord) -> bool:
        if not _is_server(record.pid):
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
        _SPAWNED[process.pid] = process
        self.owned = True
        self.port, self.pid = port, process.pid

    def _spawn(self, executable: str) -> tuple[int, subprocess.Popen[bytes]]:
        """Start the child; return where its output begins in the log, and the process.

        A new session keeps a terminal's Ctrl-C away from the server: only apos receives
        it, and the last apos process using the server stops it, once nothing uses the
        database any more. The working directory is the data folder so that a stray
        ``secantusd.toml`` wherever apos happens to be run from is not picked up by the
        server.
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
            # close_fds (the default) matters: the child must not inherit a lock's file
            # descriptor, or the lock would outlive this command (the server would then
            # count as its own user and never be stopped).
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
            if previous is not None and _is_server(previous.pid):
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
        acquired = await _flock_within(fd, fcntl.LOCK_EX, timeout_s)
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    # O_CLOEXEC: a lock inherited by some program apos runs would outlive apos itself.
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


async def _flock_within(fd: int, operation: int, timeout_s: float) -> bool:
    """Take ``flock(fd, operation)`` within ``timeout_s``; return whether it was taken."""
    deadline = time.monotonic() + timeout_s
    acquired = _try_flock(fd, operation)
    while not acquired and time.monotonic() < deadline:
        await asyncio.sleep(POLL_INTERVAL_S)
        acquired = _try_flock(fd, operation)
    return acquired


def _try_flock(fd: int, operation: int) -> bool:
    """``flock(fd, operation)`` without waiting; ``False`` if another holder prevents it."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


async def _stop_process(pid: int) -> bool:
    """Stop server ``pid`` (SIGTERM, then SIGKILL); return whether it is gone.

    A server this process spawned is waited for through its ``Popen``, which also reaps
    it. Any other pid is only signalled while it is still a live ``secantusd-py``, so a
    pid the system has handed to an unrelated process since is never touched.
    """
    spawned = _SPAWNED.pop(pid, None)
    if spawned is not None:
        await _terminate(spawned)
        return True
    if not _is_server(pid):
        return True
    try:
        _send_signal(pid, signal.SIGTERM)
        await _gone_within(pid, STOP_TIMEOUT_S)
    finally:
        # Also reached when cancelled mid-wait: the server is going away either way.
        if _is_server(pid):
            _send_signal(pid, signal.SIGKILL)
    return await _gone_within(pid, KILL_TIMEOUT_S)


def _send_signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


async def _gone_within(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _is_server(pid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL_S)
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


def _reap_exited_servers() -> None:
    """Collect the exit status of spawned servers that have exited (stopped by others)."""
    for pid, process in list(_SPAWNED.items()):
        if process.poll() is not None:
            del _SPAWNED[pid]


def _is_server(pid: int) -> bool:
    """Whether ``pid`` is a live ``secantusd-py`` process.

    The command line is checked, not merely the pid: a recorded pid may since have been
    given to an unrelated process, which must never be mistaken for the server, let alone
    signalled. A zombie (exited, not yet reaped by its parent) counts as gone.
    """
    arguments = _command_line(pid)
    return any(Path(argument).name == SERVER_EXECUTABLE for argument in arguments)


def _command_line(pid: int) -> list[str]:
    """The arguments of live process ``pid``; empty if it does not exist or is a zombie.

    Read from ``/proc`` (where a zombie's command line is empty); where there is no
    ``/proc`` (macOS), from ``ps``, which shows a zombie's state as ``Z``.
    """
    if pid <= 0:
        return []
    proc = Path("/proc")
    if proc.is_dir():
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            return []
        return raw.decode(errors="replace").split("\0")
    try:
        result = subprocess.run(
            ["ps", "-p", str(pid), "-o", "stat=", "-o", "command="],
            capture_output=True, text=True, check=False,
        )
    except OSError:
        return []
    fields = result.stdout.split()  # the state, then the words of the command line
    if result.returncode != 0 or not fields or fields[0].startswith("Z"):
        return []
    return fields[1:]


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
