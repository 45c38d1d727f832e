"""The app: its configuration (:class:`App`) and one running instance of it (:class:`Apos`).

An :class:`App` is what a site's Python file builds, like Apostrophe's ``app.js``: the
modules and their options.  Each start makes a fresh :class:`Apos` on the running event loop
(database client included), so one App can be started by several test apps on different
loops.  ``Apos`` is what modules see as ``self.apos``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from apos.assets import AssetRegistry
from apos.db import DatabaseConnection, connect_database
from apos.errors import StartupError
from apos.http.body import MAX_BODY_BYTES
from apos.http.dispatch import dispatch
from apos.http.sessions import SessionStore
from apos.launder import DEFAULT_MAX_IDS
from apos.layers import Layer, layers_of
from apos.modules.apostrophe_module import Module
from apos.plugins import Hooks
from apos.registry import ModuleRegistry
from apos.routing import RouteTable
from apos.templates import Templates

log = logging.getLogger("apos")

CORE_MODULES: tuple[str, ...] = (
    "apostrophe-assets",
    "apostrophe-templates",
    "apostrophe-users",
    "apostrophe-login",
    "apostrophe-jobs",
)
"""Constructed first, in this order, before the project's modules."""

APOS_KEY = web.AppKey("apos", object)


class App:
    """A site's configuration: which modules, with which options.

    ``modules`` maps module names to options, in construction order (core modules always
    come first; naming one here only sets its options).  ``classes`` are module classes of
    the site's own, new modules or improvements of installed ones.  ``project_dir`` holds the
    ``modules/<name>/`` folders whose ``views/`` and ``public/`` override shipped files.
    ``shortname`` names the default database; ``title`` is the site's name in the header.
    """

    def __init__(
        self,
        modules: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        classes: Iterable[type[Module]] = (),
        plugins: Iterable[object] = (),
        project_dir: str | Path | None = None,
        shortname: str = "apos",
        title: str | None = None,
        core_modules: Iterable[str] = CORE_MODULES,
        api_http_status: bool = False,
        max_ids: int = DEFAULT_MAX_IDS,
        secure_cookies: bool = False,
    ) -> None:
        self.modules_config: dict[str, dict[str, Any]] = {
            name: dict(options or {}) for name, options in (modules or {}).items()
        }
        self.classes = list(classes)
        self.plugins = list(plugins)
        folder = Path(project_dir) if project_dir is not None else None
        if folder is not None and folder.is_file():
            folder = folder.parent
        self.project_dir = folder
        self.shortname = shortname
        self.title = title or shortname
        """The site's name, shown in the page header."""
        self.core_modules = tuple(core_modules)
        self.api_http_status = api_http_status
        self.max_ids = max_ids
        self.secure_cookies = secure_cookies

    def module_order(self) -> list[str]:
        """Core modules first, then the project's, each once."""
        names = list(self.core_modules)
        names += [name for name in self.modules_config if name not in names]
        return names

    def web_app(self, *, db_uri: str | None = None, data_dir: str | Path = "data",
                db_name: str | None = None, db: Any = None) -> web.Application:
        """An aiohttp application that starts this app (database included) on startup and
        shuts it down on cleanup.  ``db`` hands in an existing database (PyMongo async or
        motor) instead of connecting."""
        web_app = web.Application(client_max_size=MAX_BODY_BYTES)

        async def lifecycle(app: web.Application) -> AsyncIterator[None]:
            apos = await Apos.start(self, db_uri=db_uri, data_dir=Path(data_dir),
                                    db_name=db_name, db=db)
            app[APOS_KEY] = apos
            try:
                yield
            finally:
                await apos.stop()

        web_app.cleanup_ctx.append(lifecycle)

        async def handle(request: web.Request) -> web.StreamResponse:
            apos = request.app[APOS_KEY]
            assert isinstance(apos, Apos)
            return await dispatch(apos, request)

        web_app.router.add_route("*", "/{tail:.*}", handle)
        return web_app


class Apos:
    """One running instance of an app: ``apos.modules``, ``apos.db``, ``apos.hooks``..."""

    def __init__(self, app: App, connection: DatabaseConnection | None, db: Any) -> None:
        self.app = app
        self.connection = connection
        self.db = db
        self.project_dir = app.project_dir
        self.api_http_status = app.api_http_status
        self.max_ids = app.max_ids
        self.registry = ModuleRegistry(app.classes)
        self.modules: dict[str, Module] = {}
        self.hooks = Hooks()
        self.routes = RouteTable()
        self.assets = AssetRegistry()
        self.templates = Templates(self.layers_for, lambda: self.modules)
        self.sessions = SessionStore(db, secure_cookie=app.secure_cookies)
        self.started = False
        self._shut_down = False

    @classmethod
    async def start(cls, app: App, *, db_uri: str | None = None, data_dir: Path = Path("data"),
                    db_name: str | None = None, db: Any = None) -> Apos:
        """Connect (unless ``db`` is given), construct every module, run start-up hooks."""
        connection: DatabaseConnection | None = None
        if db is None:
            connection = await connect_database(uri=db_uri, data_dir=data_dir, db_name=db_name,
                                                default_db_name=app.shortname)
            db = connection.db
        apos = cls(app, connection, db)
        try:
            await apos._construct()
        except BaseException:
            await apos.stop()
            raise
        return apos

    async def _construct(self) -> None:
        await self.sessions.ensure_indexes()
        for name in self.app.module_order():
            config = self.app.modules_config.get(name, {})
            if not isinstance(config, Mapping):
                raise StartupError(f"The options for module {name!r} must be a dict")
            cls = self.registry.resolve(name, config)
            module = cls(self, config)
            self.hooks.register(module, name)
            self.modules[name] = module
            await module.run_lifecycle()
        for index, plugin in enumerate(self.app.plugins):
            self.hooks.register(plugin, f"plugin-{index}-{type(plugin).__name__}")
        await self.hooks.call("push_assets")
        self.assets.freeze()
        await self.hooks.call("add_routes")
        await self.hooks.call("modules_ready")
        await self.hooks.call("after_init")
        self.started = True

    async def shutdown(self) -> None:
        """Run the ``shutdown`` hook once (modules end their background work), while the
        site may still be answering requests: a server that is stopping says so."""
        if self._shut_down or not self.modules:
            return
        self._shut_down = True
        await self.hooks.call("shutdown")

    async def stop(self) -> None:
        """Shut down (if not done yet), then close the database (its server child last)."""
        try:
            await self.shutdown()
        finally:
            self.modules.clear()
            if self.connection is not None:
                await self.connection.close()
                self.connection = None

    def layers_for(self, name: str) -> list[Layer]:
        """The layers of module ``name``, whether it is running or only extended by others."""
        module = self.modules.get(name)
        if module is not None:
            return module.layers
        cls = self.registry.get(name)
        return layers_of(cls, self.project_dir) if cls is not None else []

    def module(self, name: str) -> Module:
        """``apos.modules[name]`` with a readable error when it is missing."""
        try:
            return self.modules[name]
        except KeyError:
            raise KeyError(f"There is no module named {name!r} in this app") from None
