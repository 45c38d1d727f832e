"""The database layer: one place that decides which MongoDB-compatible server apos talks to.

Either a server the user points at (``--db-uri`` / ``APOS_MONGODB_URI``), or an embedded
one that apos starts itself so that a fresh checkout runs without installing MongoDB.
"""

from __future__ import annotations

from apos.db.connect import DatabaseConnection, connect_database
from apos.db.embedded import EmbeddedServer

__all__ = ["DatabaseConnection", "EmbeddedServer", "connect_database"]
