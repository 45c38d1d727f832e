"""The jobs routes: ``progress``, ``cancel`` and ``modal``.

Each takes ``{"_id": "<jobId>"}``.  Only a logged-in user may call them, and a job is
visible only to the user who started it and to admins: to anyone else it does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apos import launder
from apos.errors import ApiError
from apos.modules.apostrophe_jobs.api import JobsApi
from apos.modules.apostrophe_jobs.lease import is_interrupted
from apos.modules.apostrophe_jobs.progress import describe, percentage
from apos.modules.apostrophe_jobs.results import results_page
from apos.permissions import ADMIN, LOGGED_IN
from apos.request import AposRequest

NOT_FOUND_JOB: dict[str, Any] = {"notfound": True, "ended": True}


class JobsRoutes(JobsApi):
    """The jobs routes, on top of the API; the module class adds options and shutdown."""

    def add_routes(self) -> None:
        self.api_route("post", "progress", self.progress_route, permission=LOGGED_IN)
        self.api_route("post", "cancel", self.cancel_route, permission=LOGGED_IN)
        self.html_route("post", "modal", self.modal_route, permission=LOGGED_IN)
        self.api_route("post", "results", self.results_route, permission=LOGGED_IN)

    async def progress_route(self, req: AposRequest) -> dict[str, Any]:
        job = await self.find_visible(req, _job_id(req))
        shown = with_percentage(job) if job is not None else dict(NOT_FOUND_JOB)
        return {"job": shown, "html": self.render_progress(req, shown)}

    async def cancel_route(self, req: AposRequest) -> dict[str, Any]:
        job_id = _job_id(req)
        job = await self.find_visible(req, job_id)
        if job is None:
            raise ApiError("notfound")
        if not (job.get("canStop") or job.get("canCancel")):
            raise ApiError("invalid", "This job cannot be stopped")
        # Only a job that has not ended takes the request: the filter makes the check and
        # the write one atomic step, so a job that ends meanwhile is never marked.
        result = await self.collection.update_one({"_id": job_id, "ended": False},
                                                  {"$set": {"canceling": True}})
        if not result.matched_count:
            raise ApiError("invalid", "This job has already ended")
        return {}

    async def results_route(self, req: AposRequest) -> dict[str, Any]:
        """A page of the results of an ended job whose results did not fit its document:
        ``{"_id", "after"}`` gives ``{"results": {...}, "next": <after> or null}``."""
        job = await self.find_visible(req, _job_id(req))
        if job is None:
            raise ApiError("notfound")
        if not job.get("ended"):
            raise ApiError("invalid", "Results are available once the job has ended")
        if not job.get("resultsStored"):
            return {"results": job.get("results") or {}, "next": None}
        after = launder.integer(req.body.get("after"), default=0, minimum=0)
        page, following = await results_page(self.results_collection, job["_id"], after)
        return {"results": page, "next": following}

    async def modal_route(self, req: AposRequest) -> str:
        job = await self.find_visible(req, _job_id(req))
        shown = with_percentage(job) if job is not None else dict(NOT_FOUND_JOB)
        return self.render(req, "modal", {
            "job": shown,
            "labels": shown.get("labels") or {},
            "progress_html": self.render_progress(req, shown),
        })

    async def find_visible(self, req: AposRequest,
                           job_id: str) -> dict[str, Any] | None:
        """The job document if ``req.user`` started it or is an admin, else None."""
        job: dict[str, Any] | None = await self.collection.find_one({"_id": job_id})
        if job is None or req.user is None:
            return None
        if job.get("userId") != req.user["_id"] and not req.can(ADMIN):
            return None
        if is_interrupted(job, me=self.owner, interval=self.heartbeat_interval):
            # Its process died: whoever looks first ends it, so the browser stops waiting.
            await self.end_interrupted(job)
            job = await self.collection.find_one({"_id": job_id})
        return job

    def render_progress(self, req: AposRequest, job: Mapping[str, Any]) -> str:
        return self.render(req, "progress", {"view": describe(job)})


def with_percentage(job: Mapping[str, Any]) -> dict[str, Any]:
    return {**job, "percentage": percentage(int(job.get("processed") or 0), job.get("total"),
                                            ended=bool(job.get("ended")))}


def _job_id(req: AposRequest) -> str:
    if "_id" not in req.body:
        raise ApiError("invalid", "Send the job's _id")
    return launder.id(req.body["_id"])
