"""Helpers for the jobs tests: start the jobs site, run jobs over HTTP, wait for their end."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from apos import Apos
from apos.modules.apostrophe_jobs import JobsModule
from tests.conftest import StartApp, login, post_json
from tests.fixtures.jobs_site import app as jobs_app

Client = TestClient[Any, Any]


def jobs_of(apos: Apos) -> JobsModule:
    module = apos.modules["apostrophe-jobs"]
    assert isinstance(module, JobsModule)
    return module


async def start_jobs_site(start_app: StartApp, *, role: str = "editor",
                          username: str = "editor") -> tuple[Client, Apos]:
    client, apos = await start_app(jobs_app)
    await login(client, apos, username, role=role)
    return client, apos


async def post_ok(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await post_json(client, path, body)
    data: dict[str, Any] = await response.json()
    assert data["status"] == "ok", data
    return data


async def wait_for_end(apos: Apos, job_id: str, *, seconds: float = 30) -> dict[str, Any]:
    """The job document once it has ended (fails the test if it never does)."""
    collection = apos.db["aposJobs"]
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        job: dict[str, Any] | None = await collection.find_one({"_id": job_id})
        assert job is not None
        if job["ended"]:
            return job
        assert asyncio.get_running_loop().time() < deadline, f"job never ended: {job}"
        await asyncio.sleep(0.05)


async def wait_until_processed(apos: Apos, job_id: str, count: int) -> dict[str, Any]:
    collection = apos.db["aposJobs"]
    for _ in range(600):
        job: dict[str, Any] | None = await collection.find_one({"_id": job_id})
        assert job is not None
        if job["processed"] >= count:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never processed {count} items")


def assert_consistent_end(job: dict[str, Any]) -> None:
    """What every ended job document must satisfy, whatever its path."""
    assert job["ended"] is True
    assert job["canceling"] is False
    assert job["processed"] == job["good"] + job["bad"]
    assert job["status"] in ("completed", "failed", "stopped", "canceled")
    assert job["endedAt"] is not None
