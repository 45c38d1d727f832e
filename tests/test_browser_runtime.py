"""The browser runtime (``apostrophe-assets/public/js/apos.js``) in a real Chromium against a
real server: singletons, the api helper and its CSRF header, define/create, the event bus."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Request

from apos import App
from tests.browser import LiveSite, LoginFailed, ServeApp, login_page
from tests.fixtures.site import Animals, Dogs

pytestmark = pytest.mark.browser

USERNAME = "admin"
PASSWORD = "correct horse battery staple"


async def start(serve_app: ServeApp) -> LiveSite:
    return await serve_app(App(modules={"animals": {}, "dogs": {}}, classes=[Animals, Dogs]))


async def logged_in(page: Page, serve_app: ServeApp) -> LiveSite:
    site = await start(serve_app)
    await site.add_user(USERNAME, PASSWORD, role="admin")
    await login_page(page, site, USERNAME, PASSWORD)
    return site


def path_is(path: str) -> Any:
    return lambda request: urlsplit(request.url).path == path


async def test_logged_in_visitor_gets_module_singletons_and_user_scripts(
        page: Page, serve_app: ServeApp) -> None:
    site = await logged_in(page, serve_app)
    assert page.url == site.url("/login")
    assert await page.locator(".apos-site-user").inner_text() == USERNAME
    # One singleton per module that pushed browser code (core modules included), no more.
    singletons = await page.evaluate("Object.keys(apos.modules).sort()")
    assert {"animals", "dogs", "apostrophe-assets"} <= set(singletons)
    assert singletons == sorted(site.apos.assets.modules_with_scripts)
    describe = """name => {
        const m = apos.modules[name];
        return {type: m.__typeName, name: m.name, action: m.action, chain: m.options.chain,
                api: typeof m.api};
    }"""
    assert await page.evaluate(describe, "dogs") == {
        "type": "apostrophe-module", "name": "dogs", "action": "/modules/dogs",
        "chain": ["dogs", "animals", "apostrophe-module"], "api": "function"}
    assert await page.evaluate(describe, "animals") == {
        "type": "apostrophe-module", "name": "animals", "action": "/modules/animals",
        "chain": ["animals", "apostrophe-module"], "api": "function"}
    assert await page.evaluate("window.secretLoaded") is True
    assert await page.evaluate("window.animalsLoaded") == ["animals", "dogs"]


async def test_logged_out_visitor_gets_no_singletons_and_no_user_scripts(
        page: Page, serve_app: ServeApp) -> None:
    site = await start(serve_app)
    await page.goto(site.url("/login"))
    # The runtime and the always-scripts did load...
    assert await page.evaluate("typeof apos.create") == "function"
    assert await page.evaluate("window.animalsLoaded") == ["animals", "dogs"]
    # ...but neither singletons nor the user-only script.
    assert await page.evaluate("Object.keys(apos.modules)") == []
    assert await page.evaluate("typeof window.secretLoaded") == "undefined"
    assert await page.locator('script[src*="/js/secret.js"]').count() == 0
    assert await page.locator(".apos-site-user").count() == 0


async def test_login_page_reports_a_wrong_password(page: Page, serve_app: ServeApp) -> None:
    site = await start(serve_app)
    await site.add_user(USERNAME, PASSWORD)
    with pytest.raises(LoginFailed, match="HTTP 401"):
        await login_page(page, site, USERNAME, "wrong password")
    assert await page.locator(".apos-error").inner_text() == (
        "Your username or password was incorrect.")
    assert await page.evaluate("Object.keys(apos.modules)") == []


async def test_api_reaches_own_and_other_modules_with_the_csrf_header(
        page: Page, serve_app: ServeApp) -> None:
    await logged_in(page, serve_app)
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    token = cookies["XSRF-TOKEN"]
    assert token and await page.evaluate("apos.csrfToken()") == token

    async with page.expect_request(path_is("/modules/dogs/speak")) as sent:
        answer = await page.evaluate("apos.modules.dogs.api('speak', {})")
    assert answer == {"status": "ok", "sound": "WOOF", "legs": 4}
    request: Request = await sent.value
    headers = await request.all_headers()
    assert request.method == "POST"
    assert headers.get("x-xsrf-token") == token
    assert headers.get("content-type") == "application/json"

    async with page.expect_request(path_is("/modules/animals/speak")) as sent:
        other = await page.evaluate("apos.modules.dogs.api('animals:speak')")
    assert other == {"status": "ok", "sound": "...", "legs": 4}
    assert (await (await sent.value).all_headers()).get("x-xsrf-token") == token

    echoed = await page.evaluate("apos.modules.animals.api('echo', {a: [1, 2], b: 'x'})")
    assert echoed == {"status": "ok", "body": {"a": [1, 2], "b": "x"}}
    # The session cookie goes along: a logged-in-only route knows who is asking.
    assert await page.evaluate("apos.modules.animals.api('members')") == {
        "status": "ok", "username": USERNAME}


async def test_a_post_without_the_header_is_refused(page: Page, serve_app: ServeApp) -> None:
    await logged_in(page, serve_app)
    raw_post = """async withHeader => {
        const headers = {'Content-Type': 'application/json'};
        if (withHeader) headers['X-XSRF-TOKEN'] = apos.csrfToken();
        const response = await fetch('/modules/dogs/speak',
                                     {method: 'POST', headers, body: '{}'});
        return [response.status, (await response.json()).status];
    }"""
    assert await page.evaluate(raw_post, False) == [403, "forbidden"]
    # The same request with the header passes: the header is the whole difference.
    assert await page.evaluate(raw_post, True) == [200, "ok"]


async def test_define_extend_and_create_order(page: Page, serve_app: ServeApp) -> None:
    site = await start(serve_app)
    await page.goto(site.url("/login"))
    result = await page.evaluate("""() => {
        const log = [];
        apos.define('t-base', {
            beforeConstruct(self, o) { log.push('before:base:' + o.size); o.size ||= 'base'; },
            construct(self, o) { log.push('construct:base:' + o.size); self.size = o.size; },
            afterConstruct(self) { log.push('after:base'); },
        });
        apos.define('t-child', {
            extend: 't-base',
            beforeConstruct(self, o) { log.push('before:child:' + o.size); o.size ||= 'child'; },
            construct(self) { log.push('construct:child'); self.child = true; },
            afterConstruct(self) { log.push('after:child'); },
        });
        const passed = {};
        const child = apos.create('t-child', passed);
        const childLog = log.splice(0);
        const big = apos.create('t-child', {size: 'big'});
        const bigLog = log.splice(0);
        const base = apos.create('t-base');
        let missing = null;
        try { apos.create('t-missing'); } catch (e) { missing = e.message; }
        return {childLog, bigLog, baseLog: log, passed,
                child: [child.__typeName, child.size, child.child],
                big: big.size, base: [base.__typeName, base.size, base.child === undefined],
                defined: [apos.isDefined('t-child'), apos.isDefined('t-missing')], missing};
    }""")
    assert result["childLog"] == [
        "before:child:undefined", "before:base:child", "construct:base:child",
        "construct:child", "after:base", "after:child"]
    assert result["child"] == ["t-child", "child", True]
    assert result["passed"] == {}  # create copies the options it is given
    assert result["bigLog"][:2] == ["before:child:big", "before:base:big"]
    assert result["big"] == "big"
    assert result["baseLog"] == ["before:base:undefined", "construct:base:base", "after:base"]
    assert result["base"] == ["t-base", "base", True]
    assert result["defined"] == [True, False]
    assert result["missing"] == "apos: no browser type named t-missing"


async def test_defining_a_type_twice_improves_it(page: Page, serve_app: ServeApp) -> None:
    site = await start(serve_app)
    await page.goto(site.url("/login"))
    result = await page.evaluate("""() => {
        const log = [];
        const step = label => ({construct(self) { log.push(label); self[label] = true; }});
        apos.define('t-thing', step('first'));
        apos.define('t-thing', step('second'));
        const thing = apos.create('t-thing');
        const thingLog = log.splice(0);
        // Improving a base type also changes types that extend it, defined before or after.
        apos.define('t-base', step('base'));
        apos.define('t-sub', Object.assign(step('sub'), {extend: 't-base'}));
        apos.define('t-base', step('base-improved'));
        apos.define('t-sub', step('sub-improved'));
        apos.create('t-sub');
        return {thingLog, thing: [thing.first, thing.second, thing.__typeName],
                subLog: log};
    }""")
    assert result["thingLog"] == ["first", "second"]
    assert result["thing"] == [True, True, "t-thing"]
    assert result["subLog"] == ["base", "base-improved", "sub", "sub-improved"]


async def test_singletons_use_the_most_derived_browser_type_of_their_chain(
        page: Page, serve_app: ServeApp) -> None:
    await logged_in(page, serve_app)
    result = await page.evaluate("""options => {
        let ready = 0;
        apos.on('ready', () => { ready += 1; });
        apos.define('animals', {
            extend: 'apostrophe-module',
            construct(self) { self.barks = self.name === 'dogs'; },
        });
        apos.createSingletons(options);
        const dogs = apos.modules.dogs;
        return {type: dogs.__typeName, barks: dogs.barks, action: dogs.action,
                api: typeof dogs.api, ready};
    }""", [{"name": "dogs", "action": "/modules/dogs",
            "chain": ["dogs", "animals", "apostrophe-module"]}])
    assert result == {"type": "animals", "barks": True, "action": "/modules/dogs",
                      "api": "function", "ready": 1}
    # The singleton built from the derived type still talks to its own module's routes.
    assert await page.evaluate("apos.modules.dogs.api('speak')") == {
        "status": "ok", "sound": "WOOF", "legs": 4}


async def test_change_calls_listeners_and_off_removes_them(page: Page,
                                                          serve_app: ServeApp) -> None:
    site = await start(serve_app)
    await page.goto(site.url("/login"))
    seen = await page.evaluate("""() => {
        const seen = [];
        const a = what => seen.push('a:' + what);
        const b = what => seen.push('b:' + what);
        apos.on('change', a);
        apos.on('change', b);
        apos.on('other', what => seen.push('other:' + what));
        apos.change('x');
        apos.off('change', a);
        apos.change('y');
        apos.off('change', b);
        apos.change('z');
        apos.emit('other', 'w');
        return seen;
    }""")
    assert seen == ["a:x", "b:x", "b:y", "other:w"]


async def test_a_failing_listener_does_not_stop_the_others(page: Page,
                                                          serve_app: ServeApp) -> None:
    site = await start(serve_app)
    await page.goto(site.url("/login"))
    async with page.expect_console_message(
            lambda m: m.type == "error" and "listener" in m.text) as logged:
        seen = await page.evaluate("""() => {
            const seen = [];
            apos.on('change', () => { throw new Error('boom'); });
            apos.on('change', what => seen.push(what));
            apos.change('pieces');
            return seen;
        }""")
    assert seen == ["pieces"]
    assert "apos: a listener for change failed" in (await logged.value).text
