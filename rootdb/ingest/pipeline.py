"""`ingest`: delivered files → raw rows → cleaned records in DuckDB.

Each file is one transaction: it loads whole or not at all. A file whose content was
loaded before (same SHA-256) changes nothing. A new delivery of a feed becomes that
feed's current snapshot and the earlier one stays as history — unless the new one states
an earlier date than the current snapshot's (`rootdb.ingest.deliveries`): an older
delivery never replaces a newer one, in one run or across runs; it is kept as history
and the result says so.

Every sheet of a workbook whose header fits the feed is read (each is a row of `files`
of its own, all loaded in the file's one transaction); the others are skipped, with the
reason. The run is recorded in `batches` as running when it starts, finished at its end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl

from rootdb.clean.frame import CleanResult, clean_frame
from rootdb.errors import DISK_FULL_MESSAGE, InputFileError, UsageError, disk_full, interrupted, out_of_memory
from rootdb.faults import pause_point
from rootdb.ingest.checks import check_rows
from rootdb.ingest.deliveries import DeliveryDate, delivery_date, is_older, stored_date, title_text
from rootdb.ingest.detect import Layout, data_rows, dup_column, name_matches, recognise
from rootdb.ingest.parts import Part, Vocabulary, part_from_content, part_from_name, part_key, row_part_condition
from rootdb.ingest.readers import Grid, read_grids
from rootdb.ingest.workers import Preparer, WorkerFailure, file_size, worker_count, workers_setting
from rootdb.ingest.results import FileResult, IngestResult, gbk_name, readable_path
from rootdb.privacy import mask_text, os_user
from rootdb.specs import FeedSpec, load_specs
from rootdb.store import append_frame, ensure_schema, finish_run, refresh_feed_views, start_run
from rootdb.store.sql import scalar
from rootdb.workspace import connect, locate, out_of_memory_message

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
                # A link to nothing is listed too: it fails, named, instead of passing unseen.
                if (child.is_file() or (child.is_symlink() and not child.exists())) \
                        and not any(p.startswith(_SKIP_PREFIXES) for p in rel):
                    files.append(child)
        elif item.exists():
            files.append(item)
        else:
            raise UsageError(f"找不到文件或文件夹：{readable_path(str(item))}")
    return files


def check_path_readable(path: Path) -> None:
    """An InputFileError for a file whose path is not valid text (no reader takes such a
    path), naming it as it most likely reads."""
    name = readable_path(path.name)
    if name != path.name:
        if gbk_name(path.name) is None:
            raise InputFileError(name, "文件名不是 UTF-8 编码，也不是 GBK（认不出的字节显示为 \\x 加两位数），"
                                 "本文件未导入。请把它改个名字后重新导入")
        rename = (f"同一文件夹里已有「{name}」，请另取一个名字" if os.path.lexists(path.with_name(name))
                  else f"请把它改名为「{name}」")
        raise InputFileError(name, "文件名不是 UTF-8 编码（多半来自 Windows 上打的压缩包，这里按 GBK 读出），"
                             f"本文件未导入。{rename}后重新导入，或解压时写明编码：unzip -O GBK 压缩包.zip")
    folder = readable_path(str(path.parent))
    if folder != str(path.parent):
        raise InputFileError(name, f"所在文件夹的名字不是 UTF-8 编码（读作「{folder}」），本文件未导入。"
                             "请把文件夹改名后重新导入，或解压时写明编码：unzip -O GBK 压缩包.zip")


def _path_readable(path: Path) -> bool:
    return readable_path(str(path)) == str(path)


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
    order = _load_order(files, specs, sort=feed is None)  # --feed: every file one feed, as given
    workers_setting()  # a bad ROOTDB_INGEST_WORKERS is a usage error before anything is written
    ws = locate(db)
    results: list[FileResult | None] = [None] * len(files)  # in the order given
    with connect(ws.db_path) as con:  # may wait for another run: the batch starts once it has the database
        ensure_schema(con)
        batch_id = start_run(con, command, os_user(), dt.datetime.now())
        progress.start(len(files))
        # Where workers would be used, files whose content was loaded before are not handed to
        # them (every file is checked again at its turn).
        unseen = [files[i] for i in order if _path_readable(files[i])
                  and (digest := _digest_if_readable(files[i])) is not None
                  and not _seen(con, digest)] if worker_count(files) else []
        with Preparer(_prepare_elsewhere, _prepare_whole, unseen, (feed, strict)) as preparer:
            if preparer.mine is not None:
                progress.file_started(preparer.mine)
                progress.step("读取、清洗")
                preparer.prepare_own()
            for i in order:
                progress.file_started(files[i])
                results[i] = _ingest_file(con, files[i], specs, feed, batch_id, progress, strict, preparer)
                progress.file_done(results[i])
        outcome = IngestResult(batch_id=batch_id, files=results, strict=strict)
        outcome.seconds = time.perf_counter() - started
        _record_batch(con, outcome)
    return outcome


def _load_order(files: list[Path], specs: dict[str, FeedSpec], sort: bool = True) -> list[int]:
    """The order files are loaded in, as positions in `files`: the files named as reference
    registries first (a feed delivered in parts knows its parts by the communities and
    grids of the standard address registry, so a first batch holding both must load the
    registry first), then the rest in the order given, except that between two files whose
    name tells no feed or more than one (known only once read, they keep their place) the
    feeds go by their largest file, largest first: the worker processes then clean the
    longest files while the main process stores the shorter ones, not at the end. Files of
    one feed keep their order: of two deliveries with the same date, the later one loaded
    is current. Without `sort` (all files of one feed) the rest stays as given."""
    references = [s for s in specs.values() if s.kind == "reference"]
    first = [i for i, path in enumerate(files) if any(name_matches(s, path.name) for s in references)]
    order, run, taken = list(first), [], set(first)

    def sort_run() -> None:  # a run of files each named for one feed: by feed, largest first
        groups: dict[str, list[int]] = {}
        for i, feed in run:
            groups.setdefault(feed, []).append(i)
        order.extend(i for positions in sorted(groups.values(), key=lambda ps: -max(file_size(files[i]) for i in ps))
                     for i in positions)
        run.clear()

    for i, path in enumerate(files):
        if i in taken:
            continue
        named = [s.code for s in specs.values() if name_matches(s, path.name)]
        if sort and len(named) == 1:
            run.append((i, named[0]))
        else:
            sort_run()
            order.append(i)
    sort_run()
    return order


def _record_batch(con, outcome: IngestResult) -> None:
    totals = outcome.to_dict()["totals"]
    history = sum(1 for f in outcome.files if f.status == "loaded" and f.current is False)
    headline = (f"{totals['files']} 个文件，读取 {totals['rows_read']:,} 行，隔离 {totals['rows_quarantined']:,} 行"
                + (f"，{history} 个文件比当前数据旧、仅存为历史" if history else "")
                + (f"，{totals['failed']} 个文件失败" if totals["failed"] else ""))
    finish_run(con, outcome.batch_id, "ok" if outcome.ok else "failed", outcome.to_dict(), headline)


class _Part:
    """One sheet (or a CSV) of a file, read, recognised and cleaned."""

    def __init__(self, grid: Grid, layout: Layout, rows: pl.DataFrame):
        self.grid, self.layout, self.rows = grid, layout, rows
        self.cleaned: CleanResult | None = None

    # From an ingest worker to the main process its frames travel as Arrow IPC: a third
    # smaller and two to three times faster than polars' own pickling.
    def __getstate__(self) -> dict:
        frames = {"rows": self.rows}
        if self.cleaned is not None:
            frames.update(records=self.cleaned.records, issues=self.cleaned.issues,
                          quarantine=self.cleaned.quarantine)
        return {"grid": self.grid, "layout": self.layout, "frames": {k: _ipc(f) for k, f in frames.items()}}

    def __setstate__(self, state: dict) -> None:
        frames = {k: pl.read_ipc(io.BytesIO(b)) for k, b in state["frames"].items()}
        self.grid, self.layout, self.rows = state["grid"], state["layout"], frames["rows"]
        self.cleaned = (CleanResult(frames["records"], frames["issues"], frames["quarantine"])
                        if "records" in frames else None)


def _ipc(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_ipc(out, compat_level=pl.CompatLevel.oldest())
    return out.getvalue()


def _recognise_sheets(path: Path, grids: list[Grid], specs: dict[str, FeedSpec], forced_feed: str | None,
                      result: FileResult) -> list[_Part]:
    """Every sheet whose header fits the feed (the first sheet that fits decides the
    feed, unless it is forced); the others are skipped, with the reason."""
    parts: list[_Part] = []
    errors: list[tuple[Grid, InputFileError]] = []
    feed = forced_feed
    for grid in grids:
        try:
            layout = recognise(grid.cells, specs, path.name, feed, letters=grid.letters)
        except InputFileError as exc:
            errors.append((grid, exc))
            continue
        feed = layout.spec.code
        rows = data_rows(grid.cells, layout)
        if rows.height == 0:
            errors.append((grid, InputFileError(path, f"表头（第{layout.header_row}行）下面没有任何数据行")))
            continue
        parts.append(_Part(grid, layout, rows))
    if not parts:
        if len(grids) == 1:
            raise errors[0][1]
        detail = "；".join(f"工作表“{g.sheet}”：{e.detail}" for g, e in errors)
        raise InputFileError(path, f"{len(grids)} 个工作表都无法导入（{detail}）")
    if len(grids) > 1:
        result.sheets = [p.grid.sheet for p in parts]
        result.skipped_sheets = {g.sheet: e.detail for g, e in errors}
        read = "、".join(f"“{p.grid.sheet}”（{p.rows.height:,} 行）" for p in parts)
        result.warnings.append(f"工作簿有 {len(grids)} 个有内容的工作表，已读取：{read}")
        for g, e in errors:
            result.warnings.append(f"已跳过工作表“{g.sheet}”：{e.detail}")
    elif parts[0].grid.sheet:
        result.sheets = [parts[0].grid.sheet]
    return parts


def _fingerprint(path: Path) -> str:
    """`sha256_of`, with a file gone or unreadable by its turn said in Chinese, named."""
    try:
        return sha256_of(path)
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise InputFileError(path, f"这是一个链接，指向的文件不存在（{readable_path(os.readlink(path))}）") from exc
        raise InputFileError(path, "文件不存在（可能已被移走或改名）") from exc
    except OSError as exc:
        raise InputFileError(path, f"无法打开文件：{exc.strerror or exc}") from exc


def _digest_if_readable(path: Path) -> str | None:
    """`_fingerprint`, None for a file gone or unreadable (it fails, named, at its turn)."""
    try:
        return _fingerprint(path)
    except InputFileError:
        return None


def _unchanged(con, digest: str, result: FileResult) -> bool:
    """Whether a file with this content was loaded before; then `result` says so."""
    seen = _seen(con, digest)
    if seen:
        feed, name, loaded_at = seen
        result.feed, result.status = feed, "unchanged"
        result.message = f"与 {loaded_at:%Y-%m-%d %H:%M} 已导入的 {name} 内容相同，未做任何改动"
    return bool(seen)


def _seen(con, digest: str) -> tuple | None:
    """(feed, file name, loaded at) of a file with this content loaded before, or None."""
    return con.execute(
        "SELECT feed, file_name, loaded_at FROM files WHERE sha256 = ? ORDER BY file_id LIMIT 1", [digest]
    ).fetchone()


@dataclass
class _Prepared:
    """A file read, recognised and cleaned: everything of it that needs no database (what
    the reading found out about the file goes into its `FileResult`)."""

    parts: list[_Part]
    delivered: DeliveryDate
    digest: str  # the SHA-256 of the file as it was read


def _prepare(path: Path, digest: str, specs: dict[str, FeedSpec], forced_feed: str | None, strict: bool,
             result: FileResult, progress: IngestProgress) -> _Prepared:
    """`path` read, recognised and cleaned; `digest` was taken just before."""
    progress.step("读取")
    grids = read_grids(path)
    parts = _recognise_sheets(path, grids, specs, forced_feed, result)
    first = parts[0]
    spec = first.layout.spec
    result.feed, result.header_row, result.encoding = spec.code, first.layout.header_row, first.grid.encoding
    for warning in (w for p in parts for w in p.grid.warnings + p.layout.warnings):
        if warning not in result.warnings:
            result.warnings.append(warning)
    result.rows_read = sum(p.rows.height for p in parts)
    delivered = delivery_date(path, title_text(first.grid.cells, first.layout.header_row))
    result.delivery_date, result.delivery_basis = delivered.date.isoformat(), delivered.basis
    progress.step(f"清洗 {result.rows_read:,} 行")
    for part in parts:
        part.cleaned = _clean(part)
    quarantined = sum(p.cleaned.quarantine.height for p in parts)
    if strict and quarantined:
        row = next(p.cleaned.quarantine.row(0, named=True) for p in parts if p.cleaned.quarantine.height)
        result.rows_failed = result.rows_read
        raise InputFileError(
            path,
            f"--strict：有 {quarantined:,} 行无法识别（如第{row['source_row']}行：{row['reason']}），"
            f"本文件 {result.rows_read:,} 行都未导入",
        )
    return _Prepared(parts, delivered, digest)


def _new_result(path: Path) -> FileResult:
    return FileResult(file=readable_path(path.name), path=str(path.resolve()), feed=None, status="failed")


def _prepare_elsewhere(path: Path, forced_feed: str | None, strict: bool) -> tuple[_Prepared | None, FileResult,
                                                                                  BaseException | None]:
    """`_prepare` in a worker process (`rootdb.ingest.workers`): what it found, or the
    failure with what was known of the file by then. The grid's cells stay here: the
    main process needs only the data rows."""
    pause_point("ingest.worker")
    return _prepare_whole(path, forced_feed, strict)


def _prepare_whole(path: Path, forced_feed: str | None, strict: bool) -> tuple[_Prepared | None, FileResult,
                                                                              BaseException | None]:
    """`_prepare_elsewhere`'s work, also done by the main process for the one file it
    reads while the workers start."""
    result = _new_result(path)
    try:
        prepared = _prepare(path, _fingerprint(path), load_specs(), forced_feed, strict, result, _Silent())
    except InputFileError as exc:
        return None, result, exc
    except Exception as exc:  # noqa: BLE001 - reported for the file, as in-process
        return None, result, WorkerFailure(f"{type(exc).__name__}: {exc}")
    for part in prepared.parts:
        part.grid.cells = part.grid.cells.clear()
    return prepared, result, None


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    specs: dict[str, FeedSpec],
    forced_feed: str | None,
    batch_id: int,
    progress: IngestProgress,
    strict: bool = False,
    preparer: Preparer | None = None,
) -> FileResult:
    """Load one file, read and cleaned here or by `preparer`'s worker processes. The
    SHA-256 stored with its rows is taken just before they are read (a file replaced
    during a run is stored as what was read, and compared by that)."""
    started = time.perf_counter()
    result = _new_result(path)
    elsewhere = preparer.take(path) if preparer else None
    try:
        check_path_readable(path)
        received = None
        if elsewhere is not None:
            progress.step("读取、清洗")
            received = preparer.outcome(elsewhere)
        if received is None:
            progress.step("计算文件指纹")
            digest = _fingerprint(path)
            if _unchanged(con, digest, result):
                return result
            prepared = _prepare(path, digest, specs, forced_feed, strict, result, progress)
        else:
            prepared, read, failure = received
            if failure is not None:
                result = read
                raise failure
            if _unchanged(con, prepared.digest, result):  # as delivered twice in this run
                return result
            result = read
        parts, spec = prepared.parts, prepared.parts[0].layout.spec
        vocab = Vocabulary.load(con)
        feed_part = (part_from_name(path.name, spec, vocab)
                     or part_from_content([p.cleaned.records for p in parts], spec, vocab))
        if feed_part is not None:
            result.part, result.part_basis = feed_part.name, feed_part.basis
        progress.step("写入数据库")
        _load(con, path, prepared.digest, batch_id, parts, prepared.delivered, result, feed_part, vocab)
        result.status = "loaded"
    except InputFileError as exc:
        result.status, result.message = "failed", str(exc)
    except Exception as exc:  # a bug or an environment failure: still name the file, keep going
        if interrupted(exc):  # Ctrl+C, turned into an error by DuckDB: stop the run, not just this file
            raise KeyboardInterrupt from exc
        if isinstance(exc, duckdb.FatalException):  # the connection is gone (a checkpoint out of memory)
            raise
        result.status = "failed"
        result.retry = disk_full(exc) or out_of_memory(exc) or isinstance(exc, MemoryError)
        if disk_full(exc):
            result.message = f"{path.name}：本文件未导入。{DISK_FULL_MESSAGE}"
        elif out_of_memory(exc):
            result.message = f"{path.name}：本文件未导入。{out_of_memory_message()}"
        else:
            what = str(exc) if isinstance(exc, WorkerFailure) else f"{type(exc).__name__}: {exc}"
            result.message = f"{path.name}：导入时发生意外错误，本文件未导入（{what}）"
    finally:
        result.seconds = time.perf_counter() - started
        if result.status == "failed":
            # Nothing of a failed file is stored: every row it was read with counts as failed.
            result.rows_loaded = result.rows_quarantined = result.rows_flagged = 0
            result.rows_failed = result.rows_read
            result.current = None
        # What is printed, returned and stored about the file quotes no ID or mobile.
        result.message = mask_text(result.message)
        result.warnings = [mask_text(w) for w in result.warnings]
    return result


def _clean(part: _Part) -> CleanResult:
    """Clean one sheet's rows, with what the reader or the file changed flagged
    (`rootdb.ingest.checks`) and rows it could not split quarantined."""
    grid, layout = part.grid, part.layout
    checked = check_rows(grid, layout, part.rows)
    number_cells = {
        fld: {row for row, col in grid.long_numbers if col in (layout.duplicates.get(fld) or [layout.columns[fld]])}
        for fld in layout.columns
    }
    cleaned = clean_frame(layout.spec, checked.rows, number_cells)
    if checked.quarantine.height:
        forced = checked.quarantine
        cleaned = CleanResult(
            records=cleaned.records.join(forced, on="source_row", how="anti"),
            issues=cleaned.issues.join(forced, on="source_row", how="anti"),
            quarantine=pl.concat([cleaned.quarantine.join(forced, on="source_row", how="anti"), forced])
            .sort("source_row"),
        )
    extra = checked.issues.join(cleaned.records.select("source_row"), on="source_row", how="semi")
    if extra.height:
        cleaned.issues = pl.concat([cleaned.issues, extra.select(cleaned.issues.columns)]).sort(
            "source_row", "field", maintain_order=True)
    return cleaned


@dataclass(frozen=True)
class _Delivered:
    """A current file of a feed (one row of `files`)."""

    file_id: int
    file_name: str
    delivery_date: dt.date | None
    delivery_basis: str | None
    part: str | None  # None: a whole-feed delivery
    part_basis: str | None = None

    @property
    def key(self) -> str | None:
        return None if self.part is None else part_key(self.part)

    @property
    def stated(self) -> DeliveryDate:
        """Its delivery date, with what it states (a year, a month or a day)."""
        return stored_date(self.delivery_date, self.delivery_basis, self.file_name)


def _current_files(con, feed: str) -> list[_Delivered]:
    """The files making up a feed's current data: the latest delivery of every part
    (and the whole-feed delivery they have not replaced)."""
    return [_Delivered(*row) for row in con.execute(
        "SELECT file_id, file_name, delivery_date, delivery_basis, part, part_basis FROM files "
        "WHERE feed = ? AND is_current ORDER BY file_id", [feed]
    ).fetchall()]


def _rivals(previous: list[_Delivered], feed_part: Part | None,
            vocab: Vocabulary) -> tuple[list[_Delivered], list[_Delivered]]:
    """The current files a new delivery would replace: (replaced whole, replaced only in
    the rows of the new part). A whole-feed delivery replaces all of them. A part
    replaces its own earlier delivery and the grids' deliveries within it (a community),
    and the rows of the part in a whole-feed delivery or in its community's delivery
    (a grid)."""
    if feed_part is None:
        return previous, []
    whole, within = [], []
    grid_community = {part_key(g): {part_key(c) for c in cs} for g, cs in vocab.grid_communities.items()}
    for p in previous:
        if p.part is None:
            within.append(p)
        elif p.key == feed_part.key:
            whole.append(p)
        elif feed_part.level == "community" and grid_community.get(p.key) == {feed_part.key}:
            whole.append(p)  # a grid of this community
        elif feed_part.level == "grid" and grid_community.get(feed_part.key) == {p.key}:
            within.append(p)  # the community this grid is in
    return whole, within


def _raw_frame(part: _Part, tag: pl.Expr) -> pl.DataFrame:
    """Every data row as delivered: one column per field; a field named by several
    columns keeps each of them (`<field>`, `<field>__2`, …)."""
    spec, layout, rows = part.layout.spec, part.layout, part.rows
    columns = []
    for c in spec.columns:
        if c.field not in rows.columns:
            continue
        cols = layout.duplicates.get(c.field)
        if not cols:
            columns.append(pl.col(c.field))
            continue
        columns.append(pl.col(dup_column(c.field, 1)).alias(c.field))
        columns.extend(pl.col(dup_column(c.field, k)).alias(f"{c.field}__{k}") for k in range(2, len(cols) + 1))
    return rows.select(tag, pl.col("source_row").cast(pl.Int64), *columns)


def _load(con, path: Path, digest: str, batch_id: int, parts: list[_Part], delivered: DeliveryDate,
          result: FileResult, feed_part: Part | None = None, vocab: Vocabulary | None = None) -> None:
    spec = parts[0].layout.spec
    feed = spec.code
    for part in parts:
        rows, cleaned = part.rows, part.cleaned
        if rows.height != cleaned.records.height + cleaned.quarantine.height:  # never expected: refuse, load nothing
            raise RuntimeError(
                f"行数核对失败：读取 {rows.height} ≠ 导入 {cleaned.records.height} + 隔离 {cleaned.quarantine.height}")
    con.begin()
    try:
        previous = _current_files(con, feed)
        replaced, within = _rivals(previous, feed_part, vocab or Vocabulary())
        rivals = replaced + within
        # An older delivery never replaces a newer one (of the same part): it is kept as history.
        # Dates are compared at the coarser of the two precisions (a month is not older
        # than a day in it); an equal date replaces.
        newer = [p for p in rivals if p.delivery_date is not None and is_older(delivered, p.stated)]
        newest = max(newer, key=lambda p: p.delivery_date, default=None)
        becomes_current = newest is None
        file_ids = []
        for part in parts:
            file_id = scalar(con, "SELECT nextval('file_id_seq')")
            file_ids.append(file_id)
            _store_part(con, path, feed, file_id, part)
        split: list[tuple[_Delivered, int, int]] = []
        if becomes_current:
            if replaced:
                con.execute(
                    "UPDATE files SET is_current = false, replaced_by = ? WHERE file_id IN (SELECT unnest(?::BIGINT[]))",
                    [file_ids[0], [p.file_id for p in replaced]],
                )
            for other in within:
                outcome = _split_whole(con, spec, other, feed_part, vocab or Vocabulary(), batch_id, file_ids[0])
                if outcome is not None:
                    split.append((other, *outcome))
        for file_id, part in zip(file_ids, parts):
            grid, layout, rows, cleaned = part.grid, part.layout, part.rows, part.cleaned
            con.execute(
                "INSERT INTO files (file_id, batch_id, feed, file_name, file_path, sha256, size_bytes, encoding, sheet, "
                "header_row, rows_read, rows_loaded, rows_quarantined, loaded_at, is_current, replaced_by, headers, "
                "delivery_date, delivery_basis, part, part_basis) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    file_id, batch_id, feed, path.name, str(path.resolve()), digest, path.stat().st_size,
                    grid.encoding, grid.sheet, layout.header_row, rows.height, cleaned.records.height,
                    cleaned.quarantine.height, dt.datetime.now(), becomes_current,
                    None if becomes_current else newest.file_id,
                    json.dumps(_headers_note(part), ensure_ascii=False), delivered.date, delivered.basis,
                    feed_part.name if feed_part else None, feed_part.basis if feed_part else None,
                ],
            )
        refresh_feed_views(con, feed)
        pause_point("ingest.before_commit")
        con.commit()
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:  # an interrupted query has already ended the transaction
            pass
        raise
    result.file_id = file_ids[0]
    result.current = becomes_current
    result.rows_loaded = sum(p.cleaned.records.height for p in parts)
    result.rows_quarantined = sum(p.cleaned.quarantine.height for p in parts)
    result.rows_flagged = sum(p.cleaned.issues["source_row"].n_unique() if p.cleaned.issues.height else 0
                              for p in parts)
    result.warnings += _load_notes(f"“{spec.title}”", feed_part, delivered, becomes_current, previous, replaced,
                                   newest, split)


def _load_notes(title: str, feed_part: Part | None, delivered: DeliveryDate, becomes_current: bool,
                previous: list[_Delivered], replaced: list[_Delivered], newest: _Delivered | None,
                split: list[tuple[_Delivered, int, int]]) -> list[str]:
    """What a data officer is told about where a loaded delivery stands (`title`: the
    feed's title, quoted)."""
    notes = []
    if feed_part is not None:
        notes.append(f"本文件是{title}的一个部分：{feed_part.name}（据{feed_part.basis}）；"
                     "只替换该部分此前的数据，其他部分不变")
    if not becomes_current:
        current = newest.stated
        which = f"{feed_part.name}部分的" if feed_part is not None and newest.part is not None else ""
        notes.append(
            f"本文件是{delivered.describe()}的数据，比{which}当前数据 {newest.file_name}（{current.describe()}）旧："
            "已作为历史数据保存，没有替换当前数据"
        )
        return notes
    if feed_part is None:
        named = sorted({p.part for p in previous if p.part is not None})
        if named:
            notes.append(f"本文件不分部分（整份数据），已替换{title}的全部当前数据，包括 {len(named)} 个部分："
                         f"{'、'.join(named)}（保留为历史快照）")
        elif previous:
            notes.append(f"已替换{title}的上一份数据（保留为历史快照）")
        return notes
    for p in replaced:
        if p.key == feed_part.key:
            notes.append(f"已替换 {feed_part.name} 部分的上一份数据（保留为历史快照）")
        else:
            notes.append(f"已替换 {feed_part.name} 内 {p.part} 部分的数据 {p.file_name}（保留为历史快照）")
    for whole, moved, kept in split:
        which = f"{whole.part}部分的数据" if whole.part else "整份数据"
        notes.append(f"{which} {whole.file_name} 中属于 {feed_part.name} 的 {moved:,} 行已由本文件替换，"
                     + (f"其余 {kept:,} 行仍为当前数据" if kept else "该文件已没有其他当前数据（保留为历史快照）"))
    return notes


REMAINDER_BASIS = "其余数据（已分别报送的部分除外）"


def _split_whole(con, spec: FeedSpec, whole: _Delivered, feed_part: Part, vocab: Vocabulary, batch_id: int,
                 replaced_by: int) -> tuple[int, int] | None:
    """A part delivered after a whole-feed delivery replaces that part's rows in it: the
    whole delivery's other rows stay current as a new row of `files` (same file, the
    part's rows left out), and the whole delivery itself becomes history. Returns
    (rows moved out, rows kept), or None when no row of it can be told to be the part's
    (it then stays current whole)."""
    feed = spec.code
    condition = row_part_condition(con, spec, feed_part, vocab, [whole.file_id])
    if condition is None:
        return None
    moved, kept = con.execute(
        f'SELECT count(*) FILTER (WHERE {condition}), count(*) FILTER (WHERE NOT {condition}) '
        f'FROM "rec_{feed}" r WHERE file_id = ?', [whole.file_id]).fetchall()[0]
    if not moved:
        return None
    if not kept:  # every row of it was the part's
        con.execute("UPDATE files SET is_current = false, replaced_by = ? WHERE file_id = ?",
                    [replaced_by, whole.file_id])
        return int(moved), 0
    rest = scalar(con, "SELECT nextval('file_id_seq')")
    con.execute(f'INSERT INTO "rec_{feed}" BY NAME SELECT * REPLACE (?::BIGINT AS file_id) FROM "rec_{feed}" r '
                f'WHERE file_id = ? AND NOT {condition}', [rest, whole.file_id])
    kept_rows = f'(SELECT source_row FROM "rec_{feed}" WHERE file_id = {int(rest)})'
    con.execute(f'INSERT INTO "raw_{feed}" BY NAME SELECT * REPLACE (?::BIGINT AS file_id) FROM "raw_{feed}" '
                f'WHERE file_id = ? AND source_row IN {kept_rows}', [rest, whole.file_id])
    con.execute(f"INSERT INTO row_issues BY NAME SELECT * REPLACE (?::BIGINT AS file_id) FROM row_issues "
                f"WHERE file_id = ? AND source_row IN {kept_rows}", [rest, whole.file_id])
    con.execute(
        "INSERT INTO files BY NAME SELECT * REPLACE (?::BIGINT AS file_id, ?::BIGINT AS batch_id, "
        "?::BIGINT AS rows_read, ?::BIGINT AS rows_loaded, 0::BIGINT AS rows_quarantined, "
        "now()::TIMESTAMP AS loaded_at, true AS is_current, NULL::BIGINT AS replaced_by, "
        "?::VARCHAR AS part_basis) FROM files WHERE file_id = ?",
        [rest, batch_id, kept, kept, REMAINDER_BASIS, whole.file_id])
    con.execute("UPDATE files SET is_current = false, replaced_by = ? WHERE file_id = ?", [replaced_by, whole.file_id])
    return int(moved), int(kept)


def _headers_note(part: _Part) -> dict:
    """field -> header as delivered; a field named by several columns lists them all."""
    layout = part.layout
    note: dict = dict(layout.headers)
    for fld, headers in layout.duplicate_headers.items():
        note[fld] = [f"{part.grid.letter(c)}:{h}" for c, h in zip(layout.duplicates[fld], headers)]
    return note


def _store_part(con, path: Path, feed: str, file_id: int, part: _Part) -> None:
    layout, rows, cleaned = part.layout, part.rows, part.cleaned
    tag = pl.lit(file_id, dtype=pl.Int64).alias("file_id")
    append_frame(con, f"raw_{feed}", _raw_frame(part, tag))
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
