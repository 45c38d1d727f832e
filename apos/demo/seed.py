"""First start of the demo: fill the piece types from ``pycountry`` and create an admin.

Runs in the ``before_serve`` hook, so only ``apos serve`` does it, and only when the
collection holds no piece of the type yet (or no user exists, for the admin).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from pymongo.errors import BulkWriteError

from apos.modules.apostrophe_module import Module
from apos.modules.apostrophe_pieces import PiecesModule
from apos.modules.apostrophe_users import UsersModule

BATCH = 500
SEEDS_COLLECTION = "demoSeeds"
"""One document per seeded module, written when its seed is complete."""
DUPLICATE_KEY = 11000
LANGUAGE_TYPES = {"L": "living", "E": "extinct", "H": "historical", "C": "constructed",
                  "A": "ancient", "S": "special"}
LANGUAGE_SCOPES = {"I": "individual", "M": "macrolanguage", "S": "special"}


def language_records() -> Iterator[dict[str, Any]]:
    import pycountry

    for language in pycountry.languages:
        tags = [LANGUAGE_TYPES.get(getattr(language, "type", ""), ""),
                LANGUAGE_SCOPES.get(getattr(language, "scope", ""), "")]
        yield {
            "title": language.name,
            "slug": f"{_slug(language.name)}-{language.alpha_3}",
            "code": language.alpha_3,
            "tags": [tag for tag in dict.fromkeys(tags) if tag],
        }


def country_records() -> Iterator[dict[str, Any]]:
    import pycountry

    # pycountry has no regions; countries start untagged by region, and "Set Region"
    # (demo-regions) is how an editor assigns them.
    for country in pycountry.countries:
        tags = ["official-name"] if getattr(country, "official_name", None) else []
        yield {
            "title": country.name,
            "slug": f"{_slug(country.name)}-{country.alpha_2.lower()}",
            "code": country.alpha_2,
            "officialName": getattr(country, "official_name", None),
            "tags": tags,
        }


SOURCES = {"languages": language_records, "countries": country_records}
"""Which module is filled from which records."""


def _slug(text: str) -> str:
    from apos.modules.apostrophe_pieces.api import slugify

    return slugify(text)


class SeedModule(Module):
    name: ClassVar[str] = "demo-seed"
    default_options: ClassVar[dict[str, Any]] = {"admin_username": "admin"}

    async def before_serve(self) -> None:
        await self.ensure_admin()
        for module_name, records in SOURCES.items():
            module = self.apos.modules.get(module_name)
            if isinstance(module, PiecesModule):
                await self.seed(module, records())

    async def ensure_admin(self) -> None:
        users = self.apos.modules["apostrophe-users"]
        assert isinstance(users, UsersModule)
        if await users.users.count_documents({}, limit=1):
            return
        password = secrets.token_urlsafe(12)
        username = self.options["admin_username"]
        await users.add_user(username, password, role="admin")
        print(f"apos: created the admin user {username!r} with password {password}\n"
              "      (shown only this once; add more users with `apos users:add`)",
              flush=True)

    async def seed(self, module: PiecesModule, records: Iterable[dict[str, Any]]) -> None:
        """Insert the records once.  A seed cut short (Ctrl-C, a crash) is completed on
        the next start: records already there are recognised by their unique slug."""
        done = self.db[SEEDS_COLLECTION]
        if await done.find_one({"_id": module.name}):
            return
        pieces = [module.new_piece(record) for record in records]
        label = module.options.get("plural_label") or module.name
        for start in range(0, len(pieces), BATCH):
            try:
                await module.collection.insert_many(pieces[start:start + BATCH], ordered=False)
            except BulkWriteError as error:
                codes = {e.get("code") for e in error.details.get("writeErrors", [])}
                if codes != {DUPLICATE_KEY}:
                    raise
            _progress(label, min(start + BATCH, len(pieces)), len(pieces))
        await done.insert_one({"_id": module.name, "count": len(pieces),
                               "at": datetime.now(UTC)})


def _progress(label: str, done: int, total: int, width: int = 30) -> None:
    filled = width * done // total
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done == total else ""
    print(f"\rapos: adding {label:<10} [{bar}] {done}/{total}", end=end, file=sys.stderr,
          flush=True)
