"""``apostrophe-users``: user accounts with argon2 password hashes."""

from apos.modules.apostrophe_users.module import UsersModule

__all__ = ["UsersModule"]
