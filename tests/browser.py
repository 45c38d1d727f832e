"""Browser-test harness: a real Chromium (Playwright's async API) against an app served on
a real TCP port, in the test's own event loop.

Registered as a pytest plugin by ``tests/conftest.py`` (``pytest_plugins``), so these
fixtures are available to every test:

``browser``
    A headless Chromium :class:`~playwright.async_api.Browser`, launched for the test.
``page``
    A fresh page in its own browser context (own cookies).  Uncaught JavaScript errors are
    collected in ``page_errors``; the test errors at teardown if any are left there (clear
    the list when a test expects them).
``page_errors``
    The list of uncaught JavaScript errors (``str``) seen by ``page``.
``serve_app``
    ``site = await serve_app(app, **web_app_kwargs)``: starts ``app`` on 127.0.0.1 against
    this test's database and returns a :class:`LiveSite`; stopped and dropped afterwards.

and the helper ``await login_page(page, site, username, password, next_path="/login")``.
Every fixture is function-scoped: pytest-asyncio runs each test in its own loop, and a
Playwright connection must live in the loop that uses it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright
from pymongo import AsyncMongoClient

from apos import Apos, App
from apos.app import APOS_KEY

CHROMIUM = os.environ.get("APOS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
SHUTDOWN_TIMEOUT = 5.0
"""Seconds the server waits for in-flight requests when the test ends."""


@dataclass
class LiveSite:
    """An app running on a real port: ``url(path)`` for the browser, ``apos`` for the
    server side (modules, database) of the same running instance."""

    base_url: str
    web_app: web.Application
    runner: web.AppRunner = field(repr=False)

    @property
    def apos(self) -> Apos:
        apos = self.web_app[APOS_KEY]
        assert isinstance(apos, Apos)
        return apos

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` (which must start with ``/``) on this site."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', not {path!r}")
        return self.base_url + path

    async def add_user(self, username: str, password: str, *, role: str = "admin",
                       permissions: list[str] | None = None) -> dict[str, Any]:
        """Create a user through ``apostrophe-users`` (log in with :func:`login_page`)."""
        users = self.apos.modules["apostrophe-users"]
        user: dict[str, Any] = await users.add_user(  # type: ignore[attr-defined]
            username, password, role=role, permissions=permissions)
        return user


ServeApp = Callable[..., Awaitable[LiveSite]]


class LoginFailed(AssertionError):
    """The login form did not log the user in."""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"no Chromium at {CHROMIUM} (set APOS_CHROMIUM)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def page_errors() -> list[str]:
    return []


@pytest.fixture
async def page(browser: Browser, page_errors: list[str]) -> AsyncIterator[Page]:
    context = await browser.new_context()
    try:
        new_page = await context.new_page()
        new_page.on("pageerror", lambda error: page_errors.append(str(error)))
        yield new_page
    finally:
        await context.close()
    if page_errors:
        pytest.fail(f"uncaught JavaScript errors in the page: {page_errors}")


@pytest.fixture
async def serve_app(mongo_uri: str, db_name: str) -> AsyncIterator[ServeApp]:
    """``await serve_app(app, **kwargs)``: ``kwargs`` go to :meth:`App.web_app`
    (``db_uri`` and ``db_name`` default to this test's database)."""
    runners: list[web.AppRunner] = []
    databases: set[tuple[str, str]] = set()

    async def serve(app: App, **kwargs: Any) -> LiveSite:
        kwargs.setdefault("db_uri", mongo_uri)
        kwargs.setdefault("db_name", db_name)
        web_app = app.web_app(**kwargs)
        runner = web.AppRunner(web_app, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()  # starts the app: database, modules, hooks
        runners.append(runner)
        if kwargs.get("db") is None:
            databases.add((kwargs["db_uri"], kwargs["db_name"]))
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return LiveSite(f"http://{host}:{port}", web_app, runner)

    yield serve
    for runner in reversed(runners):
        await runner.cleanup()
    for uri, name in databases:
        cleaner: AsyncMongoClient[Any] = AsyncMongoClient(uri)
        try:
            await cleaner.drop_database(name)
        finally:
            await cleaner.close()


async def login_page(page: Page, site: LiveSite, username: str, password: str, *,
                     next_path: str = "/login") -> None:
    """Log in through the real ``/login`` form and wait for ``next_path`` (a page with the
    layout by default, since the site may have no home page) to load.  Raises
    :class:`LoginFailed` when the form answers with anything but the redirect."""
    await page.goto(site.url(f"/login?next={quote(next_path, safe='')}"))
    form = page.locator("form.apos-form")
    await form.locator('input[name="username"]').fill(username)
    await form.locator('input[name="password"]').fill(password)

    def is_login_post(response: Any) -> bool:
        return bool(response.request.method == "POST"
                    and urlsplit(response.url).path == "/login")

    async with page.expect_response(is_login_post) as answer:
        await form.locator('button[type="submit"]').click()
    response = await answer.value
    if response.status != 302:
        await page.wait_for_load_state()
        message = await page.locator(".apos-error").all_inner_texts()
        raise LoginFailed(f"login as {username!r} answered HTTP {response.status}: {message}")
    await page.wait_for_url(site.url(next_path))
    await page.wait_for_load_state()
