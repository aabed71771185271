"""`rootdb init`: a workspace in a folder — `rootdb.toml`, the database with rootdb's
tables (`rootdb.store.ensure_schema`) and the inbox. An existing workspace is left as
it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class InitResult:
    root: str
    config: str
    database: str
    existed: bool  # the folder held a workspace already: nothing was changed

    def to_dict(self) -> dict:
        return {"root": self.root, "config": self.config, "database": self.database, "existed": self.existed}


def init(directory: Path) -> InitResult:
    from rootdb.workspace import init_workspace, workspace_exists

    existed = workspace_exists(directory)
    ws = init_workspace(directory)
    return InitResult(root=str(ws.root), config=str(ws.config_path), database=str(ws.db_path),
                      existed=existed)
