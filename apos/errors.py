"""Errors the framework raises on purpose, each with a message meant for people."""

from __future__ import annotations


class StartupError(Exception):
    """A readable problem found at start-up; the CLI prints its message without a traceback."""


class ApiError(Exception):
    """Raised (or returned) by an api route handler to answer ``{"status": code}``.

    ``code`` is one of the contract's status codes (``invalid``, ``notfound``, ``forbidden``,
    ``error``, ``unique``); ``message`` is an optional human text sent alongside it.
    """

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message
