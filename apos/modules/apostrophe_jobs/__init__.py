"""``apostrophe-jobs``: long-running jobs with progress, stop and cancel.

The split follows Apostrophe's: ``module.py`` (the module class and its options), ``api.py``
(``run``, ``run_non_batch``, ``start``/``good``/``bad``/``set_total``/``end``), ``routes.py``
(``progress``, ``cancel``, ``modal``), ``watcher.py`` (noticing stop requests made by any
process), ``progress.py`` (what the progress display says), ``views/`` and ``public/``.
"""

from apos.modules.apostrophe_jobs.job import Job, JobStatus, Reporting
from apos.modules.apostrophe_jobs.module import JobsModule

__all__ = ["Job", "JobStatus", "JobsModule", "Reporting"]
