"""apos: ApostropheCMS 2.x's module system, jobs and batch operations, in Python."""

from apos.app import Apos, App
from apos.errors import ApiError, StartupError
from apos.hookspecs import hookimpl
from apos.ids import generate_id
from apos.modules.apostrophe_module import Module
from apos.permissions import ADMIN, LOGGED_IN, PUBLIC
from apos.request import AposRequest

__all__ = [
    "ADMIN",
    "LOGGED_IN",
    "PUBLIC",
    "ApiError",
    "Apos",
    "AposRequest",
    "App",
    "Module",
    "StartupError",
    "generate_id",
    "hookimpl",
]
