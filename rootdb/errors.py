"""Typed errors of the library and the exit codes the CLI maps them to.

Messages are in Chinese: a data officer reads them.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # failed, nothing changed (or: some files failed, the rest loaded)
    USAGE = 2  # bad usage
    REJECTED = 3  # nightly: done, but some delivered files were rejected (set aside with a note)
    BUSY = 4  # nightly: another run holds the workspace; nothing done
    RETRY = 5  # nightly: done, but a file did not fit in memory or on disk: it waits in the inbox


class RootdbError(Exception):
    """Base of every error rootdb raises on purpose.

    The message has every resident ID and mobile number in it masked (a row quoted from
    a file, a value that did not parse): it reaches the terminal, the nightly log, the
    run record and the note beside a rejected file, none of which may hold them."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str):
        from rootdb.masking import mask_text

        message = mask_text(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(RootdbError):
    """The user asked for something that cannot be done as asked."""

    exit_code = ExitCode.USAGE


class WorkspaceError(RootdbError):
    """No workspace, a locked database, a database that cannot be opened."""


class DatabaseBusy(WorkspaceError):
    """Another rootdb process holds the database (and kept it past the wait)."""


class SchemaError(RootdbError):
    """A schema or report template file is invalid."""

    def __init__(self, file: Path | str, message: str, field: str | None = None, line: int | None = None):
        self.file = str(file)
        self.field = field
        self.line = line
        where = self.file
        if line is not None:
            where += f" 第{line}行"
        if field:
            where += f" 字段 {field}"
        super().__init__(f"{where}：{message}")


class InputFileError(RootdbError):
    """A delivered file cannot be read or loaded as a whole."""

    def __init__(
        self,
        file: Path | str,
        message: str,
        row: int | None = None,
        column: str | None = None,
    ):
        self.file = Path(file).name
        self.row = row
        self.column = column
        where = self.file
        if row is not None:
            where += f" 第{row}行"
        if column:
            where += f" “{column}”列"
        super().__init__(f"{where}：{message}")
        from rootdb.masking import mask_text

        self.detail = mask_text(message)
        self._given = (file, message, row, column)

    def __reduce__(self):
        """Rebuilt from what it was given (it crosses from an ingest worker process)."""
        return type(self), self._given


def _chain(exc: BaseException | None):
    """`exc` and the errors it was raised from or while handling (splink wraps DuckDB's)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def out_of_memory(exc: BaseException) -> bool:
    """DuckDB ran out of its memory limit, directly or inside splink."""
    import duckdb

    # A checkpoint that cannot pin its blocks fails as a FatalException without those words.
    return any(isinstance(e, duckdb.OutOfMemoryException)
               or any(words in str(e) for words in ("Out of Memory Error", "failed to pin block", "could not allocate"))
               for e in _chain(exc))


def interrupted(exc: BaseException) -> bool:
    """A Ctrl+C, however it was wrapped: DuckDB raises its own error for it, not
    KeyboardInterrupt (an InterruptException, or a RuntimeError while results are fetched),
    splink wraps that in its own, and cleaning up after a KeyboardInterrupt may fail."""
    import duckdb

    return any(isinstance(e, (KeyboardInterrupt, duckdb.InterruptException))
               or (isinstance(e, RuntimeError) and "query interrupted" in str(e).lower()) for e in _chain(exc))


def disk_full(exc: BaseException) -> bool:
    """The disk filled up: the database, its temporary files beside it, or an output."""
    import errno

    return any((isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e)
               for e in _chain(exc))


INTERRUPTED_MESSAGE = "已中断：进行中的这一步没有写入任何内容，此前已完成的保持不变。"

_DISK_FULL_ADVICE = ("大批数据比对时 DuckDB 会在数据库旁的 “数据库文件名.tmp” 目录写临时文件，"
                     "可能需要与数据库本身相当的空间；请清理磁盘后重试")
DISK_FULL_MESSAGE = "磁盘空间不足，本次操作未完成，数据库保持原样。" + _DISK_FULL_ADVICE
# A run of several steps (nightly), each kept once done: only the step under way is undone.
DISK_FULL_STEP_MESSAGE = "磁盘空间不足：进行中的这一步没有写入任何内容，此前已完成的保持不变。" + _DISK_FULL_ADVICE
