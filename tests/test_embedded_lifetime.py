"""Who stops the shared embedded server: its last user, whoever started it.

Each "user" here is a separate Python process (or this one) holding an
:class:`EmbeddedServer`, the way two ``apos`` commands share one data folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apos.db import EmbeddedServer
from apos.db.embedded import _SPAWNED, _is_server, _reap_exited_servers, probe

# A user of the server in its own process, driven line by line through stdin/stdout.
_USER_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from apos.db.embedded import EmbeddedServer, probe

async def main():
    server = EmbeddedServer(Path(sys.argv[1]))
    uri = await server.ensure_running()
    print(json.dumps({"pid": server.pid, "owned": server.owned}), flush=True)
    for line in sys.stdin:
        if line.strip() == "ping":
            print(json.dumps({"ping": await probe(uri)}), flush=True)
        elif line.strip() == "stop":
            await server.stop()
            print(json.dumps({"stopped": True}), flush=True)
            return

asyncio.run(main())
"""


class UserProcess:
    """A Python process using the embedded server of ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _USER_SCRIPT, str(data_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        started = self._answer()
        self.pid: int = started["pid"]
        self.owned: bool = started["owned"]

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def stop(self) -> None:
        assert self.ask("stop") == {"stopped": True}
        assert self.process.wait(timeout=20) == 0

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the user process ended (exit code {self.process.wait()})"
        answer: dict[str, Any] = json.loads(line)
        return answer


@pytest.fixture(autouse=True)
def _no_uri_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APOS_MONGODB_URI", raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def state_path(data_dir: Path) -> Path:
    return data_dir / "embedded-server.json"


@pytest.fixture
def user_processes(data_dir: Path) -> Iterator[Callable[[], UserProcess]]:
    """Start user processes; afterwards end them and any server a failed test left."""
    started: list[UserProcess] = []

    def start() -> UserProcess:
        user = UserProcess(data_dir)
        started.append(user)
        return user

    try:
        yield start
    finally:
        for user in started:
            user.close()
        _kill_leftover_servers(data_dir, [user.pid for user in started])


@pytest.fixture
async def here(data_dir: Path) -> AsyncIterator[EmbeddedServer]:
    """A user in this process (stopped afterwards if the test did not)."""
    server = EmbeddedServer(data_dir)
    try:
        yield server
    finally:
        await server.stop()
        _kill_leftover_servers(data_dir, [server.pid] if server.pid else [])


def _kill_leftover_servers(data_dir: Path, pids: list[int]) -> None:
    try:
        pids.append(json.loads((data_dir / "embedded-server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        pass
    for pid in set(pids):
        if _is_server(pid):
            os.kill(pid, signal.SIGKILL)
    _reap_exited_servers()


def _exists(path: Path) -> bool:
    return path.exists()


def _record_pid(state_path: Path, pid: int) -> None:
    record = json.loads(state_path.read_text())
    state_path.write_text(json.dumps({**record, "pid": pid}))


def _unrelated_process() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _gone(pid: int, timeout_s: float = 5) -> bool:
    deadline = time.monotonic() + timeout_s
    while _is_server(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def test_starter_stops_first_the_other_user_keeps_the_server(
        here: EmbeddedServer, user_processes: Callable[[], UserProcess],
        state_path: Path) -> None:
    await here.ensure_running()
    other = user_processes()
    assert here.owned and not other.owned and other.pid == here.pid

    await here.stop()  # the starter is done first: the other still needs the server
    assert _is_server(other.pid) and _exists(state_path)
    assert other.ask("ping") == {"ping": None}

    other.stop()  # the last user stops it, although it did not start it
    assert not _is_server(other.pid) and not _exists(state_path)
    _reap_exited_servers()  # it was this process's child: collected, no zombie left
    assert other.pid not in _SPAWNED


async def test_starter_process_ends_first_this_user_stops_last(
        here: EmbeddedServer, user_processes: Callable[[], UserProcess],
        state_path: Path) -> None:
    starter = user_processes()
    await here.ensure_running()
    assert starter.owned and not here.owned and here.pid == starter.pid

    starter.stop()
    assert _is_server(starter.pid)
    assert await probe(here.uri) is None

    await here.stop()
    assert not _is_server(starter.pid) and not _exists(state_path)


async def test_server_of_a_killed_command_is_adopted_then_stopped(
        here: EmbeddedServer, user_processes: Callable[[], UserProcess],
        state_path: Path) -> None:
    starter = user_processes()
    starter.process.kill()  # kill -9: no chance to stop anything
    starter.process.wait()
    assert _is_server(starter.pid)  # orphaned, still running

    await here.ensure_running()
    assert here.pid == starter.pid and not here.owned
    await here.stop()  # its last user, though not its starter
    assert not _is_server(starter.pid) and not _exists(state_path)


async def test_killed_user_does_not_keep_the_server_alive(
        here: EmbeddedServer, user_processes: Callable[[], UserProcess]) -> None:
    await here.ensure_running()
    other = user_processes()
    other.process.kill()  # the kernel drops its shared lock with it
    other.process.wait()
    await here.stop()
    assert here.pid is not None and not _is_server(here.pid)


async def test_unrelated_recorded_pid_is_never_signalled(
        here: EmbeddedServer, state_path: Path) -> None:
    await here.ensure_running()
    # As if the system had given the recorded pid to another program meanwhile.
    unrelated = _unrelated_process()
    try:
        _record_pid(state_path, unrelated.pid)
        await here.stop()
        assert unrelated.poll() is None  # untouched
        assert here.pid is not None and not _is_server(here.pid)  # ours is still stopped
    finally:
        unrelated.kill()
        unrelated.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _failed_login_status(port: int) -> int:
    """The status of a login with a wrong password: 401 once the users were looked up."""
    form = b"username=nobody&password=wrong"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", data=form,
                                    timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def serve(data_dir: Path, tmp_path: Path
          ) -> Iterator[Callable[[], tuple[subprocess.Popen[str], int]]]:
    """``apos serve`` processes on one data folder; killed afterwards with their server.

    They serve a bare site, which starts much faster than the demo and its seed data.
    """
    started: list[subprocess.Popen[str]] = []
    env = {key: value for key, value in os.environ.items() if key != "APOS_MONGODB_URI"}
    site = tmp_path / "site.py"
    site.write_text("import apos\n\napp = apos.App()\n")

    def start() -> tuple[subprocess.Popen[str], int]:
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "apos.cli", "serve", "--app", str(site),
             "--port", str(port), "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        started.append(process)
        assert process.stdout is not None
        output = [process.stdout.readline()]
        while output[-1] and "serving" not in output[-1]:
            output.append(process.stdout.readline())
        assert "serving" in output[-1], "".join(output)
        return process, port

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        _kill_leftover_servers(data_dir, [])


def test_two_apos_serve_share_the_server_until_the_last_stops(
        serve: Callable[[], tuple[subprocess.Popen[str], int]], state_path: Path) -> None:
    first, _first_port = serve()
    second, second_port = serve()
    pid = json.loads(state_path.read_text())["pid"]

    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=20) == 0
    assert _is_server(pid)
    assert _failed_login_status(second_port) == 401  # not 500: the database answers

    second.send_signal(signal.SIGINT)
    assert second.wait(timeout=20) == 0
    assert _gone(pid) and not _exists(state_path)
