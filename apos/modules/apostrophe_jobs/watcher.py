"""The one background task of each app that looks after its running jobs.

Every ``watch_interval`` (a quarter second, as in Apostrophe) it asks the database whether
someone requested a stop or cancel of one of its stoppable jobs: the ``cancel`` route only
sets ``canceling: true`` on the job document, so the request may come from any process.
Every ``heartbeat_interval`` it refreshes the heartbeat of all its jobs in one write and
looks for jobs whose process died (see :mod:`lease`).  With no job of its own running and
none of another process's to keep an eye on, the task ends: an idle app makes no queries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apos.modules.apostrophe_jobs.job import Job

log = logging.getLogger("apos.jobs")

BeatFunction = Callable[[list[str]], Awaitable[bool]]
"""Refreshes the heartbeat of these job ids and looks for interrupted jobs; returns whether
other processes still have running jobs worth watching."""


class JobsWatcher:
    """Stop requests, heartbeats and interrupted jobs, for one app instance."""

    def __init__(self, collection: Any, *, interval: float, heartbeat_interval: float,
                 on_request: Callable[[Job], Awaitable[None]], beat: BeatFunction,
                 spawn: Callable[..., asyncio.Task[Any]]) -> None:
        self._collection = collection
        self._interval = interval
        self._heartbeat_interval = heartbeat_interval
        self._on_request = on_request
        self._beat = beat
        self._spawn = spawn
        self._jobs: dict[str, Job] = {}
        self._others_running = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        """Set to end the wait between checks early (nothing left to watch, or closing):
        the loop is woken, never cancelled, so no query is cut off half-way."""
        self._closed = False

    @property
    def running(self) -> bool:
        return self._task is not None

    def watch(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._ensure_running()

    def watch_others(self) -> None:
        """Other processes have running jobs: keep checking their heartbeats."""
        self._others_running = True
        self._ensure_running()

    def forget(self, job: Job) -> None:
        """Stop watching ``job``; with nothing left to watch the loop ends at once."""
        self._jobs.pop(job.id, None)
        if not self._busy():
            self._wake.set()

    async def close(self) -> None:
        self._closed = True
        self._jobs.clear()
        self._others_running = False
        self._wake.set()
        task = self._task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def _busy(self) -> bool:
        return bool(self._jobs) or self._others_running

    def _ensure_running(self) -> None:
        if self._task is None and not self._closed:
            self._task = self._spawn(self._loop(), name="apostrophe-jobs watcher")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self._heartbeat_interval
        try:
            while self._busy():
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._interval)
                except TimeoutError:
                    pass
                if not self._busy():
                    break
                await self._check_stop_requests()
                if loop.time() >= next_beat:
                    next_beat = loop.time() + self._heartbeat_interval
                    try:
                        self._others_running = await self._beat(list(self._jobs))
                    except Exception:
                        log.warning("Could not refresh job heartbeats; trying again",
                                    exc_info=True)
        finally:
            # Reset without awaiting in between, so a job watched from now on starts a new
            # loop rather than joining one that is exiting.
            if self._task is asyncio.current_task():
                self._task = None

    async def _check_stop_requests(self) -> None:
        waiting = [job_id for job_id, job in self._jobs.items()
                   if job.stoppable and not job.stop_requested]
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
                job.stop_reason = "request"
                self._spawn(self._on_request(job), name=f"apostrophe-jobs halt {job.id}")
