"""Shared fixtures: one real database server per test session, one database per test.

The server is the embedded one (a ``secantusd-py`` child process) unless
``APOS_MONGODB_URI`` points at a MongoDB, in which case nothing else is needed.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pymongo import AsyncMongoClient

from apos import Apos, App
from apos.app import APOS_KEY
from apos.db import EmbeddedServer

pytest_plugins = ["tests.browser"]

StartApp = Callable[..., Awaitable[tuple[TestClient[Any, Any], Apos]]]


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("APOS_MONGODB_URI")
    if external:
        yield external
        return
    server = EmbeddedServer(tmp_path_factory.mktemp("embedded-db"))
    uri = asyncio.run(server.ensure_running())
    try:
        yield uri
    finally:
        asyncio.run(server.stop())


@pytest.fixture
def db_name() -> str:
    return f"apos_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def start_app(mongo_uri: str, db_name: str) -> AsyncIterator[StartApp]:
    """Start an :class:`App` over HTTP against this test's own database."""
    clients: list[TestClient[Any, Any]] = []

    async def start(app: App, **kwargs: Any) -> tuple[TestClient[Any, Any], Apos]:
        kwargs.setdefault("db_uri", mongo_uri)
        kwargs.setdefault("db_name", db_name)
        client: TestClient[Any, Any] = TestClient(TestServer(app.web_app(**kwargs)))
        try:
            await client.start_server()
        except BaseException:
            await client.close()
            raise
        clients.append(client)
        apos = client.app[APOS_KEY]
        assert isinstance(apos, Apos)
        return client, apos

    yield start
    for client in reversed(clients):
        await client.close()
    cleaner: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    try:
        await cleaner.drop_database(db_name)
    finally:
        await cleaner.close()


@pytest.fixture
async def database(mongo_uri: str, db_name: str) -> AsyncIterator[Any]:
    """This test's database through a client of the test's own, for checking what app
    processes wrote; dropped afterwards."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
    try:
        yield client[db_name]
    finally:
        await client.drop_database(db_name)
        await client.close()


async def csrf_token(client: TestClient[Any, Any]) -> str:
    """Make a safe request so the app sets the CSRF cookie; return the token."""
    await client.get("/login")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/")).get("XSRF-TOKEN")
    assert cookie is not None, "a GET must set the XSRF-TOKEN cookie"
    return cookie.value


async def post_json(client: TestClient[Any, Any], path: str, body: Any = None,
                    **kwargs: Any) -> Any:
    """POST JSON with the CSRF header, as the browser runtime does."""
    headers = {"X-XSRF-TOKEN": await csrf_token(client)}
    return await client.post(path, json=body if body is not None else {}, headers=headers,
                             **kwargs)


async def login(client: TestClient[Any, Any], apos: Apos, username: str = "admin", *,
                role: str = "admin", permissions: list[str] | None = None,
                password: str = "correct horse battery staple") -> dict[str, Any]:
    """Create a user and log the client in as that user."""
    users = apos.modules["apostrophe-users"]
    user: dict[str, Any] = await users.add_user(  # type: ignore[attr-defined]
        username, password, role=role, permissions=permissions)
    response = await client.post("/login", data={"username": username, "password": password},
                                 allow_redirects=False)
    assert response.status == 302, await response.text()
    return user


FIXTURES = Path(__file__).parent / "fixtures"


def uri_with_db(uri: str, name: str) -> str:
    """``uri`` naming database ``name`` (its path), keeping host and options."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
