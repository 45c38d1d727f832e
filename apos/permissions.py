"""Who may do what: the permission names and the checks every route declares.

A user document carries ``permissions``, a list of names.  ``admin`` may do everything;
``edit-<type>`` may edit pieces of that type; ``edit-*`` may edit every piece type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from apos.request import AposRequest

ADMIN: Final = "admin"
PUBLIC: Final = "public"
"""A route anyone may call, logged in or not."""
LOGGED_IN: Final = "logged-in"
"""A route any logged-in user may call."""

Permission = str | Callable[["AposRequest"], bool]
"""What a route states about who may call it: ``PUBLIC``, ``LOGGED_IN``, a permission name,
or a function of the request."""


def edit_permission(type_name: str) -> str:
    """The permission that lets a user edit pieces of ``type_name``."""
    return f"edit-{type_name}"


def user_can(user: dict[str, Any] | None, permission: str) -> bool:
    """Whether ``user`` holds ``permission``; nobody holds anything when logged out."""
    if permission == PUBLIC:
        return True
    if user is None:
        return False
    if permission == LOGGED_IN:
        return True
    held = set(user.get("permissions") or [])
    if ADMIN in held:
        return True
    if permission in held:
        return True
    return permission.startswith("edit-") and "edit-*" in held


def request_allowed(req: AposRequest, permission: Permission) -> bool:
    """Apply a route's stated permission to a request."""
    if callable(permission):
        return bool(permission(req))
    return user_can(req.user, permission)
