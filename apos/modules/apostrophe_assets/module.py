"""Serves every pushed asset with long cache lifetimes and gives pages their asset tags and
browser start-up data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web
from markupsafe import Markup

from apos.modules.apostrophe_module import Module
from apos.permissions import PUBLIC
from apos.request import AposRequest

ONE_YEAR = 365 * 24 * 3600


class AssetsModule(Module):
    name: ClassVar[str] = "apostrophe-assets"
    folder: ClassVar[Path | None] = Path(__file__).parent

    def push_assets(self) -> None:
        self.push_asset("script", "apos")

    def add_routes(self) -> None:
        for url_path in self.apos.assets.url_paths:
            self.site_route("get", url_path, self.serve_asset, permission=PUBLIC,
                            uses_session=False)

    async def serve_asset(self, req: AposRequest) -> web.StreamResponse:
        assert req.http is not None
        path = self.apos.assets.file_for(req.http.path)
        if path is None:
            raise web.HTTPNotFound()
        response = web.FileResponse(path)
        versioned = any(asset.url_path == req.http.path and req.query.get("v") == asset.version
                        for asset in self.apos.assets.for_user(True, "script")
                        + self.apos.assets.for_user(True, "stylesheet"))
        response.headers["Cache-Control"] = (
            f"public, max-age={ONE_YEAR}, immutable" if versioned else "no-cache"
        )
        return response

    def page_data(self, req: AposRequest, data: dict[str, Any]) -> None:
        """Give the layout its ``<script>``/``<link>`` tags and, for logged-in users, the
        browser singletons to create."""
        logged_in = req.user is not None
        data["stylesheets"] = [a.url for a in self.apos.assets.for_user(logged_in, "stylesheet")]
        data["scripts"] = [a.url for a in self.apos.assets.for_user(logged_in, "script")]
        singletons: list[dict[str, Any]] = []
        if logged_in:
            singletons = [self.apos.modules[name].get_browser_data(req)
                          for name in self.apos.assets.modules_with_scripts
                          if name in self.apos.modules]
        data["browser_modules_json"] = Markup(_script_json(singletons))


def _script_json(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    return (json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))
