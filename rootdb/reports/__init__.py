"""Reports, queries and group messages over the golden records.

- `templates`: the report files in `report_templates/` (SQL + layout), validated on load.
- `engine`: the shared report tables (`report_templates/_base.sql`) for an as-of date and
  area, then each report's rows, masked, written by `writer` as a workbook or CSV.
- `query`: people by age, sex, 民族, area, tags, feeds and groups (`rootdb query`);
  `notify`: one SMS per recipient from a jinja2 template (`rootdb notify`).

Reads the golden tables, the link tables and the feed views; writes only the audit log.
"""

from rootdb.reports.engine import ReportRun, run_reports, select_templates
from rootdb.reports.templates import ReportTemplate, load_templates

__all__ = ["ReportRun", "ReportTemplate", "load_templates", "run_reports", "select_templates"]
