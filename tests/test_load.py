"""Load: 200 pollers against one app process while 3 jobs of 2,000 items run, for 30 s.

Not timed, but bounded: every request has a client timeout and every loop a deadline (see
``tests/load.py``). The latencies are printed, not asserted; ``bench/jobs_polling.py`` runs
the same scenario longer and compares it with a baseline.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from tests.conftest import uri_with_db
from tests.load import run_scenario

POLLERS = 200
SECONDS = 30.0
JOBS = 3
ITEMS = 2000


async def test_200_pollers_while_3_jobs_of_2000_items_run(mongo_uri: str,
                                                          db_name: str) -> None:
    try:
        result = await run_scenario(uri_with_db(mongo_uri, db_name), pollers=POLLERS,
                                    seconds=SECONDS, jobs=JOBS, items=ITEMS, report=print)
    finally:
        cleaner: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri)
        try:
            await cleaner.drop_database(db_name)
        finally:
            await cleaner.close()
    print(result.report())
    loaded = result.loaded
    assert loaded.requests > 0
    assert loaded.non_ok == 0, result.report()
    assert loaded.server_errors == 0, result.report()
    assert loaded.errors == 0, result.report()
    assert loaded.timeouts == 0, result.report()
    assert loaded.not_found == 0, result.report()
    assert len(result.jobs) == JOBS
    for job in result.jobs:
        assert job.ended, result.report()
        assert job.status == "completed", result.report()
        assert job.total == ITEMS, result.report()
        assert job.good + job.bad == job.total, result.report()
