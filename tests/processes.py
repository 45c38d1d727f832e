"""Real app processes for the tests: ``apos serve`` of the jobs site, users added with
``apos users:add``, both against a test database."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.test_cli import free_port

SITE = Path(__file__).parent / "fixtures" / "jobs_site.py"
APOS = [sys.executable, "-m", "apos.cli"]


async def start_site(uri: str, *, port: int | None = None,
                     env: dict[str, str] | None = None
                     ) -> tuple[asyncio.subprocess.Process, int]:
    """``apos serve`` of the jobs site; returns once it says it is serving."""
    port = port or free_port()
    process = await asyncio.create_subprocess_exec(
        *APOS, "serve", "--app", str(SITE), "--db-uri", uri, "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})})
    assert process.stdout is not None
    lines = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        lines.append(line)
        if "serving" in line or not line:
            break
    assert "serving" in lines[-1], "".join(lines)
    return process, port


async def add_user(uri: str, username: str, password: str, role: str = "editor") -> None:
    process = await asyncio.create_subprocess_exec(
        *APOS, "users:add", username, "--role", role, "--app", str(SITE), "--db-uri", uri,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate(f"{password}\n".encode())
    assert process.returncode == 0, err.decode()


async def output_of(process: asyncio.subprocess.Process) -> str:
    """What the process printed after it started serving (it must have exited)."""
    assert process.stdout is not None
    return (await process.stdout.read()).decode()
