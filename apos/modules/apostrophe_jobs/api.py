"""The jobs API: ``start``, ``good``, ``bad``, ``set_total``, ``end`` and the two ways of
running work as a job, ``run`` (a batch over ids) and ``run_non_batch`` (one unit of work).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from apos import launder
from apos.errors import ApiError
from apos.ids import generate_id
from apos.modules.apostrophe_jobs.base import JobsBase
from apos.modules.apostrophe_jobs.job import Job, JobStatus, StopCallable
from apos.modules.apostrophe_jobs.lease import interruption, is_interrupted
from apos.modules.apostrophe_jobs.results import JobResults
from apos.request import AposRequest

log = logging.getLogger("apos.jobs")

ChangeFunction = Callable[[AposRequest, str], Awaitable[Any] | Any]
WorkFunction = Callable[[AposRequest, "ReportingHandle"], Awaitable[Any] | Any]
LABEL_KEYS = ("title", "instructions", "running", "completed", "failed", "canceled",
              "stopped", "canceling", "stopping", "good", "bad")


async def _call(function: Callable[..., Any], *args: Any) -> Any:
    result = function(*args)
    return await result if inspect.isawaitable(result) else result


def _labels(options: Mapping[str, Any]) -> dict[str, str]:
    given = options.get("labels") or {}
    if not isinstance(given, Mapping):
        raise TypeError("options['labels'] must be a dict of texts")
    return {key: str(given[key]) for key in LABEL_KEYS if given.get(key) is not None}


def _error_info(error: BaseException) -> dict[str, str]:
    """``{name, message}`` for the job document; an exception may name itself with an
    ``error_name`` attribute (``interrupted``) instead of its class name."""
    return {"name": str(getattr(error, "error_name", type(error).__name__)),
            "message": str(error)}


class ReportingHandle:
    """The ``reporting`` object of ``run_non_batch``: counts for one job."""

    def __init__(self, jobs: JobsApi, job: Job) -> None:
        self._jobs = jobs
        self._job = job
        self.results: dict[str, Any] | None = None

    def good(self, n: int = 1) -> Awaitable[None]:
        return self._jobs.good(self._job, n)

    def bad(self, n: int = 1) -> Awaitable[None]:
        return self._jobs.bad(self._job, n)

    def set_total(self, n: int) -> Awaitable[None]:
        return self._jobs.set_total(self._job, n)

    def set_results(self, results: dict[str, Any]) -> None:
        self.results = results

    def is_canceling(self) -> bool:
        """True once a stop or cancel was requested: stop (for cancel, undo) and return."""
        return self._job.stop_requested


class JobsApi(JobsBase):
    """The jobs API; :class:`~apos.modules.apostrophe_jobs.routes.JobsRoutes` builds on it
    and :class:`~apos.modules.apostrophe_jobs.module.JobsModule` on both."""

    # -- the low-level API ---------------------------------------------------------------

    async def start(self, options: Mapping[str, Any] | None = None) -> Job:
        """Create a job document and return its handle.

        ``options``: ``labels``; ``stop`` / ``cancel``, callables invoked with the job when a
        stop or cancel is requested (they must halt, a cancel undoing its work, before
        returning); ``can_stop`` / ``can_cancel`` for jobs whose stopping is handled
        elsewhere; ``req`` (or ``user_id``) records who started it.
        """
        options = options or {}
        self.refuse_if_shutting_down()
        stop: StopCallable | None = options.get("stop")
        cancel: StopCallable | None = options.get("cancel")
        can_cancel = bool(options.get("can_cancel") or cancel)
        # When both would be offered only cancel is: it does everything stop does.
        can_stop = bool(options.get("can_stop") or stop) and not can_cancel
        req = options.get("req")
        user_id = options.get("user_id")
        if user_id is None and isinstance(req, AposRequest) and req.user is not None:
            user_id = req.user["_id"]
        on_stop = (cancel if can_cancel and cancel else stop) or options.get("halt")
        job = Job(id=generate_id(), can_stop=can_stop, can_cancel=can_cancel,
                  user_id=user_id, on_stop=on_stop)
        now = datetime.now(UTC)
        document: dict[str, Any] = {
            "_id": job.id,
            "good": 0,
            "bad": 0,
            "processed": 0,
            "status": JobStatus.RUNNING.value,
            "ended": False,
            "canceling": False,
            "labels": _labels(options),
            "when": now,
            "canCancel": can_cancel,
            "canStop": can_stop,
            "results": None,
            "userId": user_id,
            "owner": self.owner,
            "heartbeatAt": now,
        }
        await self.collection.insert_one(document)
        await self.refuse_over_cap(job.id, user_id)
        self.active_jobs[job.id] = job
        self.watcher.watch(job)
        await self.apos.hooks.call("job_started", job=job)
        return job

    async def refuse_over_cap(self, job_id: str, user_id: str | None) -> None:
        """One user may run at most ``max_running_per_user`` jobs at once: a job is a
        long-lived cost on the server, and nobody needs dozens at the same time.

        Checked just after the job's document is inserted, against the user's running jobs
        in start order, so that requests arriving together cannot all pass a count made
        before any of them inserted; a job over the cap is deleted and refused."""
        limit = self.options.get("max_running_per_user")
        if user_id is None or limit is None:
            return
        running = await self.collection.find({"userId": user_id, "ended": False},
                                             {"when": 1}).to_list(None)
        order = [doc["_id"] for doc in sorted(running, key=lambda d: (d["when"], d["_id"]))]
        ahead = order.index(job_id) if job_id in order else len(order)
        if ahead >= int(limit):
            await self.collection.delete_one({"_id": job_id})
            raise ApiError("invalid", f"You already have {ahead} jobs running; wait for one "
                           "of them to end")

    def good(self, job: Job, n: int = 1) -> Awaitable[None]:
        """Count ``n`` items done; returns an awaitable that completes once written."""
        return self._count(job, good=_count_arg(n), bad=0)

    def bad(self, job: Job, n: int = 1) -> Awaitable[None]:
        """Count ``n`` items failed; returns an awaitable that completes once written."""
        return self._count(job, good=0, bad=_count_arg(n))

    def set_total(self, job: Job, n: int) -> Awaitable[None]:
        """Record how many items the job expects; returns an awaitable like ``good``."""
        total = _count_arg(n)
        if job.ended:
            return _already_done()
        job.pending_total = total
        return self._schedule_write(job)

    async def end(self, job: Job, success: bool,
                  results: Mapping[str, Any] | None = None) -> None:
        """End the job ``completed`` (``success=True``) or ``failed``."""
        if not isinstance(success, bool):
            raise TypeError(f"end() needs success=True or False, not {success!r}")
        await self.finish(job, JobStatus.COMPLETED if success else JobStatus.FAILED,
                          results=results)

    # -- running work as a job ------------------------------------------------------------

    async def run(self, req: AposRequest, change: ChangeFunction,
                  options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Apply ``change(req, id)`` to each id of the request; the api answer to return.

        With ``job`` in the body the answer is ``{"jobId"}`` at once and the ids are
        processed in the background; without it every id is processed first and the answer
        carries ``data`` and ``results`` (Apostrophe's older behaviour).
        """
        options = options or {}
        ids = self.ids_from_body(req.body)
        concurrency = launder.integer(options.get("concurrency"), default=1, minimum=1,
                                      maximum=64)
        if not launder.boolean(req.body.get("job"), "job"):
            results: dict[str, Any] = {}
            await self._process_ids(req, ids, change, results, concurrency, halted=None)
            single = ids[0] if len(ids) == 1 and "_id" in req.body else None
            data = results.get(single) if single is not None else None
            return {"data": data if data is not None else {}, "results": results}
        halted = asyncio.Event()
        drained = asyncio.Event()

        async def stop(job: Job) -> None:
            halted.set()
            await drained.wait()

        job = await self.start({**_without_stop_options(options), "req": req, "stop": stop})
        job.results = JobResults(self.results_collection, job.id,
                                 int(self.options["results_budget"]))
        await self.set_total(job, len(ids))
        self.spawn(self._run_batch(req, job, ids, change, concurrency, halted, drained),
                   name=f"apostrophe-jobs run {job.id}")
        return {"jobId": job.id}

    async def run_non_batch(self, req: AposRequest, do_the_work: WorkFunction,
                            options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run ``do_the_work(req, reporting)`` as a job; the answer is ``{"jobId"}`` at once.

        ``options['can_stop']`` / ``options['can_cancel']`` offer the button; the work sees
        the request through ``reporting.is_canceling()`` and must then stop and return."""
        options = options or {}
        done = asyncio.Event()
        failure: list[BaseException] = []

        async def stop(job: Job) -> None:
            await done.wait()
            if failure:
                raise failure[0]

        start_options = _without_stop_options(options)
        start_options["req"] = req
        if options.get("can_cancel"):
            start_options["cancel"] = stop
        elif options.get("can_stop"):
            start_options["stop"] = stop
        else:
            start_options["halt"] = stop  # no button, but a shutdown still asks it to stop
        job = await self.start(start_options)
        reporting = ReportingHandle(self, job)
        self.spawn(self._run_work(req, job, do_the_work, reporting, done, failure),
                   name=f"apostrophe-jobs run_non_batch {job.id}")
        return {"jobId": job.id}

    def ids_from_body(self, body: Mapping[str, Any]) -> list[str]:
        """The ids to process: ``_id`` (kept for old clients, it wins) or ``ids``."""
        if body.get("_id") is not None:
            return [launder.id(body["_id"])]
        if "ids" in body:
            return launder.ids(body["ids"], max_ids=self.apos.max_ids)
        raise ApiError("invalid", "Send ids (a list) or _id")

    # -- implementation -------------------------------------------------------------------

    async def _process_ids(self, req: AposRequest, ids: list[str],
                           change: ChangeFunction, results: dict[str, Any], concurrency: int,
                           halted: asyncio.Event | None, job: Job | None = None) -> None:
        pending = iter(ids)

        async def worker() -> None:
            for item_id in pending:
                if halted is not None and halted.is_set():
                    return
                if job is not None and job.write_error is not None:
                    raise job.write_error
                try:
                    result = await _call(change, req, item_id)
                except Exception as error:
                    # Failed items are expected (a piece deleted meanwhile, an id of another
                    # type): details at debug level, one summary line when the job ends, so
                    # 100,000 bad ids cannot flood the log.
                    log.debug("Job item %s failed", item_id, exc_info=True)
                    if job is not None:
                        job.failures += 1
                        job.first_failure = job.first_failure or (
                            f"{item_id}: {type(error).__name__}: {error}")
                    if job is not None:
                        self.bad(job)  # written in the background, coalesced, in order
                    continue
                if job is None:
                    results[item_id] = result
                    continue
                if job.results is not None:
                    await job.results.add(item_id, result)
                self.good(job)

        # A failure outside the per-item work (a count that cannot be written) ends every
        # worker: the job is failing, and no item may be changed after it is marked so.
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, max(len(ids), 1))):
                group.create_task(worker())
        if job is not None and job.write_error is not None:
            raise job.write_error

    async def _run_batch(self, req: AposRequest, job: Job, ids: list[str],
                         change: ChangeFunction, concurrency: int, halted: asyncio.Event,
                         drained: asyncio.Event) -> None:
        try:
            await self._process_ids(req, ids, change, {}, concurrency, halted, job)
        except Exception as error:
            log.exception("Job %s failed", job.id)
            drained.set()
            await self.finish(job, JobStatus.FAILED, error=_first_cause(error))
            return
        drained.set()
        if not job.stop_requested:
            await self.finish(job, JobStatus.COMPLETED)

    async def _run_work(self, req: AposRequest, job: Job, work: WorkFunction,
                        reporting: ReportingHandle, done: asyncio.Event,
                        failure: list[BaseException]) -> None:
        try:
            await _call(work, req, reporting)
        except Exception as error:
            log.exception("Job %s failed", job.id)
            failure.append(error)
            done.set()
            if not job.stop_requested:
                await self.finish(job, JobStatus.FAILED, error=error)
            return
        done.set()
        if not job.stop_requested:
            await self.finish(job, JobStatus.COMPLETED, results=reporting.results)

    def _count(self, job: Job, *, good: int, bad: int) -> Awaitable[None]:
        if job.ended:
            return _already_done()
        job.pending_good += good
        job.pending_bad += bad
        return self._schedule_write(job)

    def _schedule_write(self, job: Job) -> Awaitable[None]:
        """Join the write that has not yet taken the pending changes, or start one: a burst
        of counts becomes a few writes, each in order behind the job's lock."""
        if job.flush_waiting is None:
            job.flush_waiting = self.spawn(self._flush_counts(job),
                                           name=f"apostrophe-jobs counts {job.id}")
        return job.flush_waiting

    async def _flush_counts(self, job: Job) -> None:
        async with job.lock:
            job.flush_waiting = None
            if job.ended:
                return
            update = _take_counts(job)
            if not update:
                return
            try:
                await self.collection.update_one({"_id": job.id}, update)
            except Exception as error:
                # Put the counts back for the final write, and let the work notice.
                job.pending_good += update.get("$inc", {}).get("good", 0)
                job.pending_bad += update.get("$inc", {}).get("bad", 0)
                job.write_error = error
                raise

    async def finish(self, job: Job, status: JobStatus, *,
                     results: Mapping[str, Any] | None = None,
                     error: BaseException | None = None) -> bool:
        """Write the job's final state once; later calls do nothing and return False.

        Counts not yet written go into the same final write, so none is lost and none
        lands after it.  If that write fails (results too large, say) the job is still
        ended, as ``failed`` without results, rather than left running.
        """
        async with job.lock:
            if job.ended:
                return False
            job.ended = True
            job.status = status
            try:
                await self._write_final(job, status, results, error)
            finally:
                # Whatever happened to the write, this process is done with the job.
                self.active_jobs.pop(job.id, None)
                self.watcher.forget(job)
                job.finished.set()
        if job.failures:
            log.info("Job %s: %d item(s) failed; the first: %s", job.id, job.failures,
                     job.first_failure)
        await self.apos.hooks.call("job_ended", job=job, status=job.status.value)
        return True

    async def _write_final(self, job: Job, status: JobStatus,
                           results: Mapping[str, Any] | None,
                           error: BaseException | None) -> None:
        update = _take_counts(job)
        now = datetime.now(UTC)
        expires_at = self.expiry(now)
        final: dict[str, Any] = {
            "status": status.value,
            "ended": True,
            "canceling": False,
            "endedAt": now,
            "results": dict(results) if results is not None else None,
        }
        if expires_at is not None:
            final["expiresAt"] = expires_at
        if error is not None:
            final["error"] = _error_info(error)
        if job.stop_reason is not None:
            final["stopReason"] = job.stop_reason
        try:
            if results is None and job.results is not None:
                final.update(await job.results.finish(expires_at))
            update["$set"] = {**update.get("$set", {}), **final}
            await self.collection.update_one({"_id": job.id}, update)
            return
        except Exception as write_error:  # too large, not encodable, connection lost...
            log.exception("Job %s: the final write failed; ending it as failed", job.id)
            job.status = JobStatus.FAILED
            final.update(status=JobStatus.FAILED.value, results=None,
                         error=_error_info(write_error))
            update["$set"] = {**update.get("$set", {}), **final}
        try:
            await self.collection.update_one({"_id": job.id}, update)
        except Exception:
            log.exception("Job %s: could not record its end; it will be found interrupted",
                          job.id)

    def expiry(self, ended_at: datetime) -> datetime | None:
        """When an ended job (and its side results) may be deleted; None keeps it."""
        retention = self.options.get("retention_seconds")
        if retention is None:
            return None
        return ended_at + timedelta(seconds=float(retention))

    async def halt(self, job: Job) -> None:
        """Honour a stop or cancel request: run the job's stop callable, then end it
        ``stopped`` / ``canceled``, or ``failed`` if the callable raised."""
        job.stop_requested = True
        try:
            if job.on_stop is not None:
                await _call(job.on_stop, job)
        except Exception as error:
            log.exception("Job %s: stopping it failed", job.id)
            await self.finish(job, JobStatus.FAILED, error=error)
            return
        await self.finish(job, job.halt_status)

    # -- leases ---------------------------------------------------------------------------

    async def beat(self, job_ids: list[str]) -> bool:
        """Refresh the heartbeat of this app's running jobs (one write for all of them),
        then end other processes' interrupted jobs.  Whether other processes still have
        running jobs to keep an eye on."""
        if job_ids:
            await self.collection.update_many({"_id": {"$in": job_ids}},
                                              {"$set": {"heartbeatAt": datetime.now(UTC)}})
        return await self.end_interrupted_jobs()

    async def end_interrupted_jobs(self) -> bool:
        """End, as ``failed``/``interrupted``, every running job whose process died.
        Whether other processes' jobs are still running (alive, as far as we know)."""
        running: list[dict[str, Any]] = await self.collection.find(
            {"ended": False}, {"owner": 1, "heartbeatAt": 1, "when": 1, "ended": 1}
        ).to_list(None)
        others_alive = False
        for job in running:
            if (job.get("owner") or {}).get("id") == self.owner["id"]:
                continue
            if is_interrupted(job, me=self.owner, interval=self.heartbeat_interval):
                await self.end_interrupted(job)
            else:
                others_alive = True
        return others_alive

    async def end_interrupted(self, job: Mapping[str, Any]) -> bool:
        """End one interrupted job, unless its owner refreshed its heartbeat meanwhile."""
        now = datetime.now(UTC)
        result = await self.collection.update_one(
            {"_id": job["_id"], "ended": False, "heartbeatAt": job.get("heartbeatAt")},
            {"$set": interruption(now, self.expiry(now))})
        if result.modified_count:
            log.warning("Job %s was interrupted (its process stopped); ended it as failed",
                        job["_id"])
            await self.results_collection.update_many(
                {"jobId": job["_id"]}, {"$set": {"expiresAt": self.expiry(now)}})
        return bool(result.modified_count)


def _first_cause(error: Exception) -> Exception:
    """The first real error inside an exception group, for the job's ``error`` field."""
    while isinstance(error, ExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _without_stop_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's options minus those that decide how the job stops: ``run`` and
    ``run_non_batch`` supply their own."""
    return {key: value for key, value in options.items()
            if key not in ("stop", "cancel", "can_stop", "can_cancel")}


def _take_counts(job: Job) -> dict[str, Any]:
    """The pending counts (and total) as one update, leaving nothing pending."""
    good, bad, total = job.pending_good, job.pending_bad, job.pending_total
    job.pending_good = job.pending_bad = 0
    job.pending_total = None
    update: dict[str, Any] = {}
    if good or bad:
        update["$inc"] = {"good": good, "bad": bad, "processed": good + bad}
    if total is not None:
        update["$set"] = {"total": total}
    return update


def _count_arg(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise TypeError(f"a count must be a whole number of 0 or more, not {n!r}")
    return n


def _already_done() -> Awaitable[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future
