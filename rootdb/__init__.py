"""rootdb: the root database (根数据库) of a street or community office.

Departments' files are read, cleaned and loaded into one DuckDB file; people,
houses and places are linked against the registry; recurring reports are written.
The CLI (`rootdb ...`) is a thin layer over these functions.
"""

from rootdb.errors import ExitCode, InputFileError, RootdbError, SchemaError, UsageError, WorkspaceError
from rootdb.ingest import IngestResult, ingest
from rootdb.status import status
from rootdb.workspace import init_workspace as init

__version__ = "0.1.0"

__all__ = [
    "ExitCode",
    "IngestResult",
    "InputFileError",
    "RootdbError",
    "SchemaError",
    "UsageError",
    "WorkspaceError",
    "ingest",
    "init",
    "status",
]
