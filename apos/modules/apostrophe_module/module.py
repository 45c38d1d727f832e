"""The base module class (Apostrophe's ``apostrophe-module``).

A module is an instance of a class chain.  Each class in the chain that declares a ``name``
is a *layer*: it may declare ``default_options`` and a ``folder`` holding ``views/`` and
``public/``, and it may define the lifecycle steps ``before_construct``, ``construct`` and
``after_construct``.  Those steps are run layer by layer by the framework (Apostrophe's
order: ``before_construct`` most-derived first, the others base first), so a layer never
calls ``super()`` for them.  Every other method is ordinary Python: override it and call
``super()`` when you want the parent's behaviour.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from aiohttp import web

from apos.layers import Layer, layers_of
from apos.permissions import Permission
from apos.routing import (
    ApiHandler,
    HtmlHandler,
    RawHandler,
    RenderHandler,
    api_endpoint,
    html_endpoint,
    render_endpoint,
)

if TYPE_CHECKING:
    from apos.app import Apos
    from apos.request import AposRequest

LIFECYCLE_STEPS = ("before_construct", "construct", "after_construct")


class Module:
    """Base class of every module; ``apostrophe-module`` in Apostrophe's terms."""

    name: ClassVar[str] = "apostrophe-module"
    """The Apostrophe name of this layer (``'apostrophe-jobs'``, ``'products'``)."""

    folder: ClassVar[Path | None] = Path(__file__).parent
    """This layer's folder (``views/``, ``public/``); ``None`` for a layer with no files."""

    default_options: ClassVar[Mapping[str, Any]] = {}
    """This layer's option defaults; more-derived layers win per key."""

    def __init__(self, apos: Apos, options: Mapping[str, Any]) -> None:
        self.apos = apos
        self.options: dict[str, Any] = merged_options(type(self), options)
        self.layers: list[Layer] = layers_of(type(self), apos.project_dir)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A layer's folder is its own, never inherited: a subclass that ships no files must
        # not make its parent's files appear twice in the chain.
        if "folder" not in cls.__dict__:
            cls.folder = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- lifecycle ----------------------------------------------------------------------

    async def run_lifecycle(self) -> None:
        """Run each layer's own ``before_construct``, ``construct`` and ``after_construct``."""
        chain = [klass for klass in type(self).__mro__ if issubclass(klass, Module)]
        for step in LIFECYCLE_STEPS:
            ordered = chain if step == "before_construct" else list(reversed(chain))
            for klass in ordered:
                function = klass.__dict__.get(step)
                if function is None:
                    continue
                result = function(self)
                if inspect.isawaitable(result):
                    await result

    # -- routes -------------------------------------------------------------------------

    def action(self, path: str = "") -> str:
        """The URL of one of this module's routes: ``/modules/<name>/<path>``."""
        return f"/modules/{self.name}/{path.lstrip('/')}" if path else f"/modules/{self.name}"

    def route(self, method: str, path: str, handler: RawHandler, *,
              permission: Permission, csrf: bool = True, page: bool = False) -> None:
        """Answer ``method /modules/<name>/<path>`` with an aiohttp response of your own.

        ``page=True`` marks it as a page: a logged-out visitor refused by ``permission`` is
        sent to the login page instead of getting a JSON ``forbidden``."""
        self.apos.routes.add(method, self.action(path), handler, owner=self.name,
                             permission=permission, csrf=csrf, kind="html" if page else "raw")

    def api_route(self, method: str, path: str, handler: ApiHandler, *,
                  permission: Permission, csrf: bool = True) -> None:
        """A JSON route: return a dict (sent as ``{"status": "ok", ...}``), a list (sent
        bare), or raise/return :class:`apos.ApiError` (sent as ``{"status": code}``)."""
        self.apos.routes.add(method, self.action(path), api_endpoint(handler), owner=self.name,
                             permission=permission, csrf=csrf, kind="api")

    def html_route(self, method: str, path: str, handler: HtmlHandler, *,
                   permission: Permission, csrf: bool = True) -> None:
        """An HTML route: return a string; an :class:`apos.ApiError` maps to 401/403/404/500."""
        self.apos.routes.add(method, self.action(path), html_endpoint(handler), owner=self.name,
                             permission=permission, csrf=csrf, kind="html")

    def render_route(self, method: str, path: str, handler: RenderHandler, *,
                     permission: Permission, csrf: bool = True) -> None:
        """Return ``{"template": name, "data": {...}}``; rendered with this module's chain."""
        self.apos.routes.add(method, self.action(path), render_endpoint(self, handler),
                             owner=self.name, permission=permission, csrf=csrf, kind="html")

    def site_route(self, method: str, path: str, handler: RawHandler, *,
                   permission: Permission, csrf: bool = True, page: bool = False,
                   uses_session: bool = True) -> None:
        """A route at a site-wide path such as ``/login``, outside ``/modules/``.

        ``page=True`` marks it as a page: a logged-out visitor refused by ``permission`` is
        sent to the login page.  ``uses_session=False`` serves it without loading the
        visitor's session (static files)."""
        self.apos.routes.add(method, path, handler, owner=self.name, permission=permission,
                             csrf=csrf, kind="html" if page else "raw",
                             uses_session=uses_session)

    # -- templates ----------------------------------------------------------------------

    def render(self, req: AposRequest | None, name: str,
               data: Mapping[str, Any] | None = None) -> str:
        """Render ``views/<name>`` along this module's chain (``other-module:name`` renders
        another module's template with that module's chain)."""
        return self.apos.templates.render(self, req, name, data or {})

    async def render_page(self, req: AposRequest, name: str,
                          data: Mapping[str, Any] | None = None) -> web.Response:
        """Render a whole page: the template should extend the site layout, which receives the
        pushed assets and the browser start-up code through the ``page_data`` hook."""
        page: dict[str, Any] = dict(data or {})
        await self.apos.hooks.call("page_data", req=req, data=page)
        return web.Response(text=self.render(req, name, page), content_type="text/html")

    # -- assets -------------------------------------------------------------------------

    def push_asset(self, kind: Literal["script", "stylesheet"], name: str, *,
                   when: Literal["always", "user"] = "always") -> None:
        """Push ``public/js/<name>.js`` or ``public/css/<name>.css`` from every layer of this
        module's chain that has it, base first.  ``when='user'``: logged-in users only."""
        self.apos.assets.push(self, kind, name, when=when)

    def get_browser_data(self, req: AposRequest) -> dict[str, Any]:
        """Options handed to this module's browser singleton; extend to add your own."""
        return {
            "name": self.name,
            "action": self.action(),
            "chain": [layer.name for layer in self.layers if not layer.project],
        }

    # -- database -----------------------------------------------------------------------

    @property
    def db(self) -> Any:
        """The app's database (a PyMongo async database, or a motor one handed in)."""
        return self.apos.db


def merged_options(cls: type[Module], config: Mapping[str, Any]) -> dict[str, Any]:
    """Each layer's ``default_options``, base first, then the app's configuration on top."""
    options: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        options.update(klass.__dict__.get("default_options", {}))
    options.update({key: value for key, value in config.items() if key != "extend"})
    return options

