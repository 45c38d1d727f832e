"""Where a job's results go: in the job document while they are small, in a side
collection (one document per item) once they would pass the byte budget.

Apostrophe keeps every result in the job document, so a large enough batch hits MongoDB's
16 MB document limit and the job can never end.  Here the budget (4 MB by default) keeps
the job document small, and the ``results`` route pages through the side documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import bson

FLUSH_EVERY = 500
PAGE_SIZE = 1000


def encoded_size(item_id: str, result: Any) -> int:
    """Bytes the result takes in a BSON document (an estimate that errs on the high side)."""
    try:
        return len(bson.encode({item_id: result}))
    except (bson.errors.InvalidDocument, OverflowError, TypeError):
        return len(repr(result)) + len(item_id) + 16


class JobResults:
    """The results of one job as they come in, item by item."""

    def __init__(self, side_collection: Any, job_id: str, budget: int) -> None:
        self._side = side_collection
        self._job_id = job_id
        self._budget = budget
        self._size = 0
        self._count = 0
        self.items: dict[str, Any] = {}
        """Results kept in memory (all of them until the budget is passed)."""
        self._buffer: list[dict[str, Any]] = []
        self.spilled = False
        """True once results live in the side collection."""

    @property
    def count(self) -> int:
        return self._count

    async def add(self, item_id: str, result: Any) -> None:
        self._count += 1
        if not self.spilled:
            self._size += encoded_size(item_id, result)
            if self._size <= self._budget:
                self.items[item_id] = result
                return
            self.spilled = True
            self._buffer = [self._side_document(n, key, value)
                            for n, (key, value) in enumerate(self.items.items(), start=1)]
            self.items = {}
        self._buffer.append(self._side_document(self._count, item_id, result))
        if len(self._buffer) >= FLUSH_EVERY:
            await self.flush()

    def _side_document(self, n: int, item_id: str, result: Any) -> dict[str, Any]:
        return {"_id": f"{self._job_id}.{n}", "jobId": self._job_id, "n": n,
                "itemId": item_id, "result": result}

    async def flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        if buffer:
            await self._side.insert_many(buffer, ordered=False)

    async def finish(self, expires_at: datetime | None) -> dict[str, Any]:
        """Write what is buffered; the fields the job document gets for its results."""
        if not self.spilled:
            return {"results": dict(self.items)}
        await self.flush()
        if expires_at is not None:
            await self._side.update_many({"jobId": self._job_id},
                                         {"$set": {"expiresAt": expires_at}})
        return {"results": None, "resultsStored": True, "resultsCount": self._count}


async def results_page(side_collection: Any, job_id: str, after: int,
                       limit: int = PAGE_SIZE) -> tuple[dict[str, Any], int | None]:
    """One page of a job's side results after position ``after``; and where the next page
    starts, or None at the end."""
    documents: list[Mapping[str, Any]] = await side_collection.find(
        {"jobId": job_id, "n": {"$gt": after}}, sort=[("n", 1)]).limit(limit).to_list(None)
    page = {document["itemId"]: document.get("result") for document in documents}
    following = int(documents[-1]["n"]) if len(documents) == limit else None
    return page, following
