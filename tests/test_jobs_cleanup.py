"""After many jobs the module holds nothing, and an idle app never queries its jobs."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient, monitoring

from apos import AposRequest, App
from apos.modules.apostrophe_jobs import Job, JobsModule
from tests.conftest import StartApp


class JobsCommands(monitoring.CommandListener):
    """Records every command sent about the aposJobs collection."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command.get(event.command_name) == "aposJobs":
            self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_thousand_jobs_leave_nothing_behind(start_app: StartApp, mongo_uri: str,
                                                    db_name: str) -> None:
    listener = JobsCommands()
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, event_listeners=[listener])
    try:
        app = App(modules={"apostrophe-jobs": {"watch_interval": 0.01}})
        _, apos = await start_app(app, db=client[db_name], db_uri=None)
        jobs = apos.modules["apostrophe-jobs"]
        assert isinstance(jobs, JobsModule)
        req = AposRequest(apos, user={"_id": "u1", "username": "u", "permissions": ["admin"]})
        statuses: dict[str, int] = {}

        async def halt(job: Job) -> None:
            await asyncio.sleep(0)

        for n in range(1000):
            kind = n % 4
            if kind == 0:
                job = await jobs.start({"stop": halt})
                await jobs.good(job)
                await jobs.end(job, True)
            elif kind == 1:
                job = await jobs.start({"stop": halt})
                await jobs.bad(job)
                await jobs.end(job, False)
            elif kind == 2:
                job = await jobs.start({"stop": halt})
                await jobs.collection.update_one({"_id": job.id},
                                                 {"$set": {"canceling": True}})
                assert await job.wait() == "stopped"
            else:
                req.body = {"ids": [f"i{n}", f"j{n}"], "job": True}
                answer = await jobs.run(req, lambda req, item: item)
                job = jobs.active_jobs[answer["jobId"]]
                assert await job.wait() == "completed"
            document = await jobs.collection.find_one({"_id": job.id})
            assert document["ended"] is True and document["canceling"] is False
            statuses[document["status"]] = statuses.get(document["status"], 0) + 1
        assert statuses == {"completed": 500, "failed": 250, "stopped": 250}
        await asyncio.sleep(0.05)  # let the last done-callbacks run
        assert jobs.active_jobs == {}
        assert jobs.tasks == set()
        assert not jobs.watcher.running
        assert [t.get_name() for t in asyncio.all_tasks()
                if t.get_name().startswith("apostrophe-jobs")] == []
        # Idle: not one query about jobs while none is running.
        listener.commands.clear()
        await asyncio.sleep(1.0)
        assert listener.commands == []
        # ...and the watcher comes back for the next stoppable job.
        job = await jobs.start({"stop": halt})
        await asyncio.sleep(0.1)
        assert "find" in listener.commands
        await jobs.end(job, True)
    finally:
        await client.close()
