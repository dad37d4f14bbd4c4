"""Workflow support: one pending re-check of Snakemake's job scheduler at a time.

Snakemake 9's job scheduler (``snakemake.scheduling.job_scheduler.JobScheduler``, 9.27.1 in the
lock) ends every round of job selection by arming a ``threading.Timer`` that wakes it again one
timespan of ``--max-jobs-per-timespan`` later (``_schedule_reevalutation``). A round woken by that
timer arms the next timer, and every round woken by anything else (a job finishing, a job
starting) starts another chain of them, so after N jobs about N timers fire every timespan, each
waking a full round of job selection; and the process waits for the last (non-daemon) timer when
it exits. Measured on the default study (2 cores, 437 jobs, `1000/10s`): the Snakemake process
alone took half a core through the trainings, and 426 timer threads were alive at the end.

``limit_reevaluations`` replaces that method so that at most one re-check is pending at any time
(a daemon timer: the process does not wait for it). The re-check still comes one timespan after
the last round, which is all the rate limiter needs to admit more jobs. The workflow installs it
when it is parsed (workflow/rules/common.smk), in the Snakemake process that schedules the jobs.
"""

from __future__ import annotations

import threading

__all__ = ["limit_reevaluations"]


def limit_reevaluations() -> bool:
    """Install the one-pending-re-check scheduler method; False (nothing changed) where this
    Snakemake has no such method."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    original = getattr(JobScheduler, "_schedule_reevalutation", None)
    if original is None or getattr(original, "_one_pending", False):
        return original is not None

    def schedule_reevaluation(self, delay) -> None:
        lock = self.__dict__.setdefault("_mcdetect_reeval_lock", threading.Lock())
        with lock:
            if self.__dict__.get("_mcdetect_reeval_pending"):
                return
            self._mcdetect_reeval_pending = True

        def fire():
            with lock:
                self._mcdetect_reeval_pending = False
            self._open_jobs.release()

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        timer.start()

    schedule_reevaluation._one_pending = True
    JobScheduler._schedule_reevalutation = schedule_reevaluation
    return True
