"""Finding and saving pieces: every query is restricted to this type and checks that the
user may edit it.  Queries are flat documents (``{"type": t, "trash": {"$ne": True}}``),
which every MongoDB-compatible server plans well."""

from __future__ import annotations

import asyncio
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING

from apos import launder
from apos.errors import ApiError, StartupError
from apos.ids import generate_id
from apos.modules.apostrophe_module import Module
from apos.permissions import edit_permission
from apos.request import AposRequest

if TYPE_CHECKING:
    from apos.modules.apostrophe_jobs import JobsModule

DOCS_COLLECTION = "aposDocs"
SORT = [("title", ASCENDING), ("_id", ASCENDING)]
"""The stable order of lists: by title, ties broken by id."""
MAX_PER_PAGE = 200
DEFAULT_FIELDS = ("title", "slug", "published", "tags")

Piece = dict[str, Any]


_MISSING = object()


def _next_time(previous: Any) -> datetime:
    """Now, or just after ``previous`` if the clock has not moved past it: every save moves
    ``updatedAt`` forward, so it can tell one version of a piece from the next."""
    now = datetime.now(UTC)
    if isinstance(previous, datetime):
        if previous.tzinfo is None:
            previous = previous.replace(tzinfo=UTC)
        now = max(now, previous + timedelta(milliseconds=1))
    return now


def slugify(text: str) -> str:
    """A lowercase, dash-separated slug of ``text`` (accents dropped)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "none"


class PiecesApi(Module):
    """Piece storage for a type, combined into
    :class:`~apos.modules.apostrophe_pieces.module.PiecesModule`."""

    collection: Any

    @property
    def type_name(self) -> str:
        """The ``type`` of this module's documents (the ``name`` option)."""
        name = self.options.get("name")
        if not isinstance(name, str) or not name:
            raise StartupError(f"The piece type module {self.name!r} needs a 'name' option "
                               "(the type of its documents)")
        return name

    @property
    def edit_permission(self) -> str:
        return edit_permission(self.type_name)

    @property
    def schema_fields(self) -> set[str]:
        """The type's fields: the defaults plus ``add_fields`` minus ``remove_fields``."""
        fields = set(DEFAULT_FIELDS) | set(self.options.get("add_fields") or ())
        return fields - set(self.options.get("remove_fields") or ())

    @property
    def jobs(self) -> JobsModule:
        from apos.modules.apostrophe_jobs import JobsModule

        module = self.apos.module("apostrophe-jobs")
        assert isinstance(module, JobsModule)
        return module

    async def ensure_indexes(self) -> None:
        self.collection = self.db[DOCS_COLLECTION]
        await self.collection.create_index("slug", unique=True)
        await self.collection.create_index([("type", ASCENDING), *SORT])
        await self.collection.create_index([("type", ASCENDING), ("trash", ASCENDING),
                                            *SORT])
        await self.collection.create_index([("type", ASCENDING), ("tags", ASCENDING)])

    def can_edit(self, req: AposRequest, piece: Piece | None = None) -> bool:
        """Whether ``req.user`` may edit pieces of this type (``piece``: this one).

        Override to decide per piece; batch operations ask again for every piece."""
        return req.can(self.edit_permission)

    # -- reading ------------------------------------------------------------------------

    def query(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        """A flat MongoDB query for this type from list filters (already laundered):
        ``trash`` (bool, default false), ``published`` (bool or None for either),
        ``tags`` (any of), ``search`` (words in the title)."""
        # Every piece has a boolean trash field (new_piece sets it), so an equality test is
        # enough, and unlike {"$ne": True} it can use the (type, trash, ...) index.
        query: dict[str, Any] = {"type": self.type_name, "trash": bool(filters.get("trash"))}
        published = filters.get("published")
        if published is not None:
            query["published"] = True if published else {"$ne": True}
        tags = filters.get("tags")
        if tags:
            query["tags"] = {"$in": list(tags)}
        search = filters.get("search")
        if search:
            query["title"] = {"$regex": re.escape(search), "$options": "i"}
        return query

    async def find(self, req: AposRequest, filters: Mapping[str, Any], *, page: int = 1,
                   per_page: int = 50) -> tuple[list[Piece], int, int]:
        """One page of pieces matching ``filters`` in the stable order, the total, and the
        page actually shown (a page past the end shows the last one)."""
        if not self.can_edit(req):
            raise ApiError("forbidden")
        query = self.query(filters)
        # The count and the page are independent queries: ask for both at once.
        total, pieces = await asyncio.gather(self.collection.count_documents(query),
                                             self._page(query, page, per_page))
        last = max(1, math.ceil(total / per_page))
        if page > last:
            page = last
            pieces = await self._page(query, page, per_page)
        return pieces, int(total), page

    async def _page(self, query: Mapping[str, Any], page: int, per_page: int) -> list[Piece]:
        cursor = self.collection.find(query, sort=SORT).skip((page - 1) * per_page)
        pieces: list[Piece] = await cursor.limit(per_page).to_list(None)
        return pieces

    async def find_ids(self, req: AposRequest, filters: Mapping[str, Any]) -> list[str]:
        """The ids of every piece matching ``filters``, in the list's order."""
        if not self.can_edit(req):
            raise ApiError("forbidden")
        cursor = self.collection.find(self.query(filters), {"_id": 1}, sort=SORT)
        return [document["_id"] for document in await cursor.to_list(None)]

    async def find_for_editing(self, req: AposRequest, piece_id: str, *,
                               include_trash: bool = True) -> Piece | None:
        """The piece of this type with that id if this user may edit it; a trashed one only
        with ``include_trash``."""
        query: dict[str, Any] = {"_id": launder.id(piece_id), "type": self.type_name}
        if not include_trash:
            query["trash"] = False
        piece: Piece | None = await self.collection.find_one(query)
        if piece is None or not self.can_edit(req, piece):
            return None
        return piece

    # -- writing ------------------------------------------------------------------------

    def new_piece(self, fields: Mapping[str, Any]) -> Piece:
        """A piece of this type with the standard fields filled in."""
        now = datetime.now(UTC)
        title = str(fields.get("title") or "")
        return {
            "_id": fields.get("_id") or generate_id(),
            "type": self.type_name,
            "title": title,
            "slug": fields.get("slug") or slugify(title),
            "published": bool(fields.get("published", True)),
            "trash": bool(fields.get("trash", False)),
            "tags": list(fields.get("tags") or []),
            "createdAt": now,
            "updatedAt": now,
            **{key: value for key, value in fields.items()
               if key not in ("_id", "type", "title", "slug", "published", "trash", "tags")},
        }

    async def insert(self, req: AposRequest, fields: Mapping[str, Any]) -> Piece:
        """Insert a new piece; ``forbidden`` unless the user may edit this type."""
        if not self.can_edit(req):
            raise ApiError("forbidden")
        piece = self.new_piece(fields)
        await self.collection.insert_one(piece)
        return piece

    async def update(self, req: AposRequest, piece: Piece) -> None:
        """Save a piece found with :meth:`find_for_editing`, setting ``updatedAt``.

        Writes the whole piece: use :meth:`save_changes` when others may be changing the
        same piece at the same time."""
        if piece.get("type") != self.type_name or not self.can_edit(req, piece):
            raise ApiError("forbidden")
        piece["updatedAt"] = _next_time(piece.get("updatedAt"))
        fields = {key: value for key, value in piece.items() if key not in ("_id", "type")}
        result = await self.collection.update_one(
            {"_id": piece["_id"], "type": self.type_name}, {"$set": fields})
        if not result.matched_count:
            raise ApiError("notfound")

    async def save_changes(self, req: AposRequest, original: Piece, piece: Piece) -> bool:
        """Save what changed between ``original`` (as read) and ``piece``, only if nobody
        saved the piece since it was read; False when someone did (read it again and retry).

        Two batch jobs working on the same pieces at once therefore never undo each
        other's changes: each write is compare-and-swap on ``updatedAt``."""
        if piece.get("type") != self.type_name or not self.can_edit(req, piece):
            raise ApiError("forbidden")
        changed = {key: value for key, value in piece.items()
                   if key not in ("_id", "type") and original.get(key, _MISSING) != value}
        removed = [key for key in original if key not in piece and key not in ("_id", "type")]
        piece["updatedAt"] = changed["updatedAt"] = _next_time(original.get("updatedAt"))
        update: dict[str, Any] = {"$set": changed}
        if removed:
            update["$unset"] = dict.fromkeys(removed, "")
        result = await self.collection.update_one(
            {"_id": piece["_id"], "type": self.type_name, "updatedAt": original.get("updatedAt")},
            update)
        return bool(result.matched_count)
