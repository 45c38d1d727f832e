"""The progress markup (contract 3.4): one test per state, each checking the heading, the
good/bad table and the bar, with and without labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from apos import App, generate_id
from tests.conftest import StartApp, login, post_json

LABELS = {
    "running": "Crunching", "completed": "All done", "failed": "Broke", "canceled": "Undone",
    "stopped": "Halted", "canceling": "Undoing", "stopping": "Halting", "good": "Fine",
    "bad": "Trouble",
}


def heading(html: str) -> str:
    found = re.search(r'<h3 class="apos-job-progress__heading">([^<]*)</h3>', html)
    assert found is not None, html
    return found.group(1)


def state_classes(html: str) -> list[str]:
    found = re.search(r'<div class="(apos-job-progress[^"]*)"', html)
    assert found is not None
    return found.group(1).split()


async def show(start_app: StartApp, fields: dict[str, Any], *, labels: bool) -> str:
    client, apos = await start_app(App())
    user = await login(client, apos, "owner", role="editor")
    job_id = generate_id()
    document = {"_id": job_id, "good": 0, "bad": 0, "processed": 0, "status": "running",
                "ended": False, "canceling": False, "when": datetime.now(UTC),
                "canStop": True, "canCancel": False, "results": None, "userId": user["_id"],
                "labels": LABELS if labels else {}, **fields}
    await apos.db["aposJobs"].insert_one(document)
    response = await post_json(client, "/modules/apostrophe-jobs/progress", {"_id": job_id})
    data = await response.json()
    assert data["status"] == "ok"
    html: str = data["html"]
    return html


STATES: list[tuple[str, dict[str, Any], str, str]] = [
    ("running without total", {}, "In Progress...", "Crunching"),
    ("running with total", {"total": 8, "good": 3, "bad": 1, "processed": 4},
     "In Progress...", "Crunching"),
    ("completed", {"status": "completed", "ended": True, "total": 4, "good": 4,
                   "processed": 4}, "Completed", "All done"),
    ("failed", {"status": "failed", "ended": True, "total": 4, "good": 1, "bad": 1,
                "processed": 2}, "Failed", "Broke"),
    ("stopped", {"status": "stopped", "ended": True, "total": 10, "good": 3, "processed": 3},
     "Stopped", "Halted"),
    ("canceled", {"status": "canceled", "ended": True, "canCancel": True, "canStop": False},
     "Canceled", "Undone"),
    ("canceling with stop", {"canceling": True, "total": 5, "good": 1, "processed": 1},
     "Stopping...", "Halting"),
    ("canceling with cancel", {"canceling": True, "canCancel": True, "canStop": False},
     "Canceling...", "Undoing"),
]


@pytest.mark.parametrize("labels", [False, True], ids=["defaults", "labels"])
@pytest.mark.parametrize(("state", "fields", "default", "label"), STATES,
                         ids=[state[0] for state in STATES])
async def test_progress_markup_for_each_state(start_app: StartApp, state: str,
                                              fields: dict[str, Any], default: str,
                                              label: str, labels: bool) -> None:
    html = await show(start_app, fields, labels=labels)
    assert heading(html) == (label if labels else default)
    processed = fields.get("processed", 0)
    has_table = "apos-job-progress__counts" in html
    assert has_table == (processed > 0)
    if has_table:
        good_label, bad_label = ("Fine", "Trouble") if labels else ("Successful", "Errors")
        assert re.search(rf"<th scope=\"row\">{good_label}</th><td data-apos-job-good>"
                         rf"{fields.get('good', 0)}</td>", html)
        assert re.search(rf"<th scope=\"row\">{bad_label}</th><td data-apos-job-bad>"
                         rf"{fields.get('bad', 0)}</td>", html)
        assert ("apos-job-progress__bad--flagged" in html) == (fields.get("bad", 0) > 0)
    has_bar = "apos-job-progress__bar-fill" in html
    assert has_bar == ("total" in fields)
    if has_bar:
        ended = fields.get("ended", False)
        expected = f"{processed / fields['total'] * 100:.2f}"
        if expected == "100.00" and not ended:
            expected = "99.99"
        assert f'style="width: {expected}%"' in html
        assert f"{expected}%</p>" in html
    failure = "apos-job-progress--failure" in state_classes(html)
    assert failure == (state == "failed")


async def test_unknown_job_markup(start_app: StartApp) -> None:
    client, apos = await start_app(App())
    await login(client, apos, "owner", role="editor")
    response = await post_json(client, "/modules/apostrophe-jobs/progress",
                               {"_id": generate_id()})
    html = (await response.json())["html"]
    assert heading(html) == "The job no longer exists"
    assert "apos-job-progress--failure" in state_classes(html)
    assert "apos-job-progress__counts" not in html and "apos-job-progress__bar" not in html


async def test_canceling_is_ignored_once_ended(start_app: StartApp) -> None:
    html = await show(start_app, {"status": "stopped", "ended": True, "canceling": True},
                      labels=False)
    assert heading(html) == "Stopped"


async def test_labels_are_escaped(start_app: StartApp) -> None:
    client, apos = await start_app(App())
    user = await login(client, apos, "owner", role="editor")
    job = await apos.modules["apostrophe-jobs"].start(  # type: ignore[attr-defined]
        {"user_id": user["_id"], "labels": {"running": "<script>x</script>",
                                           "title": "<b>T</b>"}})
    response = await post_json(client, "/modules/apostrophe-jobs/progress", {"_id": job.id})
    html = (await response.json())["html"]
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    modal = await post_json(client, "/modules/apostrophe-jobs/modal", {"_id": job.id})
    modal_html = await modal.text()
    assert "&lt;b&gt;T&lt;/b&gt;" in modal_html and "<b>T</b>" not in modal_html
    await apos.modules["apostrophe-jobs"].end(job, True)  # type: ignore[attr-defined]
