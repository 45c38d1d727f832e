"""The hooks every module (and every plugin) may implement: the framework's public API.

A module implements a hook simply by defining a method with the hook's name; no marker is
needed, and a subclass that overrides such a method is called in its place.  Plain objects
handed to ``App(plugins=[...])`` mark their implementations with :data:`hookimpl` instead.

Hooks run in module order (configuration order, core modules first), never pluggy's default
last-registered-first order, and an implementation may be ``async``: the caller awaits each
one before calling the next.  Every argument is optional for an implementation: it declares
only the ones it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from apos.request import AposRequest

PROJECT_NAME = "apos"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def push_assets() -> None:
    """Push this module's browser scripts and stylesheets with ``self.push_asset``.

    Runs once for every module after all modules are constructed.  The asset list is frozen
    as soon as every implementation has run: pushing later is an error.
    """


@hookspec
def add_routes() -> None:
    """Add this module's routes with ``route``, ``api_route``, ``html_route``, ``render_route``.

    Runs after ``push_assets``.  Adding a route again for the same method and path replaces
    the handler, which is how a subclass or an improvement overrides a route.
    """


@hookspec
def modules_ready() -> None:
    """Every module is constructed and has its routes: look other modules up here."""


@hookspec
def after_init() -> None:
    """The last start-up hook, after ``modules_ready``: the app is about to take requests."""


@hookspec
def prepare_request(req: AposRequest) -> None:
    """Called for every request before its route runs, in module order.

    The login module uses it to set ``req.user`` from the session.
    """


@hookspec
def page_data(req: AposRequest, data: dict[str, Any]) -> None:
    """Add to ``data`` before a full page is rendered with the site layout."""


@hookspec
def shutdown() -> None:
    """The app is stopping: end background work and release what the module holds.

    Runs in module order before the database connection is closed.
    """


@hookspec
def job_started(job: Any) -> None:
    """A job of ``apostrophe-jobs`` has started (its document exists). ``job`` is the handle."""


@hookspec
def job_ended(job: Any, status: str) -> None:
    """A job has reached its final status (``completed``, ``failed``, ``stopped`` or
    ``canceled``) and its final document is written."""


@hookspec
def before_serve() -> None:
    """``apos serve`` is about to take requests (start-up is complete).

    One-time set-up that only a running site needs, such as seeding a demo database, goes
    here rather than in ``after_init``, which every ``apos`` command runs.
    """
