"""Document ids in Apostrophe's shape: 25 lowercase alphanumerics starting with ``c``."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 25


def generate_id() -> str:
    """A new id: ``c`` plus 24 characters drawn from a cryptographic source.

    Apostrophe's cuid mixes a timestamp, a counter and ``Math.random``; the shape is kept so
    that ids look familiar and pass the same laundering, but nothing in them is guessable.
    """
    return "c" + "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH - 1))
