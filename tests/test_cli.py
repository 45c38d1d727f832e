"""The ``apos`` command, run as a real process the way a person runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

APOS = [sys.executable, "-m", "apos.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(*args: str, stdin: str = "", timeout: float = 60, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*APOS, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)


def env_without_uri() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("APOS_MONGODB_URI", None)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """``apos serve`` on the embedded database in a fresh data folder."""
    port = free_port()
    data_dir = tmp_path / "data"
    process = subprocess.Popen([*APOS, "serve", "--port", str(port), "--data-dir",
                                str(data_dir)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env_without_uri())
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    output = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        output.append(line)
        if "serving" in line or not line:
            break
    assert "serving" in output[-1], "".join(output)
    assert "created the admin user 'admin' with password" in "".join(output)
    try:
        yield process, port, data_dir
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # lets it stop its database server too
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_help_everywhere() -> None:
    for args in ([], ["serve"], ["users:add"]):
        result = run(*args, "--help")
        assert result.returncode == 0
        assert "usage: apos" in result.stdout
    assert "--data-dir" in run("serve", "--help").stdout
    assert "--role" in run("users:add", "--help").stdout


def test_serve_then_add_user_on_the_running_embedded_server_then_ctrl_c(
        served: tuple[subprocess.Popen[str], int, Path]) -> None:
    process, port, data_dir = served
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
        assert response.status == 200
        assert "apos demo" in response.read().decode()
    server_info = json.loads((data_dir / "embedded-server.json").read_text())
    # A second command on the same folder finds the running database server and uses it.
    added = run("users:add", "ann", "--role", "editor", "--data-dir", str(data_dir),
                stdin="hunter2-long\n", env=env_without_uri())
    assert added.returncode == 0, added.stderr
    assert "created editor 'ann'" in added.stdout
    assert pid_alive(server_info["pid"])
    again = run("users:add", "ann", "--data-dir", str(data_dir), stdin="x\n",
                env=env_without_uri())
    assert again.returncode == 1
    assert "exists already" in again.stderr and "Traceback" not in again.stderr
    # The user can log in to the served site.
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    form = b"username=ann&password=hunter2-long"
    with opener.open(f"http://127.0.0.1:{port}/login", data=form) as response:
        page = response.read().decode()
        assert "Welcome, ann" in page and "Languages" in page
    # Ctrl-C stops the site and, last, the database server it started.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    deadline = time.monotonic() + 10
    while pid_alive(server_info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(server_info["pid"])


def test_unreachable_uri_fails_fast_without_the_password() -> None:
    started = time.monotonic()
    result = run("serve", "--db-uri", "mongodb://user:s3cr3t@127.0.0.1:1/site",
                 "--port", str(free_port()), timeout=30)
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert "apos: error:" in result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert "s3cr3t" not in result.stderr and "Traceback" not in result.stderr


def test_bad_app_file_is_a_readable_error(tmp_path: Path) -> None:
    missing = run("serve", "--app", str(tmp_path / "nope.py"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    wrong = tmp_path / "wrong.py"
    wrong.write_text("app = 42\n")
    result = run("serve", "--app", str(wrong))
    assert result.returncode == 1
    assert "must define `app = apos.App(...)`" in result.stderr


def test_users_add_rejects_an_empty_password(tmp_path: Path) -> None:
    result = run("users:add", "x", "--data-dir", str(tmp_path), stdin="\n")
    assert result.returncode == 1
    assert "password must not be empty" in result.stderr


def test_ctrl_c_during_the_first_seed_stops_and_the_next_start_finishes(tmp_path: Path
                                                                        ) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    command = [*APOS, "serve", "--port", str(port), "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env_without_uri())
    assert process.stdout is not None
    seen = b""
    while b"adding Languages" not in seen:
        chunk = process.stdout.read1(4096)  # type: ignore[attr-defined]
        assert chunk, seen.decode()
        seen += chunk
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=20)[0]
    assert process.returncode == 0
    assert b"stopped before serving" in rest
    again = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=env_without_uri())
    assert again.stdout is not None
    lines = []
    while not lines or ("serving" not in lines[-1] and lines[-1]):
        lines.append(again.stdout.readline())
    try:
        assert "serving" in lines[-1], "".join(lines)
        assert "7923/7923" in "".join(lines)
        assert "password" not in "".join(lines)  # the admin was made on the first start
    finally:
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=20)
