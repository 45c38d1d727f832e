"""CSRF protection as Apostrophe does it: a token in the session, mirrored in a cookie that
the browser code reads and echoes in the ``X-XSRF-TOKEN`` header of every unsafe request."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from apos.http.sessions import Session

COOKIE_NAME = "XSRF-TOKEN"
HEADER_NAME = "X-XSRF-TOKEN"
SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_safe(method: str) -> bool:
    return method.upper() in SAFE_METHODS


def ensure_token(session: Session) -> str:
    """The session's token, created on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session[SESSION_KEY] = token
    return token


def set_cookie(response: web.StreamResponse, token: str, *, secure: bool) -> None:
    response.set_cookie(COOKIE_NAME, token, path="/", samesite="Lax", secure=secure)


def request_passes(request: web.Request, session: Session) -> bool:
    """An unsafe request passes when header, cookie and session hold the same token."""
    expected = session.get(SESSION_KEY)
    header = request.headers.get(HEADER_NAME, "")
    cookie = request.cookies.get(COOKIE_NAME, "")
    if not isinstance(expected, str) or not header or not cookie:
        return False
    # Compare bytes: compare_digest refuses str with non-ASCII characters, and a visitor
    # may send any header.
    wanted = expected.encode()
    return (hmac.compare_digest(header.encode("utf-8", "surrogateescape"), wanted)
            and hmac.compare_digest(cookie.encode("utf-8", "surrogateescape"), wanted))
