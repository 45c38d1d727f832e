"""Jobs that outlive their process: a SIGKILLed app's job is found interrupted by the next
process, counts intact, and the browser modal stops and says Failed."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from tests.conftest import uri_with_db
from tests.processes import add_user, start_site

pytestmark = pytest.mark.browser
HEARTBEAT = 2.0


async def test_a_killed_process_leaves_a_job_that_the_next_one_ends(
        page: Page, mongo_uri: str, db_name: str, database: Any) -> None:
    uri = uri_with_db(mongo_uri, db_name)
    env = {"APOS_TEST_HEARTBEAT": str(HEARTBEAT)}
    await add_user(uri, "editor", "pw-editor")
    first, port = await start_site(uri, env=env)
    second = None
    try:
        base = f"http://127.0.0.1:{port}"
        await page.goto(f"{base}/login?next=%2F")
        await page.fill("input[name=username]", "editor")
        await page.fill("input[name=password]", "pw-editor")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/")
        answer = await page.evaluate("""() => apos.post('/modules/widgets/batch', {
            ids: Array.from({length: 500}, (_, i) => 'x' + i), job: true, delay: 0.01,
            marks: true, hangAt: 'x120'})""")
        job_id = answer["jobId"]
        await page.evaluate("(id) => apos.modules['apostrophe-jobs'].progress(id)", job_id)
        await expect(page.locator(".apos-job-progress__heading")).to_have_text("In Progress...")
        for _ in range(400):  # items before x120 are done; x120 hangs
            job = await database["aposJobs"].find_one({"_id": job_id})
            if job["processed"] >= 120:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(HEARTBEAT)  # at least one heartbeat written
        first.send_signal(signal.SIGKILL)
        await first.wait()
        still = await database["aposJobs"].find_one({"_id": job_id})
        assert still["ended"] is False and still["status"] == "running"
        assert still["heartbeatAt"] > still["when"]

        second, _ = await start_site(uri, port=port, env=env)
        started = asyncio.get_running_loop().time()
        while True:
            job = await database["aposJobs"].find_one({"_id": job_id})
            if job["ended"]:
                break
            assert asyncio.get_running_loop().time() - started < 2 * HEARTBEAT, job
            await asyncio.sleep(0.05)
        assert job["status"] == "failed" and job["canceling"] is False
        assert job["error"]["name"] == "interrupted"
        marks = await database["widgetMarks"].count_documents({})
        assert job["good"] == job["processed"] == marks == 120
        assert job["bad"] == 0 and job["total"] == 500

        # The modal, retrying against the port the new process now serves, shows Failed
        # and stops polling.
        polls = 0

        async def count(route: Route) -> None:
            nonlocal polls
            polls += 1
            await route.continue_()

        await expect(page.locator(".apos-job-progress__heading")).to_have_text(
            "Failed", timeout=40_000)
        await page.route("**/modules/apostrophe-jobs/progress", count)
        await expect(page.locator("[data-apos-job-done]")).to_be_visible()
        await expect(page.locator("[data-apos-job-stop]")).to_be_hidden()
        await asyncio.sleep(3)
        assert polls == 0
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
