"""Load scenario for the jobs progress route, shared by ``tests/test_load.py`` and
``bench/jobs_polling.py`` (no tests in here).

One real app process (``apos serve --app tests/fixtures/jobs_site.py``) runs against a given
database URI; one user logs in once and its cookies are copied into every poller's own
``ClientSession`` (200 logins would cost 200 argon2 hashes). Some jobs are started through
``POST /modules/widgets/batch``, then each poller does what the browser's progress modal
does: ``POST /modules/apostrophe-jobs/progress`` for one job, wait for the answer, sleep
about ``interval`` seconds (jittered), repeat. A poller never has two requests in flight.

Everything is bounded: every request has a client timeout, every loop a deadline, and the
app process is always terminated.

    result = await run_scenario(uri, pollers=200, seconds=30, jobs=3, items=2000)
    print(result.report())
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import re
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from http.cookies import BaseCookie
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

SITE = Path(__file__).resolve().parent / "fixtures" / "jobs_site.py"
APOS = [sys.executable, "-m", "apos.cli"]
PROGRESS = "/modules/apostrophe-jobs/progress"
BATCH = "/modules/widgets/batch"
USERNAME = "load-editor"
PASSWORD = "load-editor-password"
STARTUP_TIMEOUT_S = 60.0
SERVER_LOG_PATTERN = re.compile(r"Traceback|ERROR|CRITICAL|Exception|Error:")

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# -- results ------------------------------------------------------------------------------


@dataclass
class PollStats:
    """What the pollers of one phase saw. Latencies are in seconds."""

    pollers: int
    seconds: float
    requests: int = 0
    ok: int = 0
    non_ok: int = 0  # an answer whose JSON status is not "ok", or that is not JSON
    server_errors: int = 0  # HTTP 5xx
    errors: int = 0  # client-side failures, timeouts included
    timeouts: int = 0
    not_found: int = 0  # ok answers whose job says notfound
    inconsistent: int = 0  # ok answers where processed != good + bad (reported only)
    http_statuses: dict[int, int] = field(default_factory=dict)
    json_statuses: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # first few failures, for reports
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def p50(self) -> float:
        return percentile(sorted(self.latencies), 50)

    @property
    def p90(self) -> float:
        return percentile(sorted(self.latencies), 90)

    @property
    def p99(self) -> float:
        return percentile(sorted(self.latencies), 99)

    @property
    def max(self) -> float:
        return max(self.latencies, default=0.0)

    @property
    def rps(self) -> float:
        """Answered requests per second over the phase."""
        return len(self.latencies) / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        ordered = sorted(self.latencies)
        return (
            f"{self.pollers} pollers, {self.seconds:.1f} s: {self.requests} requests, "
            f"{self.rps:.1f} req/s, ok {self.ok}, non-ok {self.non_ok}, 5xx "
            f"{self.server_errors}, errors {self.errors} (timeouts {self.timeouts}), "
            f"notfound {self.not_found}, processed!=good+bad {self.inconsistent}; latency "
            f"p50 {percentile(ordered, 50) * 1000:.1f} ms, "
            f"p90 {percentile(ordered, 90) * 1000:.1f} ms, "
            f"p99 {percentile(ordered, 99) * 1000:.1f} ms, "
            f"max {(ordered[-1] if ordered else 0.0) * 1000:.1f} ms; "
            f"http {dict(sorted(self.http_statuses.items()))}, json {self.json_statuses}"
            + (f"; samples {self.samples}" if self.samples else "")
        )

    def _sample(self, text: str) -> None:
        if len(self.samples) < 10:
            self.samples.append(text[:300])


@dataclass
class JobResult:
    """A job's document as the progress route shows it once the job ended (or gave up)."""

    job_id: str
    status: str | None
    ended: bool
    good: int
    bad: int
    total: int | None
    processed: int
    running_after_polling: bool  # still running when the polling phase ended
    seconds: float  # from its start to when its end was seen


@dataclass
class ScenarioResult:
    loaded: PollStats
    jobs: list[JobResult]
    baseline: PollStats | None = None
    delay: float = 0.0
    items: int = 0
    server_log_errors: list[str] = field(default_factory=list)
    server_log_tail: list[str] = field(default_factory=list, repr=False)

    def report(self) -> str:
        lines = []
        if self.baseline is not None:
            lines.append(f"baseline (polling ended jobs): {self.baseline.summary()}")
        lines.append(f"loaded ({len(self.jobs)} jobs x {self.items} items, "
                     f"{self.delay * 1000:.1f} ms/item): {self.loaded.summary()}")
        for job in self.jobs:
            lines.append(
                f"job {job.job_id}: status {job.status}, ended {job.ended}, good {job.good}, "
                f"bad {job.bad}, total {job.total}, processed {job.processed}, ran "
                f"{job.seconds:.1f} s, running after polling {job.running_after_polling}")
        if self.server_log_errors:
            lines.append(f"server log errors ({len(self.server_log_errors)}):")
            lines.extend(f"  {line}" for line in self.server_log_errors[:20])
        return "\n".join(lines)


# -- the app process ----------------------------------------------------------------------


class AppProcess:
    """``apos serve`` with the jobs site; its output is drained continuously (the access
    log alone writes a line per request, and a full pipe would stall the server)."""

    def __init__(self, db_uri: str) -> None:
        self.db_uri = db_uri
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.tail: deque[str] = deque(maxlen=200)
        self.errors: list[str] = []
        self._drain: asyncio.Task[None] | None = None
        self._serving = asyncio.Event()

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *APOS, "serve", "--app", str(SITE), "--db-uri", self.db_uri,
            "--port", str(self.port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._drain = asyncio.create_task(self._read_output(self.process))
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT_S):
                while not self._serving.is_set():
                    if self._drain.done():
                        raise RuntimeError("apos serve exited before serving:\n"
                                           + "".join(self.tail))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._serving.wait(), 0.1)
        except TimeoutError:
            raise RuntimeError(f"apos serve did not start within {STARTUP_TIMEOUT_S:g} s:\n"
                               + "".join(self.tail)) from None

    async def _read_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            raw = await process.stdout.readline()
            if not raw:
                return
            line = raw.decode(errors="replace")
            self.tail.append(line)
            if "apos: serving" in line:
                self._serving.set()
            elif SERVER_LOG_PATTERN.search(line) and len(self.errors) < 200:
                self.errors.append(line.rstrip())

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await asyncio.wait_for(process.wait(), 20)
        elif process is not None:
            await process.wait()
        if self._drain is not None:
            try:
                await asyncio.wait_for(self._drain, 10)
            except TimeoutError:
                pass  # wait_for has cancelled it


@contextlib.asynccontextmanager
async def running_app(db_uri: str) -> AsyncIterator[AppProcess]:
    app = AppProcess(db_uri)
    try:
        await app.start()
        yield app
    finally:
        await app.stop()


async def add_user(db_uri: str, username: str = USERNAME, password: str = PASSWORD,
                   role: str = "editor") -> None:
    """``apos users:add`` with the password on standard input."""
    process = await asyncio.create_subprocess_exec(
        *APOS, "users:add", username, "--role", role, "--app", str(SITE), "--db-uri", db_uri,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(process.communicate(f"{password}\n".encode()), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError("apos users:add did not finish within 60 s") from None
    if process.returncode != 0:
        raise RuntimeError(f"apos users:add failed: {err.decode()}")


# -- the client side ----------------------------------------------------------------------


def _xsrf(session: aiohttp.ClientSession) -> str:
    return next((c.value for c in session.cookie_jar if c.key == "XSRF-TOKEN"), "")


async def post_json(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                    seconds: float = 30.0) -> dict[str, Any]:
    async with session.post(url, json=body, headers={"X-XSRF-TOKEN": _xsrf(session)},
                            timeout=aiohttp.ClientTimeout(total=seconds)) as response:
        data: dict[str, Any] = await response.json()
        if response.status != 200 or data.get("status") != "ok":
            raise RuntimeError(f"{url} answered {response.status}: {data}")
        return data


async def log_in(session: aiohttp.ClientSession, base_url: str,
                 username: str = USERNAME, password: str = PASSWORD) -> None:
    """Log the session in and make it hold the XSRF-TOKEN cookie, as a browser would."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with session.post(f"{base_url}/login", allow_redirects=False, timeout=timeout,
                            data={"username": username, "password": password}) as response:
        if response.status != 302:
            raise RuntimeError(f"login answered {response.status}: {await response.text()}")
    async with session.get(f"{base_url}/login", timeout=timeout) as response:
        await response.read()
    if not _xsrf(session):
        raise RuntimeError("GET /login set no XSRF-TOKEN cookie")


async def start_jobs(session: aiohttp.ClientSession, base_url: str, *, jobs: int, items: int,
                     delay: float) -> list[str]:
    """Start ``jobs`` batch jobs of ``items`` items, ``delay`` seconds each; their ids."""
    ids: list[str] = []
    for index in range(jobs):
        started = await post_json(session, f"{base_url}{BATCH}", {
            "ids": [f"load_{index}_{n}" for n in range(items)], "job": True, "delay": delay})
        ids.append(str(started["jobId"]))
    return ids


async def job_state(session: aiohttp.ClientSession, base_url: str,
                    job_id: str) -> dict[str, Any]:
    data = await post_json(session, f"{base_url}{PROGRESS}", {"_id": job_id})
    job: dict[str, Any] = data["job"]
    return job


async def wait_for_jobs(session: aiohttp.ClientSession, base_url: str, job_ids: Sequence[str],
                        *, seconds: float, started_at: float) -> list[JobResult]:
    """Poll until every job has ended or ``seconds`` pass; the last state of each."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    running_after: dict[str, bool] = {}
    ended_at: dict[str, float] = {}
    states: dict[str, dict[str, Any]] = {}
    while True:
        for job_id in job_ids:
            if job_id in ended_at:
                continue
            try:
                states[job_id] = await job_state(session, base_url, job_id)
            except (aiohttp.ClientError, TimeoutError, RuntimeError):
                continue  # tried again on the next round, until the deadline
            running_after.setdefault(job_id, not states[job_id].get("ended"))
            if states[job_id].get("ended"):
                ended_at[job_id] = loop.time()
        if len(ended_at) == len(job_ids) or loop.time() >= deadline:
            break
        await asyncio.sleep(0.25)
    results = []
    for job_id in job_ids:
        job = states.get(job_id, {})
        results.append(JobResult(
            job_id=job_id, status=job.get("status"), ended=bool(job.get("ended")),
            good=int(job.get("good") or 0), bad=int(job.get("bad") or 0),
            total=job.get("total"), processed=int(job.get("processed") or 0),
            running_after_polling=running_after.get(job_id, True),
            seconds=ended_at.get(job_id, loop.time()) - started_at))
    return results


def _copy_cookies(source: aiohttp.ClientSession, base_url: str) -> aiohttp.CookieJar:
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    url = URL(base_url)
    cookies: BaseCookie[str] = source.cookie_jar.filter_cookies(url)
    jar.update_cookies(cookies, response_url=url)
    return jar


async def _poller(index: int, login: aiohttp.ClientSession, base_url: str,
                  job_ids: Sequence[str], stats: PollStats, *, deadline: float,
                  interval: float, request_timeout: float, rng: random.Random) -> None:
    loop = asyncio.get_running_loop()
    url = f"{base_url}{PROGRESS}"
    job_id = job_ids[index % len(job_ids)]
    body = json.dumps({"_id": job_id})
    async with aiohttp.ClientSession(
            cookie_jar=_copy_cookies(login, base_url),
            timeout=aiohttp.ClientTimeout(total=request_timeout)) as session:
        # Browsers do not all open their modal in the same millisecond.
        await asyncio.sleep(rng.uniform(0, min(interval, max(0.0, deadline - loop.time()))))
        while loop.time() < deadline:
            headers = {"X-XSRF-TOKEN": _xsrf(session), "Content-Type": "application/json"}
            started = time.perf_counter()
            stats.requests += 1
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    raw = await response.read()
                    http = response.status
                latency = time.perf_counter() - started
            except TimeoutError:
                stats.errors += 1
                stats.timeouts += 1
                stats._sample(f"poller {index}: timeout after "
                              f"{time.perf_counter() - started:.2f} s")
            except (aiohttp.ClientError, OSError) as error:
                stats.errors += 1
                stats._sample(f"poller {index}: {type(error).__name__}: {error}")
            else:
                stats.latencies.append(latency)
                stats.http_statuses[http] = stats.http_statuses.get(http, 0) + 1
                if http >= 500:
                    stats.server_errors += 1
                try:
                    data = json.loads(raw)
                    status = str(data.get("status")) if isinstance(data, dict) else "?"
                except ValueError:
                    data, status = None, "not-json"
                stats.json_statuses[status] = stats.json_statuses.get(status, 0) + 1
                if status == "ok" and http == 200:
                    stats.ok += 1
                    job = data.get("job") or {}
                    if job.get("notfound"):
                        stats.not_found += 1
                    elif int(job.get("processed") or 0) != (
                            int(job.get("good") or 0) + int(job.get("bad") or 0)):
                        stats.inconsistent += 1
                else:
                    stats.non_ok += 1
                    stats._sample(f"poller {index}: HTTP {http} after {latency:.3f} s: "
                                  f"{raw[:200]!r}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, interval * rng.uniform(0.8, 1.2)))


async def poll(login: aiohttp.ClientSession, base_url: str, job_ids: Sequence[str], *,
               pollers: int, seconds: float, interval: float = 1.0,
               request_timeout: float = 10.0, seed: int = 0) -> PollStats:
    """Run ``pollers`` pollers for ``seconds``, poller ``i`` polling ``job_ids[i % n]``."""
    loop = asyncio.get_running_loop()
    stats = PollStats(pollers=pollers, seconds=seconds)
    began = loop.time()
    deadline = began + seconds
    rng = random.Random(seed)
    tasks = [asyncio.create_task(_poller(
        index, login, base_url, job_ids, stats, deadline=deadline, interval=interval,
        request_timeout=request_timeout, rng=random.Random(rng.random())))
        for index in range(pollers)]
    # Every poller stops by itself (deadline, request timeout); this bound is a safety net.
    done, pending = await asyncio.wait(tasks, timeout=seconds + request_timeout + 30)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
        stats.errors += len(pending)
        stats._sample(f"{len(pending)} pollers had to be cancelled")
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            stats.errors += 1
            stats._sample(f"poller crashed: {task.exception()!r}")
    stats.seconds = loop.time() - began
    return stats


def default_delay(seconds: float, items: int) -> float:
    """Seconds per item so that a job outlasts a polling phase of ``seconds``."""
    return max(seconds * 1.15, seconds + 3) / max(items, 1)


async def run_scenario(db_uri: str, *, pollers: int = 200, seconds: float = 30.0,
                       jobs: int = 3, items: int = 2000, delay: float | None = None,
                       baseline_seconds: float = 0.0, interval: float = 1.0,
                       request_timeout: float = 10.0, jobs_timeout: float | None = None,
                       report: Report = _quiet) -> ScenarioResult:
    """Start the app against ``db_uri`` (whose database should be empty), log in, then:

    * if ``baseline_seconds`` > 0, a baseline phase: ``jobs`` tiny jobs are run to their
      end, and the pollers poll those ended jobs for ``baseline_seconds``;
    * the loaded phase: ``jobs`` jobs of ``items`` items (``delay`` seconds each, by
      default long enough to outlast the phase) start, the pollers poll them for
      ``seconds``, then the jobs are awaited (``jobs_timeout``, by default twice their
      expected length plus a minute).
    """
    delay = default_delay(seconds, items) if delay is None else delay
    jobs_timeout = items * delay * 2 + 60 if jobs_timeout is None else jobs_timeout
    report(f"creating user {USERNAME}")
    await add_user(db_uri)
    async with running_app(db_uri) as app, aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        base = app.base_url
        report(f"app serving at {base}")
        await log_in(session, base)
        baseline = None
        if baseline_seconds > 0:
            ended = await start_jobs(session, base, jobs=jobs, items=5, delay=0)
            await wait_for_jobs(session, base, ended, seconds=60,
                                started_at=asyncio.get_running_loop().time())
            report(f"baseline: {pollers} pollers for {baseline_seconds:g} s on ended jobs")
            baseline = await poll(session, base, ended, pollers=pollers,
                                  seconds=baseline_seconds, interval=interval,
                                  request_timeout=request_timeout, seed=1)
            report(baseline.summary())
        started_at = asyncio.get_running_loop().time()
        job_ids = await start_jobs(session, base, jobs=jobs, items=items, delay=delay)
        report(f"loaded: {jobs} jobs x {items} items at {delay * 1000:.1f} ms/item; "
               f"{pollers} pollers for {seconds:g} s")
        loaded = await poll(session, base, job_ids, pollers=pollers, seconds=seconds,
                            interval=interval, request_timeout=request_timeout, seed=2)
        report(loaded.summary())
        report("waiting for the jobs to end")
        results = await wait_for_jobs(session, base, job_ids, seconds=jobs_timeout,
                                      started_at=started_at)
        return ScenarioResult(loaded=loaded, jobs=results, baseline=baseline, delay=delay,
                              items=items, server_log_errors=list(app.errors),
                              server_log_tail=list(app.tail))


def unique_db_name(prefix: str = "apos_load") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
