"""The route table and the three handler shapes (api, html, render) with their envelopes.

apos keeps its own table instead of aiohttp's router because Apostrophe lets a subclass
replace a route by adding it again, and aiohttp's router is frozen once the app starts.
One catch-all aiohttp route looks the request up here (a dictionary lookup).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from apos.errors import ApiError
from apos.permissions import Permission

if TYPE_CHECKING:
    from apos.modules.apostrophe_module import Module
    from apos.request import AposRequest

log = logging.getLogger("apos.routes")

Endpoint = Callable[["AposRequest"], Awaitable[web.StreamResponse]]
RawHandler = Endpoint
ApiResult = Mapping[str, Any] | list[Any] | ApiError
ApiHandler = Callable[["AposRequest"], Awaitable[ApiResult] | ApiResult]
HtmlHandler = Callable[["AposRequest"], Awaitable[str | ApiError] | str | ApiError]
RenderHandler = Callable[
    ["AposRequest"], Awaitable[Mapping[str, Any] | ApiError] | Mapping[str, Any] | ApiError
]
RouteKind = Literal["raw", "api", "html"]

HTTP_STATUS_FOR_CODE: dict[str, int] = {
    "invalid": 400,
    "forbidden": 403,
    "notfound": 404,
    "unique": 409,
    "toolarge": 413,
    "error": 500,
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    endpoint: Endpoint
    owner: str
    permission: Permission
    csrf: bool
    kind: RouteKind
    uses_session: bool = True
    """False for routes that never look at the visitor (static files): no session is
    loaded or saved for them."""


class RouteTable:
    """Routes by ``(METHOD, path)``; adding the same key again replaces the handler."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}

    def add(self, method: str, path: str, endpoint: Endpoint, *, owner: str,
            permission: Permission, csrf: bool, kind: RouteKind,
            uses_session: bool = True) -> None:
        if not path.startswith("/"):
            raise ValueError(f"route path {path!r} must start with '/'")
        method = method.upper()
        self._routes[(method, path)] = Route(method, path, endpoint, owner, permission,
                                             csrf, kind, uses_session)

    def find(self, method: str, path: str) -> Route | None:
        method = method.upper()
        route = self._routes.get((method, path))
        if route is None and method == "HEAD":
            route = self._routes.get(("GET", path))
        return route

    def methods_for(self, path: str) -> list[str]:
        return sorted(method for method, route_path in self._routes if route_path == path)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, ObjectId):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> str:
    """JSON as the browser expects it: dates as ISO 8601 strings (what Apostrophe's
    ``JSON.stringify`` of a ``Date`` gives), ObjectIds as strings."""
    return json.dumps(value, default=_json_default)


def json_status(req: AposRequest, code: str, message: str | None = None, *,
                http_status: int | None = None) -> web.Response:
    """``{"status": code}`` with HTTP 200 (Apostrophe's way) unless the app asked for real
    HTTP status codes, or the caller insists (a 413 is always a 413)."""
    body: dict[str, Any] = {"status": code}
    if message:
        body["message"] = message
    if http_status is None:
        http_status = HTTP_STATUS_FOR_CODE.get(code, 500) if req.apos.api_http_status else 200
    return web.json_response(body, status=http_status)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _log_unexpected(req: AposRequest) -> None:
    log.exception("Unexpected error in %s %s", req.method, req.url)


def api_endpoint(handler: ApiHandler) -> Endpoint:
    """Wrap an api handler in Apostrophe's JSON envelope."""

    async def endpoint(req: AposRequest) -> web.StreamResponse:
        try:
            result = await _maybe_await(handler(req))
        except ApiError as error:
            return json_status(req, error.code, error.message)
        except DuplicateKeyError:
            return json_status(req, "unique")
        except Exception:
            _log_unexpected(req)
            return json_status(req, "error")
        if isinstance(result, ApiError):
            return json_status(req, result.code, result.message)
        if isinstance(result, list):
            return web.json_response(result, dumps=json_dumps)
        if isinstance(result, Mapping):
            return web.json_response({"status": "ok", **result}, dumps=json_dumps)
        _log_unexpected_result(req, result)
        return json_status(req, "error")

    return endpoint


def _log_unexpected_result(req: AposRequest, result: Any) -> None:
    log.error("api route %s %s returned %r; expected a dict, a list or an ApiError",
              req.method, req.url, type(result).__name__)


def html_status(req: AposRequest, code: str) -> web.Response:
    """The plain page sent for an html route's error code."""
    if code == "notfound":
        return web.Response(status=404, text="Not found", content_type="text/html")
    if code == "forbidden":
        status = 401 if req.user is None else 403
        return web.Response(status=status, text="Forbidden", content_type="text/html")
    if code == "invalid":
        return web.Response(status=400, text="Invalid request", content_type="text/html")
    return web.Response(status=500, text="An error occurred", content_type="text/html")


def html_endpoint(handler: HtmlHandler) -> Endpoint:
    """Wrap an html handler: a string becomes the page, an ApiError its status page."""

    async def endpoint(req: AposRequest) -> web.StreamResponse:
        try:
            result = await _maybe_await(handler(req))
        except ApiError as error:
            return html_status(req, error.code)
        except Exception:
            _log_unexpected(req)
            return html_status(req, "error")
        if isinstance(result, ApiError):
            return html_status(req, result.code)
        return web.Response(text=str(result), content_type="text/html")

    return endpoint


def render_endpoint(module: Module, handler: RenderHandler) -> Endpoint:
    """Wrap a render handler: ``{"template", "data"}`` rendered with ``module``'s chain."""

    async def render(req: AposRequest) -> str | ApiError:
        result = await _maybe_await(handler(req))
        if isinstance(result, ApiError):
            return result
        return module.render(req, str(result["template"]), result.get("data") or {})

    return html_endpoint(render)


def redirect(location: str, *, status: int = 302) -> web.Response:
    """A redirect returned (not raised), so the session and cookies are saved with it."""
    return web.Response(status=status, headers={"Location": location})
