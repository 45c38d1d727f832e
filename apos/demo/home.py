"""The demo's home page: a link to the manager of each piece type the visitor may edit."""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from apos.modules.apostrophe_module import Module
from apos.modules.apostrophe_pieces import PiecesModule
from apos.permissions import PUBLIC
from apos.request import AposRequest


class HomeModule(Module):
    name: ClassVar[str] = "demo-home"

    def add_routes(self) -> None:
        self.site_route("get", "/", self.home, permission=PUBLIC, page=True)

    async def home(self, req: AposRequest) -> web.StreamResponse:
        types: list[dict[str, Any]] = []
        for module in self.apos.modules.values():
            if isinstance(module, PiecesModule) and module.can_edit(req):
                count = await module.collection.count_documents(
                    {"type": module.type_name, "trash": {"$ne": True}})
                types.append({"label": module.options.get("plural_label") or module.name,
                              "url": module.action("manager"), "count": count})
        return await self.render_page(req, "home", {"title": "apos demo", "types": types})
