"""What the progress display says about a job: percentage and the markup's content.

Kept apart from the template so that each rule of the contract (which heading wins, when
the table and the bar show) is one readable function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_HUNDREDTH = Decimal("0.01")
ALMOST_DONE = "99.99"
DONE = "100.00"


def percentage(processed: int, total: int | None, *, ended: bool) -> str | int:
    """``0`` while there is no total, else ``processed / total * 100`` with two decimals.

    The rounding is JavaScript's ``toFixed(2)``: the exact value of the double, halves up
    (1/32 gives ``"3.13"``).  Never above ``"100.00"``, and a job that has not ended never
    shows ``"100.00"``: it is not done until it says so.
    """
    if not total:
        return 0
    ratio = processed / total * 100  # the same floating-point steps as the browser's
    text = str(Decimal(ratio).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP))
    if Decimal(text) >= Decimal(DONE):
        text = DONE
    if text == DONE and not ended:
        text = ALMOST_DONE
    return text


@dataclass(frozen=True)
class ProgressView:
    heading: str
    state: str
    """``running``, ``canceling``, ``completed``, ``failed``, ``stopped``, ``canceled`` or
    ``notfound``: the markup's state class."""
    failure: bool
    show_counts: bool
    good: int
    bad: int
    good_label: str
    bad_label: str
    show_bar: bool
    percentage: str | int


def describe(job: Mapping[str, Any]) -> ProgressView:
    """The progress display for a job document (with ``percentage``) or the not-found job."""
    labels: Mapping[str, str] = job.get("labels") or {}
    state, heading = _heading(job, labels)
    good = int(job.get("good") or 0)
    bad = int(job.get("bad") or 0)
    processed = int(job.get("processed") or 0)
    return ProgressView(
        heading=heading,
        state=state,
        failure=state in ("failed", "notfound"),
        show_counts=processed > 0,
        good=good,
        bad=bad,
        good_label=labels.get("good") or "Successful",
        bad_label=labels.get("bad") or "Errors",
        show_bar=job.get("total") is not None and not job.get("notfound"),
        percentage=job.get("percentage", 0),
    )


def _heading(job: Mapping[str, Any], labels: Mapping[str, str]) -> tuple[str, str]:
    """The first matching line of the contract's list wins."""
    if job.get("notfound"):
        return "notfound", "The job no longer exists"
    status = job.get("status")
    if job.get("canceling") and not job.get("ended"):
        if job.get("canCancel"):
            return "canceling", labels.get("canceling") or "Canceling..."
        return "canceling", labels.get("stopping") or "Stopping..."
    defaults = {"failed": "Failed", "canceled": "Canceled", "stopped": "Stopped",
                "completed": "Completed"}
    if status in defaults:
        return str(status), labels.get(str(status)) or defaults[str(status)]
    return "running", labels.get("running") or "In Progress..."
