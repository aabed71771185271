"""Where the bundled folders are: inside the installed package (`rootdb/_data/…`,
copied there when a wheel is built) or beside the package in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """`schemas`, `report_templates` or `sample_data`."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"rootdb 安装不完整：找不到自带的 {name} 目录")
