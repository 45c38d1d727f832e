"""Bench: progress polling latency and throughput while jobs run, against a baseline.

    .venv/bin/python bench/jobs_polling.py --pollers 200 --seconds 120

Starts its own embedded database server in a temporary folder (unless APOS_MONGODB_URI is
set), one ``apos serve`` process with the jobs site, then runs in the same process and run:

1. baseline: the pollers poll jobs that have already ended, for ``--baseline-seconds``;
2. loaded: ``--jobs`` jobs of ``--items`` items run while the pollers poll them for
   ``--seconds``;

and prints p50/p99 latency and requests per second of both phases, and loaded/baseline
ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pymongo import AsyncMongoClient  # noqa: E402

from apos.db import EmbeddedServer  # noqa: E402
from tests.load import PollStats, ScenarioResult, run_scenario, unique_db_name  # noqa: E402


def uri_with_db(uri: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pollers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="length of the loaded phase")
    parser.add_argument("--baseline-seconds", type=float, default=None,
                        help="length of the baseline phase (default: a quarter of --seconds, "
                        "at least 5)")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=None,
                        help="seconds per item (default: enough for the jobs to outlast "
                        "the loaded phase)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between a poller's requests (jittered +-20%%)")
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout")
    return parser.parse_args(argv)


def _row(name: str, stats: PollStats) -> str:
    return (f"{name:<9} {stats.requests:>9} {stats.rps:>8.1f} {stats.p50 * 1000:>9.1f} "
            f"{stats.p99 * 1000:>9.1f} {stats.max * 1000:>9.1f} {stats.non_ok:>6} "
            f"{stats.server_errors:>4} {stats.errors:>6}")


def _ratio(loaded: float, baseline: float) -> str:
    return f"{loaded / baseline:.2f}x" if baseline > 0 else "n/a"


def print_result(result: ScenarioResult) -> None:
    print()
    print(result.report())
    print()
    print(f"{'phase':<9} {'requests':>9} {'req/s':>8} {'p50 ms':>9} {'p99 ms':>9} "
          f"{'max ms':>9} {'non-ok':>6} {'5xx':>4} {'errors':>6}")
    if result.baseline is not None:
        print(_row("baseline", result.baseline))
    print(_row("loaded", result.loaded))
    if result.baseline is not None:
        base, loaded = result.baseline, result.loaded
        print(f"ratios loaded/baseline: p50 {_ratio(loaded.p50, base.p50)}, "
              f"p99 {_ratio(loaded.p99, base.p99)}, rps {_ratio(loaded.rps, base.rps)}")
    consistent = all(job.ended and job.good + job.bad == job.total for job in result.jobs)
    print(f"jobs: {[job.status for job in result.jobs]}, good + bad == total: {consistent}")


async def main(args: argparse.Namespace) -> int:
    baseline_seconds = (max(5.0, args.seconds / 4) if args.baseline_seconds is None
                        else args.baseline_seconds)
    db_name = unique_db_name("apos_bench")
    external = os.environ.get("APOS_MONGODB_URI")
    with tempfile.TemporaryDirectory(prefix="apos-bench-") as tmp:
        server = None if external else EmbeddedServer(Path(tmp))
        try:
            uri = await server.ensure_running() if server is not None else external or ""
            try:
                result = await run_scenario(
                    uri_with_db(uri, db_name), pollers=args.pollers, seconds=args.seconds,
                    jobs=args.jobs, items=args.items, delay=args.delay,
                    baseline_seconds=baseline_seconds, interval=args.interval,
                    request_timeout=args.timeout, report=lambda line: print(line, flush=True))
            finally:
                cleaner: AsyncMongoClient[Any] = AsyncMongoClient(uri)
                try:
                    await cleaner.drop_database(db_name)
                finally:
                    await cleaner.close()
        finally:
            if server is not None:
                await server.stop()
    print_result(result)
    failed = (result.loaded.non_ok or result.loaded.server_errors or result.loaded.errors
              or not all(job.ended and job.good + job.bad == job.total
                         for job in result.jobs))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
