"""The analytics report: what the jobs found for a period, as a document (HTML, Markdown, PDF) or as data
(CSV, Parquet, XLSX).

``build_report`` reads the ``analytics_*`` tables through a reader (``ApiReader``: a running collector;
``FileReader``: a database file, read-only) into a ``Report``: an about part, then one section per job,
each job bringing its own (``SECTIONS``, keyed by the job's name). ``write_report`` writes it in one of
``FORMATS``. ``trellis report`` (``command``) does both. Other packages use only what is listed here.
"""

from trellis.analytics.report.build import build_report, make_report
from trellis.analytics.report.formats import FORMAT_NAMES, FORMATS, format_for, write_report
from trellis.analytics.report.job_section import JobSection
from trellis.analytics.report.model import Chart, Reader, Report, ReportTable, Section
from trellis.analytics.report.readers import ApiReader, FileReader
from trellis.analytics.report.sections import SECTIONS
from trellis.analytics.report.values import display_rows, format_value

__all__ = [
    "FORMATS",
    "FORMAT_NAMES",
    "SECTIONS",
    "ApiReader",
    "Chart",
    "FileReader",
    "JobSection",
    "Reader",
    "Report",
    "ReportTable",
    "Section",
    "build_report",
    "display_rows",
    "format_for",
    "format_value",
    "make_report",
    "write_report",
]
