"""The request object handed to every route handler, change function and work function.

Apostrophe's handlers read ``req.body`` and ``req.user``; apos keeps those names on a small
object of its own instead of decorating aiohttp's request, so that a job can keep using
``req`` in the background after the HTTP exchange is over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from apos.app import Apos
    from apos.http.sessions import Session


@dataclass
class AposRequest:
    """What a handler needs to know about one request (or one task run outside HTTP)."""

    apos: Apos
    http: web.Request | None = None
    body: dict[str, Any] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    user: dict[str, Any] | None = None
    session: Session | None = None

    @property
    def method(self) -> str:
        return self.http.method if self.http is not None else "TASK"

    @property
    def url(self) -> str:
        return str(self.http.rel_url) if self.http is not None else "(task)"

    def can(self, permission: str) -> bool:
        """Whether this request's user holds ``permission`` (see :mod:`apos.permissions`)."""
        from apos.permissions import user_can

        return user_can(self.user, permission)
