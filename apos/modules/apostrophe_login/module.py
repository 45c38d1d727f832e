"""Logging in and out with a session cookie, and knowing who is asking (``req.user``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from apos.launder import string
from apos.modules.apostrophe_module import Module
from apos.permissions import PUBLIC
from apos.request import AposRequest
from apos.routing import redirect

if TYPE_CHECKING:
    from apos.modules.apostrophe_users import UsersModule

SESSION_USER_KEY = "userId"
LOGIN_FAILED = "Your username or password was incorrect."


class LoginModule(Module):
    name: ClassVar[str] = "apostrophe-login"
    folder: ClassVar[Path | None] = Path(__file__).parent

    @property
    def users(self) -> UsersModule:
        from apos.modules.apostrophe_users import UsersModule

        module = self.apos.module("apostrophe-users")
        assert isinstance(module, UsersModule)
        return module

    def add_routes(self) -> None:
        self.site_route("get", "/login", self.login_form, permission=PUBLIC)
        # The login form is the one unsafe request that cannot carry a CSRF header.
        self.site_route("post", "/login", self.login, permission=PUBLIC, csrf=False)
        self.site_route("get", "/logout", self.logout, permission=PUBLIC)
        self.site_route("post", "/logout", self.logout, permission=PUBLIC)

    async def prepare_request(self, req: AposRequest) -> None:
        if req.session is None:
            return
        user_id = req.session.get(SESSION_USER_KEY)
        if isinstance(user_id, str):
            req.user = await self.users.find_by_id(user_id)
            if req.user is None:
                del req.session[SESSION_USER_KEY]

    async def login_form(self, req: AposRequest, *, message: str | None = None,
                         username: str = "", status: int = 200) -> web.StreamResponse:
        response = await self.render_page(req, "login", {
            "message": message,
            "username": username,
            "next": safe_next(req.query.get("next") or string(req.body.get("next"))),
            "title": "Log in",
        })
        response.set_status(status)
        return response

    async def login(self, req: AposRequest) -> web.StreamResponse:
        username = string(req.body.get("username"))
        password = req.body.get("password")
        user = None
        if username and isinstance(password, str) and password:
            user = await self.users.authenticate(username, password)
        if user is None:
            return await self.login_form(req, message=LOGIN_FAILED, username=username,
                                         status=401)
        assert req.session is not None
        req.session.regenerate()
        req.session[SESSION_USER_KEY] = user["_id"]
        req.session.keep_long()
        req.user = user
        return redirect(safe_next(string(req.body.get("next"))))

    async def logout(self, req: AposRequest) -> web.StreamResponse:
        if req.session is not None:
            req.session.end()
        req.user = None
        return redirect("/")

    def get_browser_data(self, req: AposRequest) -> dict[str, Any]:
        data = super().get_browser_data(req)
        if req.user is not None:
            data["user"] = {"_id": req.user["_id"], "username": req.user["username"]}
        return data


_SAFE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")
"""A path on this site: starts with one slash (not ``//`` or ``/\\``, which browsers read as
another host) and holds only printable ASCII, so no tab, newline or other control
character can turn it into something else on the way to the ``Location`` header."""


def safe_next(target: str | None) -> str:
    """A same-site path to go to after logging in; anything else is ``/``."""
    if not target or not _SAFE_PATH.fullmatch(target) or "\\" in target:
        return "/"
    return target
