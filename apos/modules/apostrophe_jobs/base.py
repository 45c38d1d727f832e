"""What every part of the jobs module shares: its state and the tasks it owns.

``api.py`` and ``routes.py`` each add methods on top of this class, and ``module.py``
combines them, mirroring Apostrophe's ``index.js`` + ``lib/api.js`` + ``lib/routes.js``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from apos.errors import ApiError
from apos.modules.apostrophe_jobs.lease import new_owner
from apos.modules.apostrophe_module import Module

if TYPE_CHECKING:
    from apos.modules.apostrophe_jobs.job import Job
    from apos.modules.apostrophe_jobs.watcher import JobsWatcher

log = logging.getLogger("apos.jobs")


class JobsBase(Module):
    collection: Any
    """The ``aposJobs`` collection (``collection_name`` option)."""
    results_collection: Any
    """Results of jobs too large for their document (``results_collection_name``)."""
    watcher: JobsWatcher

    def construct(self) -> None:
        self.owner: dict[str, Any] = new_owner()
        """This app instance, as recorded on the jobs it runs (see :mod:`lease`)."""
        self.active_jobs: dict[str, Job] = {}
        """Jobs this process started and that have not ended."""
        self.tasks: set[asyncio.Task[Any]] = set()
        """Every background task of the module, referenced until it ends."""
        self.shutting_down = False

    def spawn(self, coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task owned by this module, not by any request: it is
        kept referenced until it ends and is never cancelled by a client going away."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    @property
    def heartbeat_interval(self) -> float:
        return float(self.options["heartbeat_interval"])

    def refuse_if_shutting_down(self) -> None:
        if self.shutting_down:
            raise ApiError("error", "The server is shutting down; try again in a moment")
