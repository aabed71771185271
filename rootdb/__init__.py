"""rootdb: the root database (根数据库) of a street or community office.

Departments' files are read, cleaned and loaded into one DuckDB file; people,
houses and places are linked against the registry; recurring reports are written.
The CLI (`rootdb ...`) is a thin layer over `rootdb.commands` (one module per
command, returning result objects), which calls these functions.

The public names below are imported on first use (PEP 562), so that `import rootdb`
(and with it `rootdb --help`) does not load polars, DuckDB or the Excel readers.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> (module, attribute in that module)
_LAZY = {
    "ExitCode": ("rootdb.errors", "ExitCode"),
    "InputFileError": ("rootdb.errors", "InputFileError"),
    "RootdbError": ("rootdb.errors", "RootdbError"),
    "SchemaError": ("rootdb.errors", "SchemaError"),
    "UsageError": ("rootdb.errors", "UsageError"),
    "WorkspaceError": ("rootdb.errors", "WorkspaceError"),
    "IngestResult": ("rootdb.ingest", "IngestResult"),
    "ingest": ("rootdb.ingest", "ingest"),
    "status": ("rootdb.commands.status", "status"),
    "init": ("rootdb.workspace", "init_workspace"),
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ below does this
    from rootdb.errors import ExitCode, InputFileError, RootdbError, SchemaError, UsageError, WorkspaceError
    from rootdb.ingest import IngestResult, ingest
    from rootdb.commands.status import status
    from rootdb.workspace import init_workspace as init


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'rootdb' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """`rootdb.ingest` is a function, named like the subpackage that holds it. Importing
    a submodule binds it on its parent package; here the function keeps the name, as it
    did when this file imported it eagerly."""

    def __setattr__(self, name: str, value) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
