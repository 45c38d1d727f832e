"""The ``apostrophe-jobs`` module class: options, collections, assets and shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

from apos.modules.apostrophe_jobs.job import JobStatus
from apos.modules.apostrophe_jobs.routes import JobsRoutes
from apos.modules.apostrophe_jobs.watcher import JobsWatcher

SEVEN_DAYS = 7 * 24 * 3600


class JobsModule(JobsRoutes):
    """Runs long jobs and reports their progress to the browser.

    Options:

    - ``collection_name`` (``aposJobs``) and ``results_collection_name``
      (``aposJobResults``, for results too large for the job document);
    - ``watch_interval``: seconds between checks for stop requests (0.25, as Apostrophe);
    - ``heartbeat_interval``: seconds between heartbeats of running jobs (5); a job whose
      heartbeat is three intervals old is taken as interrupted;
    - ``shutdown_grace``: seconds running jobs get to stop when the app shuts down (5);
    - ``results_budget``: bytes of results kept in the job document (4 MB);
    - ``retention_seconds``: how long an ended job is kept (7 days; None keeps it forever);
    - ``max_running_per_user``: jobs one user may have running at once (10; None: no cap).
    """

    name: ClassVar[str] = "apostrophe-jobs"
    folder: ClassVar[Path | None] = Path(__file__).parent
    default_options: ClassVar[dict[str, Any]] = {
        "collection_name": "aposJobs",
        "results_collection_name": "aposJobResults",
        "watch_interval": 0.25,
        "heartbeat_interval": 5.0,
        "shutdown_grace": 5.0,
        "results_budget": 4 * 1024 * 1024,
        "retention_seconds": SEVEN_DAYS,
        "max_running_per_user": 10,
    }

    async def after_construct(self) -> None:
        self.collection = self.db[self.options["collection_name"]]
        self.results_collection = self.db[self.options["results_collection_name"]]
        await self.collection.create_index([("ended", 1)])
        await self.collection.create_index([("userId", 1), ("when", -1)])
        # Ended jobs expire; running ones have no expiresAt and never do.
        await self.collection.create_index("expiresAt", expireAfterSeconds=0)
        await self.results_collection.create_index([("jobId", 1), ("n", 1)])
        await self.results_collection.create_index("expiresAt", expireAfterSeconds=0)
        self.watcher = JobsWatcher(self.collection,
                                   interval=float(self.options["watch_interval"]),
                                   heartbeat_interval=self.heartbeat_interval,
                                   on_request=self.halt, beat=self.beat, spawn=self.spawn)

    async def after_init(self) -> None:
        """Jobs left running by a process that died are ended now; live ones elsewhere are
        watched until they end or their process is found dead."""
        if await self.end_interrupted_jobs():
            self.watcher.watch_others()

    def push_assets(self) -> None:
        self.push_asset("script", "user", when="user")
        self.push_asset("stylesheet", "jobs", when="user")

    async def shutdown(self) -> None:
        """Refuse new jobs, ask every running job to stop, give them ``shutdown_grace``
        seconds, end the ones still running as ``failed``/``interrupted``, then release
        every task."""
        self.shutting_down = True
        jobs = list(self.active_jobs.values())
        grace = float(self.options["shutdown_grace"])
        for job in jobs:
            if job.on_stop is not None and not job.stop_requested:
                job.stop_reason = "shutdown"
                self.spawn(self.halt(job), name=f"apostrophe-jobs shutdown {job.id}")
            job.stop_requested = True  # reporting.is_canceling() is now true
        if jobs:
            waits = [asyncio.ensure_future(job.finished.wait()) for job in jobs]
            _, late = await asyncio.wait(waits, timeout=grace)
            for waiter in late:
                waiter.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for job in jobs:
            if not job.ended:
                await self.finish(job, JobStatus.FAILED, error=Interrupted(
                    "The server shut down before the job could stop"))
        await self.watcher.close()
        remaining = [task for task in self.tasks if task is not asyncio.current_task()]
        for task in remaining:
            task.cancel()
        await asyncio.gather(*remaining, return_exceptions=True)


class Interrupted(Exception):
    """The job's process stopped before the job could end on its own."""

    error_name = "interrupted"
