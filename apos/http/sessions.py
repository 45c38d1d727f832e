"""Server-side sessions kept in MongoDB (``aposSessions``), keyed by a random cookie.

Server-side so that logging out really ends a session and every app process sharing the
database sees the same sessions; the cookie holds only an unguessable id.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

COOKIE_NAME = "apos.sid"
COLLECTION = "aposSessions"
DEFAULT_LIFETIME = timedelta(days=14)
VISITOR_LIFETIME = timedelta(hours=6)
"""How long the session of a visitor who never logged in (it holds only a CSRF token) is
kept: short, so that cookie-less clients cannot pile up sessions for two weeks."""
LONG_LIVED_KEY = "_longLived"


class Session(dict[str, Any]):
    """A dict that remembers whether it changed, so unchanged sessions cost no write."""

    def __init__(self, session_id: str | None, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.id = session_id
        self.changed = False
        self.ended = False

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.changed = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.changed = True

    def end(self) -> None:
        """Forget everything; a new id is issued if the session is used again."""
        self.clear()
        self.ended = True
        self.changed = True

    def regenerate(self) -> None:
        """Move to a new id (after login) so an id seen before login is worthless after."""
        self.ended = True
        self.changed = True

    def keep_long(self) -> None:
        """Keep this session for the full lifetime (a logged-in user's), not a visitor's."""
        self[LONG_LIVED_KEY] = True


class SessionStore:
    """Loads and saves sessions for requests."""

    def __init__(self, db: Any, *, lifetime: timedelta = DEFAULT_LIFETIME,
                 secure_cookie: bool = False) -> None:
        self._collection = db[COLLECTION]
        self._lifetime = lifetime
        self._secure = secure_cookie

    async def ensure_indexes(self) -> None:
        await self._collection.create_index("expiresAt", expireAfterSeconds=0)

    async def load(self, request: web.Request) -> Session:
        session_id = request.cookies.get(COOKIE_NAME)
        if session_id and len(session_id) <= 64:
            found = await self._collection.find_one(
                {"_id": session_id, "expiresAt": {"$gt": datetime.now(UTC)}}
            )
            if found is not None:
                return Session(session_id, found.get("data") or {})
        return Session(None, {})

    async def save(self, session: Session, response: web.StreamResponse) -> None:
        if not session.changed:
            return
        if session.ended and session.id is not None:
            await self._collection.delete_one({"_id": session.id})
            session.id = None
        if not session:
            response.del_cookie(COOKIE_NAME, path="/")
            return
        if session.id is None:
            session.id = secrets.token_urlsafe(32)
        lifetime = self._lifetime if session.get(LONG_LIVED_KEY) else VISITOR_LIFETIME
        expires = datetime.now(UTC) + lifetime
        await self._collection.update_one(
            {"_id": session.id},
            {"$set": {"data": dict(session), "expiresAt": expires}},
            upsert=True,
        )
        response.set_cookie(COOKIE_NAME, session.id, path="/", httponly=True, samesite="Lax",
                            secure=self._secure, max_age=int(lifetime.total_seconds()))
