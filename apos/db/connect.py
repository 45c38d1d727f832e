"""Open the app's database connection, or explain in one sentence why it cannot be opened.

Start-up problems become :class:`~apos.errors.StartupError` messages that the CLI prints
as they are, so they must be readable on their own and must never show a password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pymongo import AsyncMongoClient
from pymongo.errors import ConfigurationError

from apos.db.embedded import EmbeddedServer, discard_abandoned_sockets, ping_failure
from apos.errors import StartupError

URI_ENV_VAR = "APOS_MONGODB_URI"
DEFAULT_DB_NAME = "apos"
MASK = "***"

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>.*)$", re.DOTALL)
# Query options that carry secrets of their own, e.g. tlsCertificateKeyFilePassword, and
# the AWS session token that may ride inside authMechanismProperties.
_SECRET_OPTION = re.compile(r"(?i)([?&][^=&]*(?:password|secret|token)[^=&]*=)[^&]*")
_AWS_TOKEN = re.compile(r"(?i)(AWS_SESSION_TOKEN(?::|%3A))[^,&]*")


@dataclass
class DatabaseConnection:
    """The database an app uses, and what must be shut down with it.

    ``client`` is ``None`` when the app was handed a database by its caller, who then
    remains responsible for closing it.
    """

    client: AsyncMongoClient[dict[str, Any]] | None
    # Any: besides pymongo's AsyncDatabase, a caller may hand in a motor database, which
    # ships without type information; code using ``db`` relies only on the API both share.
    db: Any
    uri_for_display: str
    embedded: EmbeddedServer | None = None
    _closed: bool = field(default=False, init=False, repr=False)

    async def close(self) -> None:
        """Close our client, then stop using the embedded server, if any.

        That stops the server itself only when no other apos process uses it any more
        (see :meth:`EmbeddedServer.stop`). It goes last so that nothing still talking to
        it sees it disappear.
        Calling this again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self.client is not None:
                await self.client.close()
        finally:
            if self.embedded is not None:
                await self.embedded.stop()


async def connect_database(
    *, uri: str | None, data_dir: Path, db_name: str | None = None, timeout_ms: int = 5000,
    default_db_name: str = DEFAULT_DB_NAME,
) -> DatabaseConnection:
    """Connect to ``uri``, else ``$APOS_MONGODB_URI``, else an embedded server in ``data_dir``.

    The database is ``db_name`` if given, else the one named in the URI, else
    ``default_db_name`` (the app's shortname, as in Apostrophe).
    The client is created here, on the running event loop, never at import time: pymongo's
    async client belongs to the loop it was first used on.
    """
    if uri is None:
        uri = os.environ.get(URI_ENV_VAR) or None
    embedded: EmbeddedServer | None = None
    if uri is None:
        embedded = EmbeddedServer(data_dir)
        uri = await embedded.ensure_running()
    try:
        client = await _open_client(uri, timeout_ms)
    except BaseException:
        if embedded is not None:
            await embedded.stop()
        raise
    database = client[db_name] if db_name else client.get_default_database(default_db_name)
    return DatabaseConnection(
        client=client, db=database, uri_for_display=redact_uri(uri), embedded=embedded
    )


async def _open_client(uri: str, timeout_ms: int) -> AsyncMongoClient[dict[str, Any]]:
    """A client whose server has answered ``ping``, or a :class:`StartupError`.

    Errors are raised ``from None``: the driver's own exception may quote the URI, and its
    traceback would keep the failed client (and the socket it may have left open) alive.
    """
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=timeout_ms, tz_aware=True
        )
    except (ConfigurationError, ValueError) as exc:
        reason = _scrub(str(exc), uri)
        raise StartupError(f"The database URI {redact_uri(uri)} is not valid: {reason}") from None
    try:
        reason_or_none = await ping_failure(client)
    except BaseException:
        await client.close()
        raise
    if reason_or_none is None:
        return client
    await client.close()
    del client
    discard_abandoned_sockets()
    reason = _scrub(reason_or_none, uri)
    raise StartupError(f"Cannot reach the database at {redact_uri(uri)}: {reason}")


def redact_uri(uri: str) -> str:
    """``uri`` with its password (and any secret query option) replaced by ``***``.

    The credentials are taken to end at the *last* ``@``: a password typed with an
    unescaped ``@`` or ``/`` is then still hidden whole. The rule errs towards hiding too
    much, which is harmless in a message, rather than too little.
    """
    scheme, user, password, rest = _split_credentials(uri)
    if password is not None:
        rest = f"{user}:{MASK}@{rest}"
    elif user is not None:
        rest = f"{user}@{rest}"
    rest = _SECRET_OPTION.sub(rf"\g<1>{MASK}", rest)
    rest = _AWS_TOKEN.sub(rf"\g<1>{MASK}", rest)
    return scheme + rest


def _split_credentials(uri: str) -> tuple[str, str | None, str | None, str]:
    """``(scheme, user, password, rest)``; user and password are ``None`` when absent."""
    match = _SCHEME.match(uri)
    scheme, rest = (match["scheme"], match["rest"]) if match else ("", uri)
    userinfo, at, after = rest.rpartition("@")
    if not at:
        return scheme, None, None, rest
    user, colon, password = userinfo.partition(":")
    return scheme, user, (password if colon else None), after


def _scrub(text: str, uri: str) -> str:
    """Remove the URI's password from a driver message, in case the driver quoted it."""
    _scheme, _user, password, _rest = _split_credentials(uri)
    for form in {password or "", unquote(password or "")}:
        if form:
            text = text.replace(form, MASK)
    return text
