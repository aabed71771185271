"""`ingest`: delivered files → raw rows → cleaned records in DuckDB.

Each file is one transaction: it loads whole or not at all. A file whose content was
loaded before (same SHA-256) changes nothing. A new delivery of a feed becomes that
feed's current snapshot; the earlier one stays as history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl

from rootdb.clean.frame import clean_frame
from rootdb.errors import InputFileError, UsageError
from rootdb.faults import pause_point
from rootdb.ingest.detect import data_rows, recognise
from rootdb.ingest.readers import read_grid
from rootdb.ingest.results import FileResult, IngestResult
from rootdb.privacy import mask_text, os_user
from rootdb.specs import FeedSpec, load_specs
from rootdb.store import append_frame, ensure_schema, record_run, refresh_feed_views
from rootdb.workspace import connect, locate

_SKIP_PREFIXES = (".", "_", "~$")


class IngestProgress(Protocol):
    def start(self, total_files: int) -> None: ...
    def file_started(self, path: Path) -> None: ...
    def step(self, description: str) -> None: ...
    def file_done(self, result: FileResult) -> None: ...


class _Silent:
    def start(self, total_files: int) -> None: ...
    def file_started(self, path: Path) -> None: ...
    def step(self, description: str) -> None: ...
    def file_done(self, result: FileResult) -> None: ...


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given, folders walked (hidden, `_`-prefixed and Excel lock files skipped)."""
    files: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            for child in sorted(item.rglob("*")):
                rel = child.relative_to(item).parts
                if child.is_file() and not any(p.startswith(_SKIP_PREFIXES) for p in rel):
                    files.append(child)
        elif item.exists():
            files.append(item)
        else:
            raise UsageError(f"找不到文件或文件夹：{item}")
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest(
    paths: Iterable[Path | str],
    db: str | Path | None = None,
    feed: str | None = None,
    strict: bool = False,
    progress: IngestProgress | None = None,
    command: str = "ingest",
) -> IngestResult:
    """Load files or folders into the workspace database; see `IngestResult`."""
    started = time.perf_counter()
    progress = progress or _Silent()
    specs = load_specs()
    if feed is not None and feed not in specs:
        raise UsageError(f"未知的数据源代码 '{feed}'；可用：{', '.join(sorted(specs))}")
    files = expand_paths(paths)
    ws = locate(db)
    batch_started = dt.datetime.now()
    results: list[FileResult] = []
    with connect(ws.db_path) as con:
        ensure_schema(con)
        batch_id = con.execute("SELECT nextval('batch_id_seq')").fetchall()[0][0]
        progress.start(len(files))
        for path in files:
            progress.file_started(path)
            result = _ingest_file(con, path, specs, feed, batch_id, progress, strict)
            results.append(result)
            progress.file_done(result)
        outcome = IngestResult(batch_id=batch_id, files=results, strict=strict)
        outcome.seconds = time.perf_counter() - started
        _record_batch(con, outcome, command, batch_started)
    return outcome


def _record_batch(con, outcome: IngestResult, command: str, started: dt.datetime) -> None:
    totals = outcome.to_dict()["totals"]
    headline = (f"{totals['files']} 个文件，读取 {totals['rows_read']:,} 行，隔离 {totals['rows_quarantined']:,} 行"
                + (f"，{totals['failed']} 个文件失败" if totals["failed"] else ""))
    record_run(con, command, os_user(), started, "ok" if outcome.ok else "failed", outcome.to_dict(), headline,
               batch_id=outcome.batch_id)


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    specs: dict[str, FeedSpec],
    forced_feed: str | None,
    batch_id: int,
    progress: IngestProgress,
    strict: bool = False,
) -> FileResult:
    started = time.perf_counter()
    result = FileResult(file=path.name, path=str(path.resolve()), feed=None, status="failed")
    try:
        progress.step("计算文件指纹")
        digest = sha256_of(path)
        seen = con.execute(
            "SELECT feed, file_name, loaded_at FROM files WHERE sha256 = ? ORDER BY file_id LIMIT 1", [digest]
        ).fetchall()
        if seen:
            feed, name, loaded_at = seen[0]
            result.feed, result.status = feed, "unchanged"
            result.message = f"与 {loaded_at:%Y-%m-%d %H:%M} 已导入的 {name} 内容相同，未做任何改动"
            return result
        progress.step("读取")
        grid = read_grid(path)
        layout = recognise(grid.cells, specs, path.name, forced_feed)
        spec = layout.spec
        result.feed, result.header_row, result.encoding = spec.code, layout.header_row, grid.encoding
        result.warnings.extend(grid.warnings + layout.warnings)
        rows = data_rows(grid.cells, layout)
        if rows.height == 0:
            raise InputFileError(path, f"表头（第{layout.header_row}行）下面没有任何数据行")
        progress.step(f"清洗 {rows.height:,} 行")
        number_cells = {
            fld: {row for row, col in grid.long_numbers if col == layout.columns[fld]} for fld in layout.columns
        }
        cleaned = clean_frame(spec, rows, number_cells)
        if strict and cleaned.quarantine.height:
            first = cleaned.quarantine.row(0, named=True)
            result.rows_read, result.rows_quarantined = rows.height, cleaned.quarantine.height
            raise InputFileError(
                path,
                f"--strict：有 {cleaned.quarantine.height:,} 行无法识别（如第{first['source_row']}行：{first['reason']}），"
                "本文件未导入",
            )
        progress.step("写入数据库")
        _load(con, path, digest, batch_id, grid, layout, rows, cleaned, result)
        result.status = "loaded"
    except InputFileError as exc:
        result.status, result.message = "failed", str(exc)
    except Exception as exc:  # a bug or an environment failure: still name the file, keep going
        result.status = "failed"
        result.message = f"{path.name}：导入时发生意外错误，本文件未导入（{type(exc).__name__}: {exc}）"
    finally:
        result.seconds = time.perf_counter() - started
        # What is printed, returned and stored about the file quotes no ID or mobile.
        result.message = mask_text(result.message)
        result.warnings = [mask_text(w) for w in result.warnings]
    return result


def _load(con, path, digest, batch_id, grid, layout, rows, cleaned, result: FileResult) -> None:
    spec = layout.spec
    feed = spec.code
    if rows.height != cleaned.records.height + cleaned.quarantine.height:  # never expected: refuse, load nothing
        raise RuntimeError(f"行数核对失败：读取 {rows.height} ≠ 导入 {cleaned.records.height} + 隔离 {cleaned.quarantine.height}")
    con.begin()
    try:
        file_id = con.execute("SELECT nextval('file_id_seq')").fetchall()[0][0]
        tag = pl.lit(file_id, dtype=pl.Int64).alias("file_id")
        raw = rows.select(tag, pl.col("source_row").cast(pl.Int64), *[c.field for c in spec.columns if c.field in rows.columns])
        append_frame(con, f"raw_{feed}", raw)
        append_frame(con, f"rec_{feed}", cleaned.records.with_columns(tag).select("file_id", pl.exclude("file_id")))
        if cleaned.issues.height:
            append_frame(
                con, "row_issues",
                cleaned.issues.with_columns(tag, pl.lit(feed).alias("feed")).select(
                    "file_id", "feed", "source_row", "field", "header", "code", "message", "value"
                ),
            )
        if cleaned.quarantine.height:
            originals = rows.join(cleaned.quarantine, on="source_row", how="semi")
            by_header = originals.select(
                "source_row",
                pl.struct([pl.col(f).alias(h) for f, h in layout.headers.items()]).struct.json_encode().alias("original"),
            )
            append_frame(
                con, "quarantine",
                cleaned.quarantine.join(by_header, on="source_row").select(
                    tag, pl.lit(feed).alias("feed"), pl.lit(path.name).alias("source_file"),
                    "source_row", "reason", "original",
                ),
            )
        previous = con.execute("SELECT file_id FROM files WHERE feed = ? AND is_current", [feed]).fetchall()
        con.execute(
            "UPDATE files SET is_current = false, replaced_by = ? WHERE feed = ? AND is_current", [file_id, feed]
        )
        con.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true, NULL, ?)",
            [
                file_id, batch_id, feed, path.name, str(path.resolve()), digest, path.stat().st_size,
                grid.encoding, grid.sheet, layout.header_row, rows.height, cleaned.records.height,
                cleaned.quarantine.height, dt.datetime.now(), json.dumps(layout.headers, ensure_ascii=False),
            ],
        )
        refresh_feed_views(con, feed)
        pause_point("ingest.before_commit")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    result.file_id = file_id
    result.rows_read = rows.height
    result.rows_loaded = cleaned.records.height
    result.rows_quarantined = cleaned.quarantine.height
    result.rows_flagged = cleaned.issues["source_row"].n_unique() if cleaned.issues.height else 0
    if previous:
        result.warnings.append(f"已替换 {feed} 的上一份数据（保留为历史快照）")
