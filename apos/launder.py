"""Laundering of untrusted input: turn what a client sent into a value we can trust, or
reject it with :class:`LaunderError` (which routes answer as ``{"status": "invalid"}``)."""

from __future__ import annotations

import re
from typing import Any

from apos.errors import ApiError

_ID = re.compile(r"^[A-Za-z0-9_]+$")
MAX_ID_LENGTH = 100
"""Far above any real id (Apostrophe's are 25 characters, ObjectIds 24), low enough that
ids can never make a document too large."""
DEFAULT_MAX_IDS = 100_000


class LaunderError(ApiError):
    """A value failed laundering; always answered as ``invalid``."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid", message)


def id(value: Any) -> str:
    """A string id: trimmed, made only of letters, digits and underscores."""
    if not isinstance(value, str):
        raise LaunderError("an id must be a string")
    trimmed = value.strip()
    if len(trimmed) > MAX_ID_LENGTH:
        raise LaunderError(f"an id has at most {MAX_ID_LENGTH} characters")
    if not _ID.match(trimmed):
        raise LaunderError("an id may contain only letters, digits and underscores")
    return trimmed


def ids(value: Any, *, max_ids: int = DEFAULT_MAX_IDS) -> list[str]:
    """A list of ids with duplicates removed (first kept), at most ``max_ids`` of them.

    Going over the cap is an error rather than a silent truncation: an editor who selected
    more than the server accepts must be told, not have part of the selection ignored.
    """
    if not isinstance(value, list):
        raise LaunderError("ids must be a list")
    if len(value) > max_ids:
        raise LaunderError(f"at most {max_ids} ids may be sent at once")
    return list(dict.fromkeys(id(item) for item in value))


def string(value: Any, *, default: str = "") -> str:
    """A trimmed string; anything that is not a string becomes ``default``."""
    return value.strip() if isinstance(value, str) else default


_YES = frozenset({"true", "1", "on", "yes"})
_NO = frozenset({"false", "0", "off", "no"})


def boolean(value: Any, name: str = "value", *, default: bool = False) -> bool:
    """A yes/no answer that must be one: true/false, 1/0, "true"/"false", "yes"/"no",
    "on"/"off" (an HTML checkbox), or missing (``default``).  Anything else is ``invalid``,
    not a guess."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _YES | _NO:
        return value.strip().lower() in _YES
    raise LaunderError(f"{name} must be true or false")


def integer(value: Any, *, default: int, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An integer clamped to ``[minimum, maximum]``; unparseable input becomes ``default``."""
    try:
        number = int(value) if not isinstance(value, bool) else default
    except (TypeError, ValueError, OverflowError):
        number = default
    if minimum is not None:
        number = max(minimum, number)
    if maximum is not None:
        number = min(maximum, number)
    return number
