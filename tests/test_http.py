"""Routes over real HTTP: envelopes, body limits, CSRF, login, permissions, templates,
assets."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from apos import App
from tests.conftest import FIXTURES, StartApp, csrf_token, login, post_json
from tests.fixtures.site import Animals, Dogs


def make_app(**kwargs: Any) -> App:
    kwargs.setdefault("modules", {"animals": {}, "dogs": {}})
    kwargs.setdefault("classes", [Animals, Dogs])
    return App(**kwargs)


@pytest.mark.parametrize("code", ["invalid", "notfound", "forbidden", "error"])
async def test_raised_error_codes_use_the_envelope_with_http_200(start_app: StartApp,
                                                                   code: str) -> None:
    client, _ = await start_app(make_app())
    response = await post_json(client, "/modules/animals/fail", {"code": code})
    assert response.status == 200
    assert await response.json() == {"status": code}


async def test_returned_error_duplicate_key_list_and_crash(start_app: StartApp,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    client, _ = await start_app(make_app())
    returned = await post_json(client, "/modules/animals/fail", {"code": "returned"})
    assert await returned.json() == {"status": "notfound"}
    duplicate = await post_json(client, "/modules/animals/fail", {"code": "duplicate"})
    assert await duplicate.json() == {"status": "unique"}
    listed = await post_json(client, "/modules/animals/fail", {"code": "list"})
    assert await listed.json() == [1, 2, 3]
    crashed = await post_json(client, "/modules/animals/fail", {"code": "crash"})
    assert crashed.status == 200
    assert await crashed.json() == {"status": "error"}  # no detail leaks to the client
    assert "POST /modules/animals/fail" in caplog.text
    assert "secret internal detail" in caplog.text  # ...but it is logged


@pytest.mark.parametrize(("code", "status"), [("invalid", 400), ("forbidden", 403),
                                              ("notfound", 404), ("error", 500)])
async def test_opt_in_http_status_codes(start_app: StartApp, code: str, status: int) -> None:
    client, _ = await start_app(make_app(api_http_status=True))
    response = await post_json(client, "/modules/animals/fail", {"code": code})
    assert response.status == status
    assert await response.json() == {"status": code}


async def test_duplicate_is_409_with_http_codes(start_app: StartApp) -> None:
    client, _ = await start_app(make_app(api_http_status=True))
    response = await post_json(client, "/modules/animals/fail", {"code": "duplicate"})
    assert (response.status, await response.json()) == (409, {"status": "unique"})


async def test_json_and_form_bodies(start_app: StartApp) -> None:
    client, _ = await start_app(make_app())
    as_json = await post_json(client, "/modules/animals/echo", {"a": [1, 2], "b": "x"})
    assert (await as_json.json())["body"] == {"a": [1, 2], "b": "x"}
    token = await csrf_token(client)
    as_form = await client.post("/modules/animals/echo", data={"a": "1", "b": "x"},
                                headers={"X-XSRF-TOKEN": token})
    assert (await as_form.json())["body"] == {"a": "1", "b": "x"}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_bad_json_body_is_invalid(start_app: StartApp, raw: bytes) -> None:
    client, _ = await start_app(make_app())
    token = await csrf_token(client)
    response = await client.post("/modules/animals/echo", data=raw, headers={
        "X-XSRF-TOKEN": token, "Content-Type": "application/json"})
    assert (await response.json())["status"] == "invalid"


async def test_body_over_16_mb_is_a_clean_413(start_app: StartApp) -> None:
    client, _ = await start_app(make_app())
    token = await csrf_token(client)
    body = io.BytesIO(b'{"pad": "' + b"x" * (17 * 1024 * 1024) + b'"}')
    response = await client.post("/modules/animals/echo", data=body, headers={
        "X-XSRF-TOKEN": token, "Content-Type": "application/json"})
    assert response.status == 413
    assert (await response.json())["status"] == "toolarge"
    # The app is still fine afterwards.
    ok = await post_json(client, "/modules/animals/speak")
    assert (await ok.json())["status"] == "ok"


async def test_body_just_under_16_mb_is_accepted(start_app: StartApp) -> None:
    client, _ = await start_app(make_app())
    token = await csrf_token(client)
    pad = "x" * (16 * 1024 * 1024 - 100)
    body = io.BytesIO(json.dumps({"pad": pad}).encode())
    response = await client.post("/modules/animals/echo", data=body, headers={
        "X-XSRF-TOKEN": token, "Content-Type": "application/json"})
    assert response.status == 200
    assert len((await response.json())["body"]["pad"]) == len(pad)


async def test_csrf_rejects_missing_and_wrong_header(start_app: StartApp) -> None:
    client, _ = await start_app(make_app())
    await csrf_token(client)
    missing = await client.post("/modules/animals/echo", json={})
    assert missing.status == 403
    assert (await missing.json())["status"] == "forbidden"
    wrong = await client.post("/modules/animals/echo", json={},
                              headers={"X-XSRF-TOKEN": "not-the-token"})
    assert wrong.status == 403
    right = await post_json(client, "/modules/animals/echo", {})
    assert right.status == 200


async def test_csrf_token_must_match_the_session_not_just_the_cookie(start_app: StartApp
                                                                     ) -> None:
    client, _ = await start_app(make_app())
    await csrf_token(client)
    client.session.cookie_jar.update_cookies({"XSRF-TOKEN": "forged"})
    forged = await client.post("/modules/animals/echo", json={},
                               headers={"X-XSRF-TOKEN": "forged"})
    assert forged.status == 403


async def test_login_logout_and_a_route_for_logged_in_users(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    anonymous = await post_json(client, "/modules/animals/members")
    assert await anonymous.json() == {"status": "forbidden"}
    await login(client, apos, "ann", role="editor")
    member = await post_json(client, "/modules/animals/members")
    assert await member.json() == {"status": "ok", "username": "ann"}
    out = await client.get("/logout", allow_redirects=False)
    assert out.status == 302
    after = await post_json(client, "/modules/animals/members")
    assert await after.json() == {"status": "forbidden"}


async def test_wrong_password_and_unknown_user_get_the_same_answer(start_app: StartApp
                                                                   ) -> None:
    client, apos = await start_app(make_app())
    await apos.modules["apostrophe-users"].add_user("bob", "right")  # type: ignore[attr-defined]
    wrong = await client.post("/login", data={"username": "bob", "password": "wrong"})
    unknown = await client.post("/login", data={"username": "nobody", "password": "wrong"})
    assert wrong.status == unknown.status == 401
    assert "incorrect" in await wrong.text()
    assert "incorrect" in await unknown.text()
    members = await post_json(client, "/modules/animals/members")
    assert (await members.json())["status"] == "forbidden"


async def test_password_is_stored_only_as_an_argon2_hash(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await login(client, apos, "carol", password="s3cret-pass")
    stored = await apos.db["aposUsers"].find_one({"username": "carol"})
    assert stored["passwordHash"].startswith("$argon2id$")
    assert "s3cret-pass" not in str(stored)


async def test_login_redirects_only_to_same_site_paths(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await apos.modules["apostrophe-users"].add_user("dan", "pw")  # type: ignore[attr-defined]
    response = await client.post("/login", allow_redirects=False, data={
        "username": "dan", "password": "pw", "next": "//evil.example/"})
    assert response.headers["Location"] == "/"


async def test_unknown_path_is_404_and_wrong_method_is_405(start_app: StartApp) -> None:
    client, _ = await start_app(make_app())
    assert (await client.get("/modules/animals/nothing")).status == 404
    assert (await client.get("/modules/animals/speak")).status == 405


async def test_templates_along_the_chain_and_across_modules(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    animals_card = await (await client.get("/modules/animals/card")).text()
    dogs_card = await (await client.get("/modules/dogs/card")).text()
    # card.html exists only in animals; the relative include of label.html resolves within
    # the rendering module's chain, most-derived layer first.
    assert "animals-label" in animals_card and "... animals" in animals_card
    assert "dogs-label" in dogs_card and "woof dogs" in dogs_card
    # Autoescape is on.
    assert "&lt;b&gt;x&lt;/b&gt;" in animals_card
    other = apos.modules["animals"].render(None, "other", {"label": "L"})
    assert "other from animals" in other and "dogs-label L" in other
    cross = apos.modules["animals"].render(None, "dogs:card.html", {"label": "L"})
    assert "dogs-label L" in cross and "woof dogs" in cross


async def test_html_route_error_codes(start_app: StartApp) -> None:
    client, _ = await start_app(make_app())
    assert (await client.get("/modules/animals/card?missing=1")).status == 404


async def test_assets_in_layer_order_and_user_only_assets(start_app: StartApp) -> None:
    client, apos = await start_app(make_app(project_dir=FIXTURES / "project"))
    anonymous_page = await (await client.get("/login")).text()
    scripts = re.findall(r'<script src="([^"]+)"', anonymous_page)
    paths = [src.split("?")[0] for src in scripts]
    assert paths == [
        "/modules/apostrophe-assets/js/apos.js",
        "/modules/animals/js/animals.js",
        "/modules/dogs/js/dogs.js",  # the shipped dogs layer, then the project's, base first
        "/modules/my-dogs/js/dogs.js",
    ]
    assert all(re.search(r"\?v=[0-9a-f]{12}$", src) for src in scripts)
    assert "secret.js" not in anonymous_page
    asset = await client.get(scripts[1])
    assert asset.status == 200
    assert "max-age=31536000" in asset.headers["Cache-Control"]
    assert "animals" in await asset.text()
    await login(client, apos, "eve")
    user_page = await (await client.get("/login")).text()
    assert "/modules/animals/js/secret.js?v=" in user_page
    assert '"name": "dogs"' in user_page  # a browser singleton for each module with scripts


async def test_pushing_after_startup_is_an_error(start_app: StartApp) -> None:
    _, apos = await start_app(make_app())
    with pytest.raises(RuntimeError, match="after start-up"):
        apos.modules["animals"].push_asset("script", "animals")


@pytest.mark.parametrize("target", ["/\t/evil.example", "/%09/x\n", "/\n/x", "/\r\n/x",
                                    "/\x0b/x", "/ok\n", "//evil.example", "/\\evil.example",
                                    "https://evil.example", "/caf\u00e9"])
async def test_login_next_never_leaves_the_site_or_breaks_the_header(start_app: StartApp,
                                                                     target: str) -> None:
    client, apos = await start_app(make_app())
    await apos.modules["apostrophe-users"].add_user("fay", "pw")  # type: ignore[attr-defined]
    response = await client.post("/login", allow_redirects=False, data={
        "username": "fay", "password": "pw", "next": target})
    assert response.status == 302
    location = response.headers["Location"]
    assert location in ("/", target.strip())  # form fields are trimmed
    assert location == "/" or (location.isascii() and location.isprintable()
                               and not location.startswith("//") and " " not in location)


async def test_login_next_keeps_a_same_site_path(start_app: StartApp) -> None:
    client, apos = await start_app(make_app())
    await apos.modules["apostrophe-users"].add_user("gus", "pw")  # type: ignore[attr-defined]
    response = await client.post("/login", allow_redirects=False, data={
        "username": "gus", "password": "pw", "next": "/modules/animals/card?label=x"})
    assert response.headers["Location"] == "/modules/animals/card?label=x"


@pytest.mark.parametrize("header", ["\u00e9", "\u2603" * 10, "x" * 5000])
async def test_odd_csrf_headers_are_forbidden_not_errors(start_app: StartApp,
                                                         header: str) -> None:
    client, _ = await start_app(make_app())
    await csrf_token(client)
    response = await client.post("/modules/animals/echo", json={},
                                 headers={"X-XSRF-TOKEN": header.encode().decode("latin-1")})
    assert response.status == 403
    assert (await response.json())["status"] == "forbidden"


async def test_deeply_nested_json_is_invalid(start_app: StartApp) -> None:
    client, _ = await start_app(make_app())
    token = await csrf_token(client)
    for body in (b"[" * 100_000, b'{"a":' * 50_000):
        response = await client.post("/modules/animals/echo", data=body, headers={
            "X-XSRF-TOKEN": token, "Content-Type": "application/json"})
        assert (await response.json())["status"] == "invalid"
        login = await client.post("/login", data=body,
                                  headers={"Content-Type": "application/json"})
        assert (await login.json())["status"] == "invalid"  # not a 500


async def test_visitor_sessions_are_short_and_user_sessions_long(start_app: StartApp) -> None:
    from datetime import UTC, datetime, timedelta

    client, apos = await start_app(make_app())
    await csrf_token(client)
    visitor = await apos.db["aposSessions"].find_one({})
    now = datetime.now(UTC)
    assert visitor["expiresAt"] - now < timedelta(days=1)
    await login(client, apos, "hal")
    [user_session] = await apos.db["aposSessions"].find({}).to_list(None)
    assert user_session["expiresAt"] - now > timedelta(days=13)


async def test_head_on_a_page_for_a_visitor_redirects_like_get(start_app: StartApp) -> None:
    from apos.demo.app import app as demo_app

    client, _ = await start_app(demo_app)
    head = await client.head("/modules/languages/manager", allow_redirects=False)
    get = await client.get("/modules/languages/manager", allow_redirects=False)
    assert head.status == get.status == 302
