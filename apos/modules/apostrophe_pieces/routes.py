"""The routes of a piece type: ``list`` (a page of pieces, or every matching id), one POST
route per batch operation, and the manager page.  All of them are for editors of the type."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from apos import launder
from apos.errors import ApiError
from apos.modules.apostrophe_pieces.api import MAX_PER_PAGE
from apos.modules.apostrophe_pieces.batch import PiecesBatch
from apos.modules.apostrophe_pieces.fields import launder_tags
from apos.request import AposRequest

MAX_SEARCH = 200
MAX_PAGE = 1_000_000
"""Past any real list; keeps a huge page number from overflowing the database's skip."""


class PiecesRoutes(PiecesBatch):
    """Routes of a piece type, combined into
    :class:`~apos.modules.apostrophe_pieces.module.PiecesModule`."""

    def add_routes(self) -> None:
        self.api_route("post", "list", self.list_route, permission=self.edit_permission)
        self.route("get", "manager", self.manager_page, permission=self.edit_permission,
                   page=True)
        self.add_batch_routes()

    async def list_route(self, req: AposRequest) -> dict[str, Any]:
        filters = list_filters(req.body)
        if req.body.get("format") == "allIds":
            ids = await self.find_ids(req, filters)
            label = f"Select all {len(ids)} item(s) that match this search"
            return {"data": {"ids": ids, "label": label}}
        if req.body.get("format") not in (None, "managePage"):
            raise ApiError("invalid", "format must be allIds or left out")
        page = launder.integer(req.body.get("page"), default=1, minimum=1, maximum=MAX_PAGE)
        per_page = launder.integer(req.body.get("perPage"),
                                   default=int(self.options["per_page"]), minimum=1,
                                   maximum=MAX_PER_PAGE)
        pieces, total, page = await self.find(req, filters, page=page, per_page=per_page)
        pages = max(1, math.ceil(total / per_page))
        return {"data": {"pieces": pieces, "total": total, "page": page, "pages": pages}}

    async def manager_page(self, req: AposRequest) -> web.StreamResponse:
        return await self.render_page(req, "manager", {
            "title": self.options.get("plural_label") or self.name,
            "label": self.options.get("label") or self.type_name,
            "plural_label": self.options.get("plural_label") or self.name,
        })


def list_filters(body: Mapping[str, Any]) -> dict[str, Any]:
    """The list filters of a request body, laundered: ``invalid`` for wrong values."""
    filters: dict[str, Any] = {"trash": launder.boolean(body.get("trash"), "trash")}
    published = body.get("published")
    if published in (None, "", "any", "both"):
        filters["published"] = None
    else:
        filters["published"] = launder.boolean(published, "published")
    if body.get("tags") not in (None, "", []):
        filters["tags"] = launder_tags(body["tags"])
    search = body.get("search")
    if search not in (None, ""):
        if not isinstance(search, str) or len(search) > MAX_SEARCH:
            raise ApiError("invalid", f"search must be a text of at most {MAX_SEARCH} "
                           "characters")
        filters["search"] = search.strip()
    return filters
