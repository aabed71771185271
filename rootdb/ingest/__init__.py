"""Ingest: delivered files → raw rows → cleaned records.

Reads `.xlsx/.xls/.ods/.csv` files (`readers`), finds each file's feed, header and
data rows (`detect`), cleans the rows by the feed's schema (`rootdb.clean`) and loads
them in one transaction per file (`pipeline`). Writes `files`, `raw_<feed>`,
`rec_<feed>`, `row_issues`, `quarantine` and `batches` (see `rootdb.store`).
"""

from rootdb.ingest.pipeline import ingest
from rootdb.ingest.results import FileResult, IngestResult

__all__ = ["FileResult", "IngestResult", "ingest"]
