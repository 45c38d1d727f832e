"""Leases: which process runs a job, and how any process can tell that it died.

A running job records its ``owner`` (an id for the app instance, plus host and pid) and a
``heartbeatAt`` time the owner refreshes.  A job whose heartbeat is older than three
intervals, or whose owner on this same host is no longer alive, was interrupted: its
process died without ending it.  Any process may then end it ``failed`` with the error
``interrupted``, keeping the counts it had written.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from apos.ids import generate_id

STALE_AFTER_INTERVALS = 3
INTERRUPTED = "interrupted"


def new_owner() -> dict[str, Any]:
    """This app instance's identity, recorded on the jobs it runs."""
    return {"id": generate_id(), "host": socket.gethostname(), "pid": os.getpid()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_interrupted(job: Mapping[str, Any], *, me: Mapping[str, Any], interval: float,
                   now: datetime | None = None) -> bool:
    """Whether a running job's owner is gone (never true for our own jobs)."""
    if job.get("ended"):
        return False
    owner = job.get("owner") or {}
    if owner.get("id") == me["id"]:
        return False
    if owner.get("host") == me["host"] and isinstance(owner.get("pid"), int):
        if owner["pid"] != me["pid"] and not _process_alive(owner["pid"]):
            return True
    heartbeat = job.get("heartbeatAt") or job.get("when")
    if not isinstance(heartbeat, datetime):
        return False
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return now - heartbeat > timedelta(seconds=interval * STALE_AFTER_INTERVALS)


def interruption(now: datetime, expires_at: datetime | None) -> dict[str, Any]:
    """The final fields of an interrupted job."""
    fields: dict[str, Any] = {
        "status": "failed",
        "ended": True,
        "canceling": False,
        "endedAt": now,
        "error": {"name": INTERRUPTED,
                  "message": "The process running this job stopped before the job ended"},
    }
    if expires_at is not None:
        fields["expiresAt"] = expires_at
    return fields
