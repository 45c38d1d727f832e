"""The progress modal in a real Chromium against a real server and database."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from apos.modules.apostrophe_jobs import JobsModule
from tests.browser import LiveSite, ServeApp, login_page
from tests.fixtures.jobs_site import app as jobs_app

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).parent.parent / "test-results"
"""Where the screenshot of the running modal goes (docs/ holds the committed copy)."""
MODAL = "[data-apos-job-modal]"


async def open_site(serve_app: ServeApp, page: Page) -> LiveSite:
    site = await serve_app(jobs_app)
    await site.add_user("editor", "pw-editor", role="editor")
    await login_page(page, site, "editor", "pw-editor", next_path="/")
    await page.evaluate("""() => {
        window.changes = [];
        window.successes = [];
        apos.on('change', (what) => window.changes.push(what));
    }""")
    return site


async def start_batch(page: Page, count: int, delay: float) -> str:
    answer = await page.evaluate(
        """([count, delay]) => apos.post('/modules/widgets/batch', {
            ids: Array.from({length: count}, (_, i) => 'w' + i), job: true, delay: delay,
            labels: {title: 'Trashing widgets'}})""", [count, delay])
    assert answer["status"] == "ok", answer
    job_id: str = answer["jobId"]
    return job_id


async def show_progress(page: Page, job_id: str) -> None:
    await page.evaluate("""(jobId) => apos.modules['apostrophe-jobs'].progress(jobId, {
        change: 'widgets', success: (results) => window.successes.push(results)})""", job_id)


async def bar_width(page: Page) -> float:
    style = await page.locator(".apos-job-progress__bar-fill").get_attribute("style")
    assert style is not None
    found = re.search(r"width: ([0-9.]+)%", style)
    assert found is not None
    return float(found.group(1))


async def wait_until(read: Callable[[], Awaitable[float]], ok: Callable[[float], bool],
                     seconds: float = 10) -> float:
    """Read a value from the page until ``ok`` accepts it (fails after ``seconds``)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if ok(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"last value: {value}"
        await asyncio.sleep(0.1)


async def job_document(site: LiveSite, job_id: str) -> dict[str, Any]:
    jobs = site.apos.modules["apostrophe-jobs"]
    assert isinstance(jobs, JobsModule)
    document: dict[str, Any] = await jobs.collection.find_one({"_id": job_id})
    return document


async def test_bar_moves_then_stop_ends_the_job_stopped(serve_app: ServeApp, page: Page
                                                        ) -> None:
    site = await open_site(serve_app, page)
    job_id = await start_batch(page, 200, 0.05)
    await show_progress(page, job_id)
    modal = page.locator(MODAL)
    await expect(modal).to_be_visible()
    await expect(modal.locator(".apos-jobs-modal__title")).to_have_text("Trashing widgets")
    stop = modal.locator("[data-apos-job-stop]")
    await expect(stop).to_be_focused()  # focus moved into the modal
    await expect(modal.locator(".apos-job-progress__bar-fill")).to_be_visible()
    first = await bar_width(page)
    await wait_until(lambda: bar_width(page), lambda width: width > max(first, 5))
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "jobs-progress-modal.png"))
    await stop.click()
    await expect(modal.locator(".apos-job-progress__heading")).to_have_text("Stopped",
                                                                            timeout=10_000)
    await expect(stop).to_be_hidden()
    done = modal.locator("[data-apos-job-done]")
    await expect(done).to_be_visible()
    await expect(done).to_be_focused()
    document = await job_document(site, job_id)
    assert document["status"] == "stopped" and document["processed"] < 200
    await done.click()
    await expect(modal).to_have_count(0)
    assert await page.evaluate("window.changes") == ["widgets"]
    assert await page.evaluate("window.successes") == []  # only for completed jobs


async def test_a_completed_job_calls_success_with_the_results(serve_app: ServeApp,
                                                              page: Page) -> None:
    site = await open_site(serve_app, page)
    job_id = await start_batch(page, 6, 0.05)
    await show_progress(page, job_id)
    modal = page.locator(MODAL)
    await expect(modal.locator(".apos-job-progress__heading")).to_have_text("Completed",
                                                                            timeout=10_000)
    await expect(modal.locator(".apos-job-progress__percentage")).to_have_text("100.00%")
    await expect(modal.locator("[data-apos-job-stop]")).to_be_hidden()
    await page.keyboard.press("Escape")  # closes once the job has ended
    await expect(modal).to_have_count(0)
    document = await job_document(site, job_id)
    assert await page.evaluate("window.successes") == [document["results"]]
    assert await page.evaluate("window.changes") == ["widgets"]


async def test_escape_minimises_and_a_reload_resumes_the_display(serve_app: ServeApp,
                                                                 page: Page) -> None:
    site = await open_site(serve_app, page)
    job_id = await start_batch(page, 60, 0.05)
    await show_progress(page, job_id)
    modal = page.locator(MODAL)
    await expect(modal).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(modal).to_be_hidden()
    tray = page.locator(".apos-jobs-tray__item")
    await expect(tray).to_be_visible()
    await expect(tray).to_be_focused()
    await page.reload()
    # The page comes back with the job remembered (minimised); calling progress again for
    # the same job shows the modal with the job's current state.
    await expect(page.locator(".apos-jobs-tray__item")).to_be_visible()
    await page.evaluate("(jobId) => apos.modules['apostrophe-jobs'].progress(jobId)", job_id)
    await expect(page.locator(MODAL)).to_be_visible()
    await expect(page.locator(".apos-job-progress__heading")).to_have_text("Completed",
                                                                           timeout=15_000)
    assert (await job_document(site, job_id))["status"] == "completed"
    await page.locator("[data-apos-job-done]").click()
    await expect(page.locator(MODAL)).to_have_count(0)
    await page.reload()
    await page.wait_for_load_state()
    await expect(page.locator(".apos-jobs-tray__item")).to_have_count(0)  # forgotten


async def test_polling_never_overlaps_even_when_answers_are_slow(serve_app: ServeApp,
                                                                 page: Page) -> None:
    await open_site(serve_app, page)
    in_flight = 0
    most = 0
    answered = 0

    async def slow(route: Route) -> None:
        nonlocal in_flight, most, answered
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(1.5)  # longer than the poll interval
        await route.continue_()
        in_flight -= 1
        answered += 1

    await page.route("**/modules/apostrophe-jobs/progress", slow)
    job_id = await start_batch(page, 80, 0.05)
    await show_progress(page, job_id)
    await expect(page.locator(".apos-job-progress__heading")).to_have_text("Completed",
                                                                           timeout=20_000)
    assert answered >= 2 and most == 1


async def test_a_failed_stop_is_reported_and_can_be_retried(serve_app: ServeApp, page: Page
                                                            ) -> None:
    site = await open_site(serve_app, page)
    attempts = 0

    async def flaky(route: Route) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await route.abort()
        else:
            await route.continue_()

    await page.route("**/modules/apostrophe-jobs/cancel", flaky)
    job_id = await start_batch(page, 200, 0.05)
    await show_progress(page, job_id)
    stop = page.locator("[data-apos-job-stop]")
    await stop.click()
    message = page.locator("[data-apos-job-message]")
    await expect(message).to_have_text("The job could not be stopped. Please try again.")
    await expect(stop).to_be_enabled()
    await stop.click()
    await expect(page.locator(".apos-job-progress__heading")).to_have_text("Stopped",
                                                                           timeout=10_000)
    assert (await job_document(site, job_id))["status"] == "stopped"


async def test_progress_errors_are_retried_and_shown_after_repeated_failures(
        serve_app: ServeApp, page: Page) -> None:
    await open_site(serve_app, page)
    failing = True

    async def down(route: Route) -> None:
        if failing:
            await route.abort()
        else:
            await route.continue_()

    await page.route("**/modules/apostrophe-jobs/progress", down)
    job_id = await start_batch(page, 40, 0.05)
    await show_progress(page, job_id)
    message = page.locator("[data-apos-job-message]")
    await expect(message).to_contain_text("Cannot reach the server", timeout=20_000)
    failing = False
    await expect(page.locator(".apos-job-progress__heading")).to_have_text("Completed",
                                                                           timeout=40_000)
    await expect(message).to_be_hidden()
