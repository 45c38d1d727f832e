"""The ``apostrophe-jobs`` module class: options, collection, assets and clean-up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

from apos.modules.apostrophe_jobs.api import JobsApi
from apos.modules.apostrophe_jobs.job import JobStatus
from apos.modules.apostrophe_jobs.routes import JobsRoutes
from apos.modules.apostrophe_jobs.watcher import StopWatcher


class JobsModule(JobsApi, JobsRoutes):
    """Runs long jobs and reports their progress to the browser.

    Options: ``collection_name`` (``aposJobs``), ``watch_interval`` (seconds between checks
    for stop requests, 0.25 as in Apostrophe) and ``shutdown_grace`` (seconds a running job
    is given to stop when the app shuts down).
    """

    name: ClassVar[str] = "apostrophe-jobs"
    folder: ClassVar[Path | None] = Path(__file__).parent
    default_options: ClassVar[dict[str, Any]] = {
        "collection_name": "aposJobs",
        "watch_interval": 0.25,
        "shutdown_grace": 5.0,
    }

    async def after_construct(self) -> None:
        self.collection = self.db[self.options["collection_name"]]
        await self.collection.create_index([("ended", 1)])
        await self.collection.create_index([("userId", 1), ("when", -1)])
        self.watcher = StopWatcher(self.collection,
                                   interval=float(self.options["watch_interval"]),
                                   on_request=self.halt, spawn=self.spawn)

    def push_assets(self) -> None:
        self.push_asset("script", "user", when="user")
        self.push_asset("stylesheet", "jobs", when="user")

    async def shutdown(self) -> None:
        """Stop every running job (each gets ``shutdown_grace`` seconds), end the ones that
        did not stop as ``failed``, then release every task."""
        self.shutting_down = True
        jobs = list(self.active_jobs.values())
        grace = float(self.options["shutdown_grace"])
        if jobs:
            halts = [self.spawn(self.halt(job), name=f"apostrophe-jobs shutdown {job.id}")
                     for job in jobs if job.stoppable and not job.stop_requested]
            if halts:
                await asyncio.wait(halts, timeout=grace)
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
