"""One request's way through apos: route lookup, session, user, CSRF, permission, body,
handler, then the session and CSRF cookie on the way out."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from apos.errors import ApiError
from apos.http import csrf
from apos.http.body import BodyTooLarge, read_body
from apos.permissions import request_allowed
from apos.request import AposRequest
from apos.routing import Route, html_status, json_status, redirect

if TYPE_CHECKING:
    from apos.app import Apos

log = logging.getLogger("apos.http")
LOGIN_PATH = "/login"


async def dispatch(apos: Apos, request: web.Request) -> web.StreamResponse:
    route = apos.routes.find(request.method, request.path)
    if route is None:
        allowed = apos.routes.methods_for(request.path)
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        if not csrf.is_safe(request.method):
            # API clients get an answer they can read, like every other api error.
            return web.json_response({"status": "notfound"}, status=404)
        raise web.HTTPNotFound()
    req = AposRequest(apos, http=request, query=request.query)
    if not route.uses_session:
        return await route.endpoint(req)
    try:
        return await _with_session(apos, route, req, request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("Unexpected error in %s %s", request.method, request.rel_url)
        return json_status(req, "error", http_status=500)


async def _with_session(apos: Apos, route: Route, req: AposRequest,
                        request: web.Request) -> web.StreamResponse:
    session = await apos.sessions.load(request)
    req.session = session
    await apos.hooks.call("prepare_request", req=req)
    response = await _guarded(route, req, request)
    if csrf.is_safe(request.method) and not response.prepared:
        token = csrf.ensure_token(session)
        if request.cookies.get(csrf.COOKIE_NAME) != token:
            csrf.set_cookie(response, token, secure=apos.app.secure_cookies)
    if not response.prepared:
        await apos.sessions.save(session, response)
    return response


async def _guarded(route: Route, req: AposRequest, request: web.Request) -> web.StreamResponse:
    """CSRF, then who is asking, then the body: nothing is read or done for a refused request."""
    assert req.session is not None
    if route.csrf and not csrf.is_safe(request.method):
        if not csrf.request_passes(request, req.session):
            return json_status(req, "forbidden", "Missing or wrong CSRF token", http_status=403)
    if not request_allowed(req, route.permission):
        return _refused(route, req, request)
    try:
        req.body = await read_body(request)
    except BodyTooLarge as error:
        return json_status(req, error.code, error.message, http_status=413)
    except ApiError as error:
        return json_status(req, error.code, error.message)
    return await route.endpoint(req)


def _refused(route: Route, req: AposRequest, request: web.Request) -> web.StreamResponse:
    if route.kind == "html":
        if req.user is None and request.method in ("GET", "HEAD"):
            return redirect(f"{LOGIN_PATH}?next={quote(str(request.rel_url), safe='')}")
        return html_status(req, "forbidden")
    return json_status(req, "forbidden")
