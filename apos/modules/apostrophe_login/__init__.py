"""``apostrophe-login``: the ``/login`` and ``/logout`` routes and ``req.user``."""

from apos.modules.apostrophe_login.module import LoginModule

__all__ = ["LoginModule"]
