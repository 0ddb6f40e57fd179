"""Every job by name, in the order they run."""

from __future__ import annotations

from collections.abc import Iterable

from trellis.analytics import adoption, cost, demand, dora, platform_health, utilization
from trellis.analytics.job import Job

JOBS: dict[str, Job] = {
    job.name: job for job in (dora.JOB, adoption.JOB, demand.JOB, utilization.JOB, cost.JOB, platform_health.JOB)
}
"""The registry: ``analytics_<name>`` is each job's result table."""


class UnknownJob(ValueError):
    """A job name that is not in the registry; the message lists the known ones."""


def select_jobs(names: Iterable[str] | None) -> list[Job]:
    """The named jobs in registry order (all of them for None or an empty list)."""
    wanted = list(names or [])
    unknown = [n for n in wanted if n not in JOBS]
    if unknown:
        raise UnknownJob(f"unknown job {unknown[0]!r}; the jobs are {', '.join(JOBS)}")
    return [job for name, job in JOBS.items() if not wanted or name in wanted]
