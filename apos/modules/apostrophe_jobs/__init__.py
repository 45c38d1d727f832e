"""``apostrophe-jobs``: long-running jobs with progress, stop and cancel.

The split follows Apostrophe's: ``module.py`` (the module class and its options), ``api.py``
(``run``, ``run_non_batch``, ``start``/``good``/``bad``/``set_total``/``end``), ``routes.py``
(``progress``, ``cancel``, ``modal``, ``results``), ``watcher.py`` (the one task per app
that notices stop requests, refreshes heartbeats and finds interrupted jobs), ``lease.py``
(who runs a job and how to tell it died), ``results.py`` (results too large for the job
document), ``progress.py`` (what the progress display says), ``views/`` and ``public/``.
"""

from apos.modules.apostrophe_jobs.job import Job, JobStatus, Reporting
from apos.modules.apostrophe_jobs.module import JobsModule

__all__ = ["Job", "JobStatus", "JobsModule", "Reporting"]
