"""Request bodies: JSON or form-encoded, at most 16 MB (Apostrophe's limit)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from apos.errors import ApiError

MAX_BODY_BYTES = 16 * 1024 * 1024


class BodyTooLarge(ApiError):
    def __init__(self) -> None:
        super().__init__("toolarge", "The request body is larger than 16 MB")


async def read_body(request: web.Request) -> dict[str, Any]:
    """The body as a dict; an empty dict when there is none.

    Raises :class:`BodyTooLarge` past the limit and ``ApiError('invalid')`` for a body that
    is not a JSON object or a form.
    """
    if not request.can_read_body:
        return {}
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BodyTooLarge()
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as error:
        raise BodyTooLarge() from error
    if not raw:
        return {}
    if request.content_type == "application/x-www-form-urlencoded":
        return _form_fields(raw)
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ApiError("invalid", "The request body is not valid JSON") from error
    if not isinstance(parsed, dict):
        raise ApiError("invalid", "The request body must be a JSON object")
    return parsed


def _form_fields(raw: bytes) -> dict[str, Any]:
    """Form fields; a name sent more than once becomes a list, as in a JSON body."""
    fields: dict[str, Any] = {}
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise ApiError("invalid", "The form is not valid UTF-8") from error
    for key, value in pairs:
        if key in fields:
            previous = fields[key]
            fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[key] = value
    return fields
