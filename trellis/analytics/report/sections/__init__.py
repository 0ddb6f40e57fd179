"""Each built-in job's section of the report, one module per job and named for it, keyed by the job's name.

A new job brings its section the same way: a module here with a ``JobSection`` for the job's name, listed
below. The report builds one section per job of ``trellis.analytics.registry.JOBS``, in their order; a job
with no section here is reported as such (see ``build.build_report``).
"""

from __future__ import annotations

from trellis.analytics.report.job_section import JobSection
from trellis.analytics.report.sections import adoption, cost, demand, dora, platform_health, utilization

SECTIONS: dict[str, JobSection] = {
    section.job: section
    for section in (
        dora.SECTION,
        adoption.SECTION,
        demand.SECTION,
        utilization.SECTION,
        cost.SECTION,
        platform_health.SECTION,
    )
}
"""The registry: each job's section by the job's name."""

__all__ = ["SECTIONS"]
