"""Noticing stop and cancel requests, whichever process made them.

The ``cancel`` route only sets ``canceling: true`` on the job document, so that any
process can ask.  The process running the job finds out here: one task per app watches all
of its stoppable jobs with a single query per interval, and exits when it has none, so an
idle app makes no queries at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apos.modules.apostrophe_jobs.job import Job

log = logging.getLogger("apos.jobs")


class StopWatcher:
    """Polls the job documents of this process's stoppable jobs for ``canceling``."""

    def __init__(self, collection: Any, *, interval: float,
                 on_request: Callable[[Job], Awaitable[None]],
                 spawn: Callable[..., asyncio.Task[Any]]) -> None:
        self._collection = collection
        self._interval = interval
        self._on_request = on_request
        self._spawn = spawn
        self._jobs: dict[str, Job] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        """Set to end the wait between checks early (nothing left to watch, or closing):
        the loop is woken, never cancelled, so no query is cut off half-way."""

    @property
    def running(self) -> bool:
        return self._task is not None

    def watch(self, job: Job) -> None:
        self._jobs[job.id] = job
        if self._task is None:
            self._task = self._spawn(self._loop(), name="apostrophe-jobs stop watcher")

    def forget(self, job: Job) -> None:
        """Stop watching ``job``; with nothing left to watch the loop ends at once."""
        self._jobs.pop(job.id, None)
        if not self._jobs:
            self._wake.set()

    async def close(self) -> None:
        task = self._task
        self._jobs.clear()
        self._wake.set()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        try:
            while self._jobs:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._interval)
                except TimeoutError:
                    pass
                if self._jobs:
                    await self._check()
        finally:
            # Reset without awaiting in between, so a job watched from now on starts a new
            # loop rather than joining one that is exiting.
            if self._task is asyncio.current_task():
                self._task = None

    async def _check(self) -> None:
        waiting = [job_id for job_id, job in self._jobs.items() if not job.stop_requested]
        if not waiting:
            return
        try:
            requested = await self._collection.find(
                {"_id": {"$in": waiting}, "canceling": True}, {"_id": 1}
            ).to_list(None)
        except Exception:
            log.warning("Could not check jobs for stop requests; trying again", exc_info=True)
            return
        for document in requested:
            job = self._jobs.get(document["_id"])
            if job is not None and not job.stop_requested:
                job.stop_requested = True
                self._spawn(self._on_request(job), name=f"apostrophe-jobs halt {job.id}")
