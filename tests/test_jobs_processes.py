"""Stop requests across processes: two real app processes share one database server; a job
started in one is stopped through the other."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from tests.conftest import uri_with_db
from tests.test_cli import free_port

SITE = Path(__file__).parent / "fixtures" / "jobs_site.py"
APOS = [sys.executable, "-m", "apos.cli"]


async def serve(uri: str) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *APOS, "serve", "--app", str(SITE), "--db-uri", uri, "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    lines = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        lines.append(line)
        if "serving" in line or not line:
            break
    assert "serving" in lines[-1], "".join(lines)
    return process, port


@pytest.fixture
async def two_apps(mongo_uri: str, db_name: str
                   ) -> AsyncIterator[tuple[Callable[[int, str], str], str]]:
    uri = uri_with_db(mongo_uri, db_name)
    add = await asyncio.create_subprocess_exec(
        *APOS, "users:add", "editor", "--role", "editor", "--app", str(SITE), "--db-uri", uri,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await add.communicate(b"pw-for-editor\n")
    assert add.returncode == 0, err.decode()
    (first, first_port), (second, second_port) = await asyncio.gather(serve(uri), serve(uri))
    ports = {0: first_port, 1: second_port}
    try:
        yield (lambda index, path: f"http://127.0.0.1:{ports[index]}{path}"), uri
    finally:
        for process in (first, second):
            process.terminate()
            await process.wait()
        cleaner: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
        await cleaner.drop_database(db_name)
        await cleaner.close()


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]
               ) -> dict[str, Any]:
    token = next(c.value for c in session.cookie_jar if c.key == "XSRF-TOKEN")
    async with session.post(url, json=body, headers={"X-XSRF-TOKEN": token}) as response:
        data: dict[str, Any] = await response.json()
        return data


async def test_a_job_in_one_process_stops_through_another(
        two_apps: tuple[Callable[[int, str], str], str]) -> None:
    url, _ = two_apps
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, shared by both ports
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.post(url(0, "/login"), allow_redirects=False,
                                data={"username": "editor", "password": "pw-for-editor"}):
            pass
        async with session.get(url(0, "/login")):  # sets the CSRF cookie
            pass
        started = await post(session, url(0, "/modules/widgets/batch"),
                             {"ids": [f"x{i}" for i in range(200)], "job": True,
                              "delay": 0.03})
        assert started["status"] == "ok"
        job_id = started["jobId"]
        for _ in range(200):
            seen = await post(session, url(1, "/modules/apostrophe-jobs/progress"),
                              {"_id": job_id})
            if seen["job"]["processed"] >= 3:
                break
            await asyncio.sleep(0.05)
        # The second process only marks the document; the first one notices and stops.
        assert (await post(session, url(1, "/modules/apostrophe-jobs/cancel"),
                           {"_id": job_id}))["status"] == "ok"
        for _ in range(200):
            job = (await post(session, url(0, "/modules/apostrophe-jobs/progress"),
                              {"_id": job_id}))["job"]
            if job["ended"]:
                break
            await asyncio.sleep(0.05)
        assert job["status"] == "stopped"
        assert job["canceling"] is False
        assert 3 <= job["processed"] < 200
        assert job["processed"] == job["good"] + job["bad"]
