"""Event loops and the driver: nothing is bound to a loop at import, apps on different
loops work side by side, and closing an app with a job running leaves nothing behind."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import warnings
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

from apos.app import APOS_KEY, Apos
from apos.modules.apostrophe_jobs import JobsModule
from tests.fixtures.jobs_site import app as jobs_app


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def serve_and_run_a_job(uri: str, db_name: str, *, leave_running: bool) -> dict[str, Any]:
    """Start the jobs site on this loop, run (or leave running) a job, close the app."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
    runner = web.AppRunner(jobs_app.web_app(db_uri=uri, db_name=db_name), shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    apos = runner.app[APOS_KEY]
    assert isinstance(apos, Apos)
    await apos.modules["apostrophe-users"].add_user("u", "pw")  # type: ignore[attr-defined]
    base = f"http://{host}:{port}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await http.post(f"{base}/login", data={"username": "u", "password": "pw"})
            token = next(c.value for c in http.cookie_jar if c.key == "XSRF-TOKEN")
            async with http.post(f"{base}/modules/widgets/batch", headers={
                    "X-XSRF-TOKEN": token}, json={"ids": [f"i{n}" for n in range(300)],
                                                  "job": True, "delay": 0.01}) as response:
                job_id = (await response.json())["jobId"]
        jobs = apos.modules["apostrophe-jobs"]
        assert isinstance(jobs, JobsModule)
        if not leave_running:
            await jobs.active_jobs[job_id].wait()
        else:
            await asyncio.sleep(0.3)
    finally:
        await runner.cleanup()  # closes the app: a running job must be ended
    checker: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    try:
        job: dict[str, Any] = await checker[db_name]["aposJobs"].find_one({"_id": job_id})
        await checker.drop_database(db_name)
    finally:
        await checker.close()
    assert not errors, errors
    return job


def test_two_apps_on_two_loops_at_once(mongo_uri: str) -> None:
    outcomes: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = asyncio.run(serve_and_run_a_job(
                mongo_uri, f"apos_loops_{name}", leave_running=False))
        except BaseException as error:  # reported below, in the test's thread
            outcomes[name] = error

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for name in ("a", "b"):
        job = outcomes[name]
        assert not isinstance(job, BaseException), job
        assert (job["status"], job["good"]) == ("completed", 300)


def test_closing_an_app_with_a_running_job_ends_it_and_leaves_nothing(mongo_uri: str) -> None:
    recorder = Recorder()
    logging.getLogger("asyncio").addHandler(recorder)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            job = asyncio.run(serve_and_run_a_job(mongo_uri, "apos_loops_close",
                                                  leave_running=True))
            gc.collect()
    finally:
        logging.getLogger("asyncio").removeHandler(recorder)
    assert job["ended"] is True and job["status"] == "stopped"
    assert job["canceling"] is False and 0 < job["processed"] < 300
    assert [str(w.message) for w in caught] == []
    assert not [m for m in recorder.messages if "destroyed" in m or "Unclosed" in m]
