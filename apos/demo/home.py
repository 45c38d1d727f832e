"""The demo's home page."""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web

from apos.modules.apostrophe_module import Module
from apos.permissions import PUBLIC
from apos.request import AposRequest


class HomeModule(Module):
    name: ClassVar[str] = "demo-home"

    def add_routes(self) -> None:
        self.site_route("get", "/", self.home, permission=PUBLIC, page=True)

    async def home(self, req: AposRequest) -> web.StreamResponse:
        return await self.render_page(req, "home", {"title": "apos demo"})
