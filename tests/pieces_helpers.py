"""Helpers for the pieces tests."""

from __future__ import annotations

from typing import Any

from apos import Apos, AposRequest
from apos.modules.apostrophe_pieces import PiecesModule


def pieces(apos: Apos, name: str) -> PiecesModule:
    module = apos.modules[name]
    assert isinstance(module, PiecesModule)
    return module


ADMIN_REQ_USER = {"_id": "seed", "username": "seed", "permissions": ["admin"]}


async def add_pieces(apos: Apos, name: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    """Insert ``count`` pieces titled "<Label> 000"... through the module's API."""
    module = pieces(apos, name)
    req = AposRequest(apos, user=ADMIN_REQ_USER)
    label = module.options.get("label") or name
    made = []
    for n in range(count):
        made.append(await module.insert(req, {"title": f"{label} {n:03d}", **fields}))
    return made
