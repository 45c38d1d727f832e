"""apostrophe-jobs routes: progress, cancel and modal, who may use them, stop and cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apos import Apos, App
from apos.modules.apostrophe_jobs import Job
from apos.modules.apostrophe_jobs.progress import percentage
from tests.conftest import StartApp, login, post_json
from tests.jobs_helpers import (
    assert_consistent_end,
    jobs_of,
    post_ok,
    start_jobs_site,
    wait_for_end,
    wait_until_processed,
)


@pytest.mark.parametrize(("processed", "total", "ended", "expected"), [
    (0, None, False, 0),
    (5, 0, False, 0),
    (0, 10, False, "0.00"),
    (1, 32, False, "3.13"),  # 3.125: halves go up, as toFixed does
    (1, 3, False, "33.33"),
    (2, 3, False, "66.67"),
    (1, 8, False, "12.50"),
    (19999, 20000, False, "99.99"),  # 99.995 would print 100.00 while running
    (199999, 200000, False, "99.99"),
    (20000, 20000, False, "99.99"),  # every item processed, but not ended yet
    (20000, 20000, True, "100.00"),
    (25, 20, True, "100.00"),  # never above 100
    (1, 1000, False, "0.10"),
])
def test_percentage_matches_javascript_tofixed(processed: int, total: int | None,
                                               ended: bool, expected: str | int) -> None:
    assert percentage(processed, total, ended=ended) == expected


async def start_job(apos: Apos, user: dict[str, Any], **options: Any) -> Job:
    options.setdefault("user_id", user["_id"])
    return await jobs_of(apos).start(options)


async def progress(client: Any, job_id: Any) -> dict[str, Any]:
    response = await post_json(client, "/modules/apostrophe-jobs/progress", {"_id": job_id})
    data: dict[str, Any] = await response.json()
    return data


async def test_progress_answers_the_document_percentage_and_html(start_app: StartApp) -> None:
    client, apos = await start_app(App())
    user = await login(client, apos, "owner", role="editor")
    jobs = jobs_of(apos)
    job = await start_job(apos, user, labels={"title": "T"}, stop=lambda job: None)
    data = await progress(client, job.id)
    assert data["status"] == "ok"
    assert data["job"]["_id"] == job.id and data["job"]["percentage"] == 0
    assert data["job"]["status"] == "running" and data["job"]["canStop"] is True
    assert isinstance(data["job"]["when"], str) and data["job"]["when"].endswith("Z")
    assert "In Progress..." in data["html"]
    await jobs.set_total(job, 32)
    await jobs.good(job)
    data = await progress(client, job.id)
    assert data["job"]["percentage"] == "3.13"
    assert 'style="width: 3.13%"' in data["html"]
    await jobs.end(job, True)


async def test_unknown_job_is_notfound_and_ended(start_app: StartApp) -> None:
    client, apos = await start_app(App())
    await login(client, apos, "someone", role="editor")
    data = await progress(client, "cnosuchjob0000000000000000")
    assert data["status"] == "ok"
    assert data["job"] == {"notfound": True, "ended": True}
    assert "The job no longer exists" in data["html"]


@pytest.mark.parametrize("route", ["progress", "cancel", "modal"])
@pytest.mark.parametrize("body", [{}, {"_id": 5}, {"_id": ["x"]}, {"_id": "bad id!"},
                                  {"_id": {"$ne": None}}, {"_id": ""}])
async def test_missing_or_malformed_id_is_invalid(start_app: StartApp, route: str,
                                                  body: dict[str, Any]) -> None:
    client, apos = await start_app(App())
    await login(client, apos, "someone", role="editor")
    response = await post_json(client, f"/modules/apostrophe-jobs/{route}", body)
    if route == "modal":
        assert response.status == 400
    else:
        data = await response.json()
        assert (response.status, data["status"]) == (200, "invalid")
        assert isinstance(data["message"], str) and data["message"]


@pytest.mark.parametrize("route", ["progress", "cancel", "modal"])
async def test_anonymous_visitors_are_forbidden_and_change_nothing(start_app: StartApp,
                                                                   route: str) -> None:
    client, apos = await start_app(App())
    job = await jobs_of(apos).start({"stop": lambda job: None})
    response = await post_json(client, f"/modules/apostrophe-jobs/{route}", {"_id": job.id})
    if route == "modal":
        assert response.status == 401
    else:
        assert await response.json() == {"status": "forbidden"}
    document = await apos.db["aposJobs"].find_one({"_id": job.id})
    assert document["canceling"] is False
    await jobs_of(apos).end(job, True)


async def test_only_the_owner_or_an_admin_sees_or_stops_a_job(start_app: StartApp) -> None:
    client, apos = await start_app(App())
    owner = await apos.modules["apostrophe-users"].add_user(  # type: ignore[attr-defined]
        "owner", "pw", role="editor")
    job = await start_job(apos, owner, stop=lambda job: None)
    await login(client, apos, "intruder", role="editor")
    assert (await progress(client, job.id))["job"] == {"notfound": True, "ended": True}
    cancel = await post_json(client, "/modules/apostrophe-jobs/cancel", {"_id": job.id})
    assert await cancel.json() == {"status": "notfound"}
    modal = await post_json(client, "/modules/apostrophe-jobs/modal", {"_id": job.id})
    assert "The job no longer exists" in await modal.text()
    assert (await apos.db["aposJobs"].find_one({"_id": job.id}))["canceling"] is False
    await client.get("/logout")
    await login(client, apos, "boss", role="admin")
    assert (await progress(client, job.id))["job"]["_id"] == job.id
    await post_ok(client, "/modules/apostrophe-jobs/cancel", {"_id": job.id})
    assert_consistent_end(await wait_for_end(apos, job.id))


async def test_cancel_of_an_ended_job_is_invalid_and_changes_nothing(start_app: StartApp
                                                                     ) -> None:
    client, apos = await start_app(App())
    user = await login(client, apos, "owner", role="editor")
    job = await start_job(apos, user, stop=lambda job: None)
    await jobs_of(apos).end(job, True)
    before = await apos.db["aposJobs"].find_one({"_id": job.id})
    response = await post_json(client, "/modules/apostrophe-jobs/cancel", {"_id": job.id})
    assert (await response.json())["status"] == "invalid"
    assert await apos.db["aposJobs"].find_one({"_id": job.id}) == before


async def test_a_job_that_cannot_stop_refuses_cancel(start_app: StartApp) -> None:
    client, apos = await start_app(App())
    user = await login(client, apos, "owner", role="editor")
    job = await start_job(apos, user)
    response = await post_json(client, "/modules/apostrophe-jobs/cancel", {"_id": job.id})
    assert (await response.json())["status"] == "invalid"
    await jobs_of(apos).end(job, True)


async def test_stop_and_cancel_callables_end_the_job(start_app: StartApp) -> None:
    client, apos = await start_app(App())
    user = await login(client, apos, "owner", role="editor")
    calls: list[str] = []

    async def stop(job: Job) -> None:
        await asyncio.sleep(0.05)
        calls.append(f"stop {job.id}")

    def undo(job: Job) -> None:
        calls.append(f"undo {job.id}")

    def broken(job: Job) -> None:
        raise RuntimeError("could not undo")

    stopped = await start_job(apos, user, stop=stop)
    canceled = await start_job(apos, user, cancel=undo)
    failed = await start_job(apos, user, cancel=broken)
    for job in (stopped, canceled, failed):
        await post_ok(client, "/modules/apostrophe-jobs/cancel", {"_id": job.id})
    ends = [await wait_for_end(apos, job.id) for job in (stopped, canceled, failed)]
    for end in ends:
        assert_consistent_end(end)
    assert [end["status"] for end in ends] == ["stopped", "canceled", "failed"]
    assert ends[2]["error"] == {"name": "RuntimeError", "message": "could not undo"}
    assert sorted(calls) == sorted([f"stop {stopped.id}", f"undo {canceled.id}"])


async def test_run_non_batch_cancel_undoes_then_ends_canceled(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/work",
                           {"mode": "cancel", "steps": 400, "delay": 0.01})
    await wait_until_processed(apos, answer["jobId"], 3)
    running = await apos.db["aposJobs"].find_one({"_id": answer["jobId"]})
    assert (running["canCancel"], running["canStop"]) == (True, False)
    await post_ok(client, "/modules/apostrophe-jobs/cancel", {"_id": answer["jobId"]})
    job = await wait_for_end(apos, answer["jobId"])
    assert_consistent_end(job)
    assert job["status"] == "canceled"
    assert job["good"] == job["bad"] > 0  # the work saw the request and undid what it did
    assert job["processed"] < 800


async def test_cancel_racing_completion_stays_consistent(start_app: StartApp) -> None:
    client, apos = await start_app(App())
    user = await login(client, apos, "owner", role="editor")
    jobs = jobs_of(apos)
    statuses = set()
    for attempt in range(12):
        job = await start_job(apos, user, stop=lambda job: None)
        cancel = post_json(client, "/modules/apostrophe-jobs/cancel", {"_id": job.id})
        end = jobs.end(job, True)
        if attempt % 2:
            results = await asyncio.gather(cancel, end)
        else:
            results = list(reversed(await asyncio.gather(end, cancel)))
        assert (await results[0].json())["status"] in ("ok", "invalid")
        document = await wait_for_end(apos, job.id)
        assert_consistent_end(document)
        assert not (document["status"] == "completed" and document["canceling"])
        statuses.add(document["status"])
        await asyncio.sleep(0.3)  # let the watcher look at a cancel that lost the race
        assert await apos.db["aposJobs"].find_one({"_id": job.id}) == document
    assert statuses <= {"completed", "stopped"}
