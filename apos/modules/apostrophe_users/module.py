"""User accounts: the ``aposUsers`` collection, roles and their permissions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pymongo.errors import DuplicateKeyError

from apos.ids import generate_id
from apos.modules.apostrophe_module import Module
from apos.modules.apostrophe_users.passwords import hash_password, verify_password
from apos.permissions import ADMIN

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "admin": [ADMIN],
    "editor": ["edit-*"],
}
"""What each role of ``apos users:add --role`` grants."""


class UserExists(Exception):
    """A user with that username exists already."""


class UsersModule(Module):
    name: ClassVar[str] = "apostrophe-users"
    folder: ClassVar[Path | None] = Path(__file__).parent
    default_options: ClassVar[dict[str, Any]] = {"collection_name": "aposUsers"}

    async def after_construct(self) -> None:
        self.users = self.db[self.options["collection_name"]]
        await self.users.create_index("username", unique=True)

    async def add_user(self, username: str, password: str, *, role: str = "editor",
                       permissions: Iterable[str] | None = None) -> dict[str, Any]:
        """Create a user; raises :class:`UserExists` or ``ValueError`` for bad input."""
        username = username.strip()
        if not username:
            raise ValueError("The username must not be empty")
        if not password:
            raise ValueError("The password must not be empty")
        if role not in ROLE_PERMISSIONS:
            raise ValueError(f"The role must be one of {', '.join(ROLE_PERMISSIONS)}")
        granted = list(permissions) if permissions is not None else ROLE_PERMISSIONS[role]
        user = {
            "_id": generate_id(),
            "username": username,
            "role": role,
            "permissions": granted,
            # argon2 is deliberately slow: keep it off the event loop.
            "passwordHash": await asyncio.to_thread(hash_password, password),
            "createdAt": datetime.now(UTC),
        }
        try:
            await self.users.insert_one(user)
        except DuplicateKeyError as error:
            raise UserExists(f"A user named {username!r} exists already") from error
        return public_user(user)

    async def set_password(self, username: str, password: str) -> bool:
        """Change a user's password; False when there is no such user."""
        if not password:
            raise ValueError("The password must not be empty")
        hashed = await asyncio.to_thread(hash_password, password)
        result = await self.users.update_one({"username": username.strip()},
                                             {"$set": {"passwordHash": hashed}})
        return bool(result.matched_count)

    async def authenticate(self, username: str, password: str) -> dict[str, Any] | None:
        """The user when the password matches; None for a wrong password or unknown user."""
        found = await self.users.find_one({"username": username.strip()})
        stored = found.get("passwordHash") if found else None
        matches = await asyncio.to_thread(verify_password, stored, password)
        return public_user(found) if found is not None and matches else None

    async def find_by_id(self, user_id: str) -> dict[str, Any] | None:
        found = await self.users.find_one({"_id": user_id})
        return public_user(found) if found is not None else None


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    """The user without secrets, as handlers and templates see it."""
    return {key: value for key, value in user.items() if key != "passwordHash"}
