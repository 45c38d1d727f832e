"""Stop requests across processes: two real app processes share one database server; a job
started in one is stopped through the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.conftest import uri_with_db
from tests.processes import add_user, start_site


@pytest.fixture
async def two_apps(mongo_uri: str, db_name: str, database: Any
                   ) -> AsyncIterator[Callable[[int, str], str]]:
    uri = uri_with_db(mongo_uri, db_name)
    await add_user(uri, "editor", "pw-for-editor")
    (first, first_port), (second, second_port) = await asyncio.gather(start_site(uri),
                                                                      start_site(uri))
    ports = {0: first_port, 1: second_port}
    try:
        yield lambda index, path: f"http://127.0.0.1:{ports[index]}{path}"
    finally:
        for process in (first, second):
            process.terminate()
            await process.wait()


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]
               ) -> dict[str, Any]:
    token = next(c.value for c in session.cookie_jar if c.key == "XSRF-TOKEN")
    async with session.post(url, json=body, headers={"X-XSRF-TOKEN": token}) as response:
        data: dict[str, Any] = await response.json()
        return data


async def test_a_job_in_one_process_stops_through_another(
        two_apps: Callable[[int, str], str]) -> None:
    url = two_apps
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
