"""Jobs at scale: results beyond the document budget, retention, 100,000 ids."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any, ClassVar

from apos import LOGGED_IN, AposRequest, App, Module
from apos.modules.apostrophe_jobs import JobsModule
from tests.conftest import StartApp, csrf_token, login, post_json
from tests.jobs_helpers import assert_consistent_end, post_ok, start_jobs_site, wait_for_end

PAYLOAD = "x" * 5000


class Exporter(Module):
    """Runs a job whose change function returns whole 5 KB documents."""

    name: ClassVar[str] = "exporter"

    def add_routes(self) -> None:
        self.api_route("post", "export", self.export, permission=LOGGED_IN)

    async def export(self, req: AposRequest) -> dict[str, Any]:
        jobs = self.apos.modules["apostrophe-jobs"]
        assert isinstance(jobs, JobsModule)

        async def change(req: AposRequest, item_id: str) -> dict[str, Any] | None:
            document: dict[str, Any] | None = await self.db["bigDocs"].find_one(
                {"_id": item_id})
            return document

        return await jobs.run(req, change, {"concurrency": 4})


async def test_results_beyond_the_budget_are_all_retrievable(start_app: StartApp) -> None:
    client, apos = await start_app(App(modules={"exporter": {}}, classes=[Exporter]))
    await login(client, apos, "ed", role="editor")
    ids = [f"d{n:04d}" for n in range(4000)]
    for start in range(0, 4000, 500):
        await apos.db["bigDocs"].insert_many(
            [{"_id": item, "n": int(item[1:]), "payload": PAYLOAD}
             for item in ids[start:start + 500]])
    answer = await post_ok(client, "/modules/exporter/export", {"ids": ids, "job": True})
    job_id = answer["jobId"]
    # While it runs, progress answers stay small.
    running = await post_json(client, "/modules/apostrophe-jobs/progress", {"_id": job_id})
    assert len(await running.read()) < 20_000
    job = await wait_for_end(apos, job_id, seconds=120)
    assert_consistent_end(job)
    assert (job["status"], job["good"], job["total"]) == ("completed", 4000, 4000)
    assert job["results"] is None and job["resultsStored"] is True
    assert job["resultsCount"] == 4000
    progress = await post_json(client, "/modules/apostrophe-jobs/progress", {"_id": job_id})
    shown = (await progress.json())["job"]
    assert shown["resultsStored"] is True and shown["status"] == "completed"
    collected: dict[str, Any] = {}
    after: int | None = 0
    pages = 0
    while after is not None:
        page = await post_ok(client, "/modules/apostrophe-jobs/results",
                             {"_id": job_id, "after": after})
        collected.update(page["results"])
        after = page["next"]
        pages += 1
    assert pages >= 4
    assert sorted(collected) == ids
    assert all(collected[item] == {"_id": item, "n": int(item[1:]), "payload": PAYLOAD}
               for item in ids)
    side = apos.db["aposJobResults"]
    assert await side.count_documents({"jobId": job_id}) == 4000
    assert await side.count_documents({"jobId": job_id, "expiresAt": None}) == 0


async def test_small_results_stay_in_the_document_and_the_results_route(
        start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/batch", {"ids": ["a", "b"], "job": True})
    job = await wait_for_end(apos, answer["jobId"])
    assert job["results"] == {"a": {"_id": "a", "n": 1}, "b": {"_id": "b", "n": 2}}
    page = await post_ok(client, "/modules/apostrophe-jobs/results", {"_id": answer["jobId"]})
    assert page == {"status": "ok", "results": job["results"], "next": None}


async def test_results_of_a_running_job_are_not_served(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    answer = await post_ok(client, "/modules/widgets/batch",
                           {"ids": [f"r{i}" for i in range(50)], "job": True, "delay": 0.02})
    early = await post_json(client, "/modules/apostrophe-jobs/results", {"_id": answer["jobId"]})
    assert (await early.json())["status"] == "invalid"
    await wait_for_end(apos, answer["jobId"])


async def test_ended_jobs_expire_and_running_jobs_never_do(start_app: StartApp) -> None:
    _, apos = await start_jobs_site(start_app)
    jobs = apos.modules["apostrophe-jobs"]
    assert isinstance(jobs, JobsModule)
    running = await jobs.start()
    ended = await jobs.start()
    await jobs.end(ended, True)
    documents = {d["_id"]: d async for d in apos.db["aposJobs"].find({})}
    assert "expiresAt" not in documents[running.id]
    expected = documents[ended.id]["endedAt"] + timedelta(days=7)
    assert abs(documents[ended.id]["expiresAt"] - expected) < timedelta(seconds=1)
    for collection in ("aposJobs", "aposJobResults"):
        indexes = await apos.db[collection].index_information()
        ttl = [index for index in indexes.values() if index["key"] == [("expiresAt", 1)]]
        assert ttl and ttl[0]["expireAfterSeconds"] == 0, indexes
    await jobs.end(running, True)


async def test_a_hundred_thousand_ids_in_one_request(start_app: StartApp) -> None:
    client, apos = await start_jobs_site(start_app)
    ids = [f"id{n:06d}" for n in range(100_000)]
    body = json.dumps({"ids": ids, "job": True, "noResult": True}).encode()
    assert 1_000_000 < len(body) < 16 * 1024 * 1024
    token = await csrf_token(client)
    response = await client.post("/modules/widgets/batch", data=io.BytesIO(body),
                                 headers={"X-XSRF-TOKEN": token,
                                          "Content-Type": "application/json"})
    answer = await response.json()
    assert answer["status"] == "ok"
    job = await wait_for_end(apos, answer["jobId"], seconds=240)
    assert_consistent_end(job)
    assert (job["status"], job["good"], job["total"]) == ("completed", 100_000, 100_000)
    over = json.dumps({"ids": [*ids, "one-more"], "job": True}).encode()
    refused = await client.post("/modules/widgets/batch", data=io.BytesIO(over),
                                headers={"X-XSRF-TOKEN": token,
                                         "Content-Type": "application/json"})
    assert (await refused.json())["status"] == "invalid"
