"""apostrophe-jobs: run, run_non_batch and the low-level API, through real HTTP and a real
database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import StartApp, csrf_token, post_json
from tests.jobs_helpers import (
    assert_consistent_end,
    jobs_of,
    post_ok,
    start_jobs_site,
    wait_for_end,
    wait_until_processed,
)


async def test_run_answers_at_once_then_completes_with_results(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    ids = [f"w{i}" for i in range(20)]
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": ids, "job": True, "delay": 0.02})
    assert set(answer) == {"status", "jobId"}
    running = await apos.db["aposJobs"].find_one({"_id": answer["jobId"]})
    assert running["ended"] is False and running["status"] == "running"
    assert running["total"] == 20 and running["canStop"] is True
    assert running["canCancel"] is False
    assert running["labels"] == {"title": "Processing widgets"}
    job = await wait_for_end(apos, answer["jobId"])
    assert_consistent_end(job)
    assert job["status"] == "completed"
    assert job["good"] == 20 and job["bad"] == 0 and job["processed"] == job["total"] == 20
    assert job["results"] == {item: {"_id": item, "n": n + 1} for n, item in enumerate(ids)}
    user = await apos.db["aposUsers"].find_one({"username": "editor"})
    assert job["userId"] == user["_id"]
    assert job["when"] <= job["endedAt"]
    assert "error" not in job


async def test_a_change_that_fails_every_other_item_counts_exactly(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": [f"x{i}" for i in range(31)], "job": True, "failEvery": 2})
    job = await wait_for_end(apos, answer["jobId"])
    assert_consistent_end(job)
    assert (job["status"], job["good"], job["bad"], job["processed"]) == (
        "completed", 16, 15, 31)
    assert len(job["results"]) == 16


async def test_concurrency_processes_every_item_once(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    ids = [f"c{i}" for i in range(40)]
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": ids, "job": True, "delay": 0.01, "concurrency": 8})
    job = await wait_for_end(apos, answer["jobId"])
    assert job["good"] == 40 and sorted(job["results"]) == sorted(ids)


async def test_sync_change_functions_and_results_of_none(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": ["a", "b"], "job": True, "sync": True})
    job = await wait_for_end(apos, answer["jobId"])
    assert job["results"] == {"a": "A", "b": "B"}
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": ["a"], "job": True, "noResult": True})
    job = await wait_for_end(apos, answer["jobId"])
    assert job["status"] == "completed" and job["results"] == {"a": None}


async def test_without_job_the_answer_waits_and_carries_data_and_results(
        start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    single = await post_ok(client, "/modules/widgets/batch", {"_id": "one"})
    assert single["data"] == {"_id": "one", "n": 1}
    assert single["results"] == {"one": {"_id": "one", "n": 1}}
    many = await post_ok(client, "/modules/widgets/batch",
                         {"ids": ["a", "b", "c", "d"], "failEvery": 2})
    # Failed items are left out of the results; the answer still comes.
    assert many["data"] == {} and set(many["results"]) == {"a", "c"}
    failing = await post_ok(client, "/modules/widgets/batch", {"_id": "z", "failEvery": 1})
    assert failing == {"status": "ok", "data": {}, "results": {}}
    assert await apos.db["aposJobs"].count_documents({}) == 0


async def test_single_id_takes_precedence_over_ids(start_app: StartApp) -> None:
    client, _ = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/batch", {"_id": "solo", "ids": ["x", "y"]})
    assert list(answer["results"]) == ["solo"]


@pytest.mark.parametrize("body", [
    {"job": True},
    {"ids": "a,b", "job": True},
    {"ids": [{"$gt": ""}], "job": True},
    {"ids": ["ok", "not ok!"], "job": True},
    {"ids": [1, 2], "job": True},
    {"_id": ["x"], "job": True},
    {"ids": [f"i{n}" for n in range(100_001)], "job": True},
])
async def test_bad_ids_are_invalid_and_create_no_job(start_app: StartApp,
                                                     body: dict[str, Any]) -> None:
    client, apos = await start_jobs_site(start_app)
    response = await post_json(client, "/modules/widgets/batch", body)
    assert (await response.json())["status"] == "invalid"
    assert await apos.db["aposJobs"].count_documents({}) == 0


async def test_duplicate_ids_are_processed_once(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": ["a", "b", "a", " b ", "c"], "job": True})
    job = await wait_for_end(apos, answer["jobId"])
    assert job["total"] == 3 and job["processed"] == 3


async def test_a_client_that_disconnects_does_not_affect_the_job(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": [f"d{i}" for i in range(30)], "job": True, "delay": 0.02})
    await client.session.close()
    job = await wait_for_end(apos, answer["jobId"])
    assert job["status"] == "completed" and job["good"] == 30


async def test_run_non_batch_reports_and_completes(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/work", {"steps": 4})
    job = await wait_for_end(apos, answer["jobId"])
    assert_consistent_end(job)
    assert (job["status"], job["good"], job["total"]) == ("completed", 4, 4)
    assert job["results"] == {"done": 4}
    assert job["canStop"] is False and job["canCancel"] is False


async def test_sync_work_function_counts_without_awaiting(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/work", {"mode": "sync"})
    job = await wait_for_end(apos, answer["jobId"])
    assert (job["status"], job["good"], job["total"]) == ("completed", 1, 1)


async def test_work_that_raises_after_reporting_fails_with_the_error(start_app: StartApp
                                                                     ) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/work", {"mode": "raise", "steps": 5})
    job = await wait_for_end(apos, answer["jobId"])
    assert_consistent_end(job)
    assert job["status"] == "failed"
    assert job["good"] == 2  # what was reported before the failure is kept
    assert job["error"] == {"name": "RuntimeError", "message": "the work broke half-way"}


async def test_low_level_api_and_end_requires_a_boolean(start_app: StartApp) -> None:
    _, apos = await start_jobs_site(start_app)
    jobs = jobs_of(apos)
    job = await jobs.start({"labels": {"title": "By hand"}})
    await jobs.set_total(job, 3)
    await jobs.good(job, 2)
    await jobs.bad(job)
    with pytest.raises(TypeError, match="success=True or False"):
        await jobs.end(job, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await jobs.good(job, -1)
    await jobs.end(job, True, {"a": 1})
    document = await apos.db["aposJobs"].find_one({"_id": job.id})
    assert_consistent_end(document)
    assert (document["status"], document["good"], document["bad"], document["total"]) == (
        "completed", 2, 1, 3)
    assert document["results"] == {"a": 1}
    # Nothing lands after the final write.
    await jobs.good(job, 5)
    await jobs.set_total(job, 99)
    again = await apos.db["aposJobs"].find_one({"_id": job.id})
    assert (again["good"], again["total"]) == (2, 3)
    failed = await jobs.start()
    await jobs.end(failed, False)
    assert (await apos.db["aposJobs"].find_one({"_id": failed.id}))["status"] == "failed"


async def test_counts_written_in_a_burst_are_all_kept(start_app: StartApp) -> None:
    _, apos = await start_jobs_site(start_app)
    jobs = jobs_of(apos)
    job = await jobs.start()
    # 500 counts fired without awaiting each, then the end: none may be lost or land after.
    pending = [jobs.good(job) if n % 3 else jobs.bad(job) for n in range(500)]
    await jobs.end(job, True)
    await asyncio.gather(*pending)
    document = await apos.db["aposJobs"].find_one({"_id": job.id})
    assert (document["good"], document["bad"], document["processed"]) == (333, 167, 500)


async def test_both_stop_and_cancel_offers_only_cancel(start_app: StartApp) -> None:
    _, apos = await start_jobs_site(start_app)
    jobs = jobs_of(apos)
    job = await jobs.start({"stop": lambda job: None, "cancel": lambda job: None})
    document = await apos.db["aposJobs"].find_one({"_id": job.id})
    assert (document["canCancel"], document["canStop"]) == (True, False)
    await jobs.end(job, True)


async def test_job_hooks_fire_on_start_and_end(start_app: StartApp) -> None:
    from apos import App, hookimpl
    from tests.fixtures.jobs_site import Widgets

    seen: list[tuple[str, str]] = []

    class Listener:
        @hookimpl
        def job_started(self, job: Any) -> None:
            seen.append(("started", job.id))

        @hookimpl
        async def job_ended(self, job: Any, status: str) -> None:
            seen.append((status, job.id))

    _, apos = await start_app(App(modules={"widgets": {}}, classes=[Widgets],
                                  plugins=[Listener()]))
    jobs = jobs_of(apos)
    job = await jobs.start()
    await jobs.end(job, False)
    assert seen == [("started", job.id), ("failed", job.id)]


async def test_many_jobs_share_one_watcher(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answers = [await post_ok(client, "/modules/widgets/batch",
                             {"ids": [f"s{i}" for i in range(50)], "job": True, "delay": 0.02})
               for _ in range(5)]
    watchers = [task for task in asyncio.all_tasks()
                if task.get_name() == "apostrophe-jobs watcher"]
    assert len(watchers) == 1
    for answer in answers:
        await post_ok(client, "/modules/apostrophe-jobs/cancel", {"_id": answer["jobId"]})
    for answer in answers:
        job = await wait_for_end(apos, answer["jobId"])
        assert job["status"] == "stopped"


async def test_stopped_run_keeps_partial_results_and_processes_no_more(start_app: StartApp
                                                                        ) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": [f"p{i}" for i in range(200)], "job": True, "delay": 0.02})
    await wait_until_processed(apos, answer["jobId"], 5)
    await post_ok(client, "/modules/apostrophe-jobs/cancel", {"_id": answer["jobId"]})
    job = await wait_for_end(apos, answer["jobId"])
    assert_consistent_end(job)
    assert job["status"] == "stopped"
    assert 5 <= job["processed"] < 200
    assert len(job["results"]) == job["good"]
    await asyncio.sleep(0.3)
    later = await apos.db["aposJobs"].find_one({"_id": answer["jobId"]})
    assert later["processed"] == job["processed"]  # no item after the acknowledgement


async def test_a_final_write_that_fails_still_ends_the_job(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    jobs = jobs_of(apos)
    editor = await apos.db["aposUsers"].find_one({"username": "editor"})
    job = await jobs.start({"stop": lambda job: None, "user_id": editor["_id"]})
    await jobs.good(job)
    # Results far over MongoDB's 16 MB document limit: the final write cannot succeed.
    await jobs.end(job, True, {"huge": "x" * (17 * 1024 * 1024)})
    assert await job.wait() == "failed"
    document = await apos.db["aposJobs"].find_one({"_id": job.id})
    assert_consistent_end(document)
    assert document["status"] == "failed" and document["results"] is None
    assert document["good"] == 1
    assert document["error"]["name"] in ("DocumentTooLarge", "InvalidDocument")
    assert job.id not in jobs.active_jobs
    await asyncio.sleep(0.05)
    assert not jobs.watcher.running
    cancel = await post_json(client, "/modules/apostrophe-jobs/cancel", {"_id": job.id})
    assert (await cancel.json())["status"] == "invalid"


async def test_overlong_ids_are_invalid(start_app: StartApp) -> None:
    client, _ = await start_jobs_site(start_app)
    response = await post_json(client, "/modules/widgets/batch",
                               {"ids": ["b" * 101], "job": True})
    assert (await response.json())["status"] == "invalid"
    response = await post_json(client, "/modules/widgets/batch",
                               {"ids": ["b" * 100], "job": True})
    assert (await response.json())["status"] == "ok"


class FailingCounts:
    """The real jobs collection, except that one count write fails (a lost connection)."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.count_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def update_one(self, query: Any, update: Any, **kwargs: Any) -> Any:
        if "$inc" in update and "ended" not in update.get("$set", {}):
            self.count_writes += 1
            if self.count_writes == 3:
                from pymongo.errors import AutoReconnect

                raise AutoReconnect("connection lost")
        return await self._collection.update_one(query, update, **kwargs)


async def test_a_failure_outside_the_items_stops_every_worker(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    jobs = jobs_of(apos)
    jobs.collection = FailingCounts(jobs.collection)
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": [f"f{i}" for i in range(40)], "job": True,
                            "delay": 0.02, "concurrency": 4})
    job = await wait_for_end(apos, answer["jobId"])
    assert_consistent_end(job)
    assert job["status"] == "failed"
    assert job["error"] == {"name": "AutoReconnect", "message": "connection lost"}
    processed_at_end = job["processed"]
    await asyncio.sleep(0.3)
    # No worker went on changing items after the job was marked failed.
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("apostrophe-jobs")]
    again = await apos.db["aposJobs"].find_one({"_id": answer["jobId"]})
    assert again["processed"] == processed_at_end < 40


async def test_one_user_may_run_only_so_many_jobs_at_once(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    jobs_of(apos).options["max_running_per_user"] = 2
    body = {"ids": [f"q{i}" for i in range(100)], "job": True, "delay": 0.02}
    first = await post_ok(client, "/modules/widgets/batch", body)
    await post_ok(client, "/modules/widgets/batch", body)
    refused = await post_json(client, "/modules/widgets/batch", body)
    answer = await refused.json()
    assert answer["status"] == "invalid" and "2 jobs running" in answer["message"]
    await post_ok(client, "/modules/apostrophe-jobs/cancel", {"_id": first["jobId"]})
    await wait_for_end(apos, first["jobId"])
    await post_ok(client, "/modules/widgets/batch", {**body, "delay": 0})


async def test_failed_items_are_summed_up_in_one_log_line(start_app: StartApp,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    client, apos = await start_jobs_site(start_app)
    caplog.set_level("INFO", logger="apos.jobs")
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": [f"l{i}" for i in range(200)], "job": True,
                            "failEvery": 1})
    await wait_for_end(apos, answer["jobId"])
    lines = [r.getMessage() for r in caplog.records if r.name == "apos.jobs"]
    assert lines == [f"Job {answer['jobId']}: 200 item(s) failed; the first: "
                     "l0: ValueError: item l0 refused"]


async def test_jobs_requested_together_cannot_pass_the_cap(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    jobs_of(apos).options["max_running_per_user"] = 3
    body = {"ids": [f"t{i}" for i in range(100)], "job": True, "delay": 0.05}
    headers = {"X-XSRF-TOKEN": await csrf_token(client)}  # one session for all twelve
    answers = await asyncio.gather(*(client.post("/modules/widgets/batch", json=body,
                                                 headers=headers) for _ in range(12)))
    statuses = [(await answer.json())["status"] for answer in answers]
    assert statuses.count("ok") <= 3 and statuses.count("ok") >= 1
    assert set(statuses) <= {"ok", "invalid"}
    assert await apos.db["aposJobs"].count_documents({"ended": False}) <= 3
    for job in list(jobs_of(apos).active_jobs.values()):
        await jobs_of(apos).halt(job)
