"""The in-process handle of a running job.

The job's truth is its ``aposJobs`` document; the handle holds what only the running
process has: the callable that halts the work, the counters not yet written, and the lock
that keeps every write of this job in order so that nothing lands after the final write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from apos.modules.apostrophe_jobs.results import JobResults


class JobStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELED = "canceled"


StopCallable = Callable[["Job"], Awaitable[None] | None]
"""Halts a job's work (a cancel also undoes it) before returning."""


@dataclass(eq=False)
class Job:
    """A job started by this process and not yet ended."""

    id: str
    can_stop: bool
    can_cancel: bool
    user_id: str | None = None
    on_stop: StopCallable | None = None
    """Halts the work (a cancel also undoes it), when a stop or cancel is requested or the
    app shuts down; the job ends once it returns."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    pending_good: int = 0
    pending_bad: int = 0
    pending_total: int | None = None
    ended: bool = False
    stop_requested: bool = False
    failures: int = 0
    """Items whose change raised (logged once, as a summary, when the job ends)."""
    first_failure: str | None = None
    stop_reason: str | None = None
    """Why it was asked to stop: ``request`` (the Stop/Cancel button, from any process) or
    ``shutdown`` (the app is stopping); recorded as ``stopReason``."""
    status: JobStatus = JobStatus.RUNNING
    results: JobResults | None = field(default=None, repr=False)
    """Results gathered so far by ``run`` (kept with the job if it is stopped part-way)."""
    write_error: BaseException | None = field(default=None, repr=False)
    """A count that could not be written: the job's work stops and the job fails."""
    finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set once the final document is written."""
    flush_waiting: asyncio.Task[None] | None = field(default=None, repr=False)
    """The counter write that has not yet taken the pending counts: new counts join it."""

    async def wait(self) -> JobStatus:
        """Wait until the job's final document is written; its final status."""
        await self.finished.wait()
        return self.status

    @property
    def stoppable(self) -> bool:
        return self.can_stop or self.can_cancel

    @property
    def halt_status(self) -> JobStatus:
        """What a stop request ends this job as."""
        return JobStatus.CANCELED if self.can_cancel else JobStatus.STOPPED


class Reporting(Protocol):
    """What ``run_non_batch`` hands the work function for reporting progress.

    The counting methods take effect at once and return an awaitable that completes when
    the count is written: an async work function may await it, a sync one need not.
    """

    def good(self, n: int = 1) -> Awaitable[None]: ...

    def bad(self, n: int = 1) -> Awaitable[None]: ...

    def set_total(self, n: int) -> Awaitable[None]: ...

    def set_results(self, results: dict[str, Any]) -> None: ...

    def is_canceling(self) -> bool: ...
