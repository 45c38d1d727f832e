"""The database layer against real server processes: embedded start, reuse, and failures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from apos.db import DatabaseConnection, EmbeddedServer, connect_database
from apos.db.connect import redact_uri
from apos.db.embedded import find_server_executable
from apos.errors import StartupError

Cleanup = list[Callable[[], Awaitable[None]]]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _write_state(data_dir: Path, state: dict[str, object]) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "embedded-server.json").write_text(json.dumps(state))


def _exists(path: Path) -> bool:
    return path.exists()


@pytest.fixture(autouse=True)
def _no_uri_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APOS_MONGODB_URI", raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def cleanup() -> AsyncIterator[Cleanup]:
    """Closers run after the test, last registered first, whatever the test's outcome."""
    closers: Cleanup = []
    yield closers
    for close in reversed(closers):
        await close()


async def _start(server: EmbeddedServer, cleanup: Cleanup) -> str:
    cleanup.append(server.stop)
    return await server.ensure_running()


async def _connect(cleanup: Cleanup, uri: str | None, data_dir: Path,
                   db_name: str | None = None) -> DatabaseConnection:
    connection = await connect_database(uri=uri, data_dir=data_dir, db_name=db_name)
    cleanup.append(connection.close)
    return connection


async def test_embedded_server_stores_documents(data_dir: Path, cleanup: Cleanup) -> None:
    connection = await _connect(cleanup, uri=None, data_dir=data_dir)
    assert connection.embedded is not None and connection.embedded.owned
    assert connection.db.name == "apos"
    assert (data_dir / "db" / "WiredTiger.lock").exists()
    await connection.db["things"].insert_one({"_id": "a", "n": 1})
    assert await connection.db["things"].find_one({"_id": "a"}) == {"_id": "a", "n": 1}

    # The same server seen through its URI: the database comes from the URI's path,
    # unless db_name says otherwise; such a connection does not own the server.
    uri = connection.embedded.uri
    named = await _connect(cleanup, uri=uri.replace("/?", "/other?"), data_dir=data_dir)
    assert named.db.name == "other" and named.embedded is None
    assert await named.db["things"].find_one({"_id": "a"}) is None
    chosen = await _connect(cleanup, uri=uri, data_dir=data_dir, db_name="apos")
    assert await chosen.db["things"].count_documents({}) == 1
    await named.close()
    await chosen.close()

    pid = connection.embedded.pid
    assert pid is not None and _alive(pid)
    await connection.close()
    await connection.close()  # idempotent
    assert not _alive(pid)
    assert not (data_dir / "embedded-server.json").exists()


async def test_second_instance_reuses_running_server(data_dir: Path, cleanup: Cleanup) -> None:
    first, second = EmbeddedServer(data_dir), EmbeddedServer(data_dir)
    await _start(first, cleanup)
    record = json.loads((data_dir / "embedded-server.json").read_text())
    assert record == {"pid": first.pid, "host": "127.0.0.1", "port": first.port}

    await _start(second, cleanup)
    assert first.owned and not second.owned
    assert (second.port, second.pid) == (first.port, first.pid)

    # Whoever started it, the server keeps running until its last user stops.
    await second.stop()
    assert first.pid is not None and _alive(first.pid)
    await second.stop()  # idempotent: the second does not stop it on a second try
    assert _alive(first.pid)
    await first.stop()
    assert not _alive(first.pid)
    assert not (data_dir / "embedded-server.json").exists()


async def test_relative_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 cleanup: Cleanup) -> None:
    # The server runs inside the data folder: a relative path must not be applied twice.
    monkeypatch.chdir(tmp_path)
    server = EmbeddedServer(Path("data"))
    await _start(server, cleanup)
    assert server.storage_dir == tmp_path / "data" / "db"
    assert (tmp_path / "data" / "db" / "WiredTiger.lock").exists()
    assert not (tmp_path / "data" / "data").exists()


async def test_stale_record_is_ignored(data_dir: Path, cleanup: Cleanup) -> None:
    dead = _dead_pid()
    _write_state(data_dir, {"pid": dead, "host": "127.0.0.1", "port": 1})

    server = EmbeddedServer(data_dir)
    await _start(server, cleanup)
    assert server.owned and server.pid != dead
    record = json.loads((data_dir / "embedded-server.json").read_text())
    assert record["pid"] == server.pid and record["port"] == server.port


async def test_record_of_a_process_that_is_no_server_is_ignored(data_dir: Path,
                                                                 cleanup: Cleanup) -> None:
    _write_state(data_dir, {"pid": os.getpid(), "host": "127.0.0.1", "port": 1})

    server = EmbeddedServer(data_dir)
    await _start(server, cleanup)
    assert server.owned and server.pid != os.getpid()


async def test_unreachable_uri_fails_fast_without_password(data_dir: Path) -> None:
    started = time.monotonic()
    with pytest.raises(StartupError) as info:
        await connect_database(
            uri="mongodb://user:secret@127.0.0.1:1/x", data_dir=data_dir, timeout_ms=1500
        )
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert message.startswith("Cannot reach the database at mongodb://user:***@127.0.0.1:1/x")
    assert "secret" not in message
    assert not _exists(data_dir)  # no embedded server was involved


async def test_uri_from_environment(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APOS_MONGODB_URI", "mongodb://me:secret@127.0.0.1:1/")
    with pytest.raises(StartupError, match=re.escape("mongodb://me:***@127.0.0.1:1/")):
        await connect_database(uri=None, data_dir=data_dir, timeout_ms=500)
    assert not _exists(data_dir)


@pytest.mark.parametrize(
    "uri", ["mongodb://user:secret@host:notaport/x", "postgres://user:secret@host/x"]
)
async def test_invalid_uri(uri: str, data_dir: Path) -> None:
    with pytest.raises(StartupError, match="is not valid") as info:
        await connect_database(uri=uri, data_dir=data_dir)
    assert "user:***@host" in str(info.value) and "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://user:pass@host:27017/db?x=1", "mongodb://user:***@host:27017/db?x=1"),
        (
            "mongodb+srv://user:pass@cluster.example.net/db?retryWrites=true",
            "mongodb+srv://user:***@cluster.example.net/db?retryWrites=true",
        ),
        ("mongodb://localhost:27017/apos", "mongodb://localhost:27017/apos"),
        ("mongodb://user@host/db", "mongodb://user@host/db"),
        ("mongodb://u:p%40ss@h1:1,h2:2/db", "mongodb://u:***@h1:1,h2:2/db"),
        ("mongodb://u:p@ss/w@host/db", "mongodb://u:***@host/db"),
        ("mongodb://u:@host", "mongodb://u:***@host"),
        (
            "mongodb://host/?tlsCertificateKeyFilePassword=hunter2&appName=x",
            "mongodb://host/?tlsCertificateKeyFilePassword=***&appName=x",
        ),
    ],
)
def test_redact_uri(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


async def test_missing_executable_is_explained(data_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_real_executable(tmp_path, monkeypatch)
    assert find_server_executable() is None
    with pytest.raises(StartupError, match=re.escape("pip install 'apos[embedded]'")):
        await connect_database(uri=None, data_dir=data_dir)


async def test_server_crash_shows_log_tail(data_dir: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = _hide_real_executable(tmp_path, monkeypatch)
    fake = bin_dir / "secantusd-py"
    fake.write_text("#!/bin/sh\necho 'config is broken beyond repair' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(StartupError) as info:
        await EmbeddedServer(data_dir).ensure_running()
    message = str(info.value)
    assert "exit code 3" in message and "config is broken beyond repair" in message
    assert not (data_dir / "embedded-server.json").exists()


@pytest.fixture
def foreign_server(data_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server started by hand on the data folder, recorded nowhere."""
    executable = find_server_executable()
    assert executable is not None
    log_path = tmp_path / "foreign.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [executable, "--host", "127.0.0.1", "--port", "0",
             "--storage-path", str(data_dir / "db")],
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while "listening on" not in log_path.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_folder_held_by_foreign_server(data_dir: Path,
                                             foreign_server: subprocess.Popen[bytes]) -> None:
    with pytest.raises(StartupError) as info:
        await EmbeddedServer(data_dir).ensure_running()
    message = str(info.value)
    assert str(data_dir / "db") in message and "in use by another database server" in message
    assert foreign_server.poll() is None
    assert not (data_dir / "embedded-server.json").exists()


def _hide_real_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the venv's ``bin`` and ``PATH`` look like a place without ``secantusd-py``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir
