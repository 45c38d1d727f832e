"""Graceful shutdown of a real ``apos serve`` process: SIGTERM refuses new jobs, stops the
running ones within the grace period, and leaves no job running."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest

from tests.conftest import uri_with_db
from tests.processes import add_user, output_of, start_site

GRACE = 2.0


async def logged_in(base: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(f"{base}/login", allow_redirects=False,
                            data={"username": "editor", "password": "pw-editor"}):
        pass
    async with session.get(f"{base}/login"):
        pass
    return session


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]
               ) -> dict[str, Any]:
    token = next(c.value for c in session.cookie_jar if c.key == "XSRF-TOKEN")
    async with session.post(url, json=body, headers={"X-XSRF-TOKEN": token}) as response:
        assert response.status < 500
        data: dict[str, Any] = await response.json()
        return data


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_jobs_gracefully_and_leaves_none_running(
        mongo_uri: str, db_name: str, database: Any, signum: signal.Signals) -> None:
    uri = uri_with_db(mongo_uri, db_name)
    await add_user(uri, "editor", "pw-editor")
    process, port = await start_site(uri, env={"APOS_TEST_GRACE": str(GRACE)})
    base = f"http://127.0.0.1:{port}"
    session = await logged_in(base)
    try:
        batch = await post(session, f"{base}/modules/widgets/batch",
                           {"ids": [f"b{i}" for i in range(500)], "job": True,
                            "delay": 0.02})
        polite = await post(session, f"{base}/modules/widgets/work",
                            {"steps": 500, "delay": 0.02})
        stubborn = await post(session, f"{base}/modules/widgets/work",
                              {"mode": "stubborn", "steps": 500, "delay": 0.02})
        job_ids = [batch["jobId"], polite["jobId"], stubborn["jobId"]]
        await asyncio.sleep(0.5)
        process.send_signal(signum)
        signalled = asyncio.get_running_loop().time()
        await asyncio.sleep(0.3)
        # Still answering during the grace period, but refusing new jobs.
        refused = await post(session, f"{base}/modules/widgets/batch",
                             {"ids": ["late"], "job": True})
        assert refused["status"] == "error"
        assert "shutting down" in refused["message"]
        await asyncio.wait_for(process.wait(), GRACE + 5)
        elapsed = asyncio.get_running_loop().time() - signalled
        assert process.returncode == 0, await output_of(process)
        assert elapsed < GRACE + 2
    finally:
        await session.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
    jobs = {job["_id"]: job async for job in database["aposJobs"].find({})}
    assert await database["aposJobs"].count_documents({"ended": False}) == 0
    assert len(jobs) == 3
    for job in jobs.values():
        assert job["ended"] is True and job["canceling"] is False
        assert job["processed"] == job["good"] + job["bad"]
    assert jobs[job_ids[0]]["status"] == "stopped"
    assert jobs[job_ids[0]]["stopReason"] == "shutdown"
    assert jobs[job_ids[0]]["processed"] < 500
    assert jobs[job_ids[1]]["status"] == "stopped"  # it saw is_canceling() and returned
    assert jobs[job_ids[2]]["status"] == "failed"  # it ignored the request
    assert jobs[job_ids[2]]["error"]["name"] == "interrupted"
