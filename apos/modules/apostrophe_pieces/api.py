"""Finding and saving pieces: every query is restricted to this type and checks that the
user may edit it.  Queries are flat documents (``{"type": t, "trash": {"$ne": True}}``),
which every MongoDB-compatible server plans well."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
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
        query: dict[str, Any] = {"type": self.type_name}
        query["trash"] = True if filters.get("trash") else {"$ne": True}
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
                   per_page: int = 50) -> tuple[list[Piece], int]:
        """One page of pieces matching ``filters`` in the stable order, and the total."""
        if not self.can_edit(req):
            raise ApiError("forbidden")
        query = self.query(filters)
        total: int = await self.collection.count_documents(query)
        cursor = self.collection.find(query, sort=SORT).skip((page - 1) * per_page)
        pieces: list[Piece] = await cursor.limit(per_page).to_list(None)
        return pieces, total

    async def find_ids(self, req: AposRequest, filters: Mapping[str, Any]) -> list[str]:
        """The ids of every piece matching ``filters``, in the list's order."""
        if not self.can_edit(req):
            raise ApiError("forbidden")
        cursor = self.collection.find(self.query(filters), {"_id": 1}, sort=SORT)
        return [document["_id"] for document in await cursor.to_list(None)]

    async def find_for_editing(self, req: AposRequest, piece_id: str) -> Piece | None:
        """The piece of this type with that id if this user may edit it (trashed or not)."""
        piece: Piece | None = await self.collection.find_one(
            {"_id": launder.id(piece_id), "type": self.type_name})
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
        """Save a piece found with :meth:`find_for_editing`, setting ``updatedAt``."""
        if piece.get("type") != self.type_name or not self.can_edit(req, piece):
            raise ApiError("forbidden")
        piece["updatedAt"] = datetime.now(UTC)
        fields = {key: value for key, value in piece.items() if key not in ("_id", "type")}
        result = await self.collection.update_one(
            {"_id": piece["_id"], "type": self.type_name}, {"$set": fields})
        if not result.matched_count:
            raise ApiError("notfound")
