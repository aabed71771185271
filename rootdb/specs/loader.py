"""Finding, reading and validating the feed schema files (``schemas/<code>.yaml``).

A schema file is YAML checked against :class:`~rootdb.specs.models.FeedSpec`. Every
problem becomes a :class:`~rootdb.errors.SchemaError` naming the file, the field
(``columns[3].type``) and, where the YAML says it, the line.

Schemas come from the bundled directory and then from the directories listed in
``ROOTDB_SCHEMAS`` (and those a caller passes); a later directory's file replaces an
earlier one of the same code, which is how a site adds a 19th feed or adapts one.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rootdb.errors import SchemaError
from rootdb.specs.models import GOLDEN_ENTITIES, RELATION_TARGETS, VALIDATED_TYPES, FeedSpec

SCHEMAS_ENV = "ROOTDB_SCHEMAS"
SCHEMA_SUFFIXES = (".yaml", ".yml")

_PACKAGE_DIR = Path(__file__).resolve().parent.parent

Location = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def schema_dirs() -> list[Path]:
    """The directories schemas are read from, lowest precedence first: the bundled
    schemas (``rootdb/_data/schemas`` in an installed wheel, else the repository's
    ``schemas/``), then each directory in ``ROOTDB_SCHEMAS`` (os.pathsep-separated)."""
    packaged = _PACKAGE_DIR / "_data" / "schemas"
    dirs = [packaged if packaged.is_dir() else _PACKAGE_DIR.parent / "schemas"]
    for part in os.environ.get(SCHEMAS_ENV, "").split(os.pathsep):
        if part.strip():
            dirs.append(Path(part.strip()).expanduser())
    return dirs


def load_specs(extra_dirs: list[Path] | None = None) -> dict[str, FeedSpec]:
    """Every schema by code: those of :func:`schema_dirs`, then those of ``extra_dirs``.

    Read once per combination of directories; the result is a fresh dict each call.
    """
    dirs = tuple(Path(d).expanduser().resolve() for d in [*schema_dirs(), *(extra_dirs or [])])
    return dict(_load_dirs(dirs))


def clear_spec_cache() -> None:
    """Forget the schemas read so far (after schema files were edited in place)."""
    _load_dirs.cache_clear()


@functools.lru_cache(maxsize=32)
def _load_dirs(dirs: tuple[Path, ...]) -> dict[str, FeedSpec]:
    specs: dict[str, FeedSpec] = {}
    for directory in dirs:
        specs.update(_load_dir(directory))
    return specs


def _load_dir(directory: Path) -> dict[str, FeedSpec]:
    if not directory.is_dir():
        raise SchemaError(directory, "模式（schema）目录不存在或不是目录")
    found: dict[str, tuple[Path, FeedSpec]] = {}
    files = sorted(p for p in directory.iterdir() if p.suffix in SCHEMA_SUFFIXES and p.is_file())
    for path in files:
        spec = load_spec_file(path)
        if spec.code in found:
            first = found[spec.code][0]
            raise SchemaError(
                path, f"code '{spec.code}' 与同目录的 {first.name} 重复；一个目录里每个 code 只能有一个文件", field="code"
            )
        found[spec.code] = (path, spec)
    return {code: spec for code, (_, spec) in found.items()}


def load_spec_file(path: Path) -> FeedSpec:
    """Read and validate one schema file."""
    return load_yaml_model(path, FeedSpec, "code: …、columns: …", _locate_reference_error)


def load_yaml_model(path: Path, model: type[M], keys_hint: str,
                    locate: Callable[[dict], Location | None] | None = None) -> M:
    """Read a YAML file and validate it into `model`; every problem a SchemaError that
    names the file, the field and the line. `locate` finds the entry at fault when a
    cross-field check fails the whole model."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SchemaError(path, "文件不存在") from None
    except UnicodeDecodeError:
        raise SchemaError(path, "文件不是 UTF-8 编码") from None
    except OSError as exc:
        raise SchemaError(path, f"无法读取：{exc.strerror or exc}") from None

    data, lines = _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise SchemaError(path, f"文件内容应是一个映射（{keys_hint} 等键），而不是列表或单个值", line=1)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(path, data, lines, exc, locate) from None


# ---- YAML with line numbers -------------------------------------------------------


# libyaml's loader where PyYAML was built with it: the same documents, nodes and marks, 7x
# faster (every command reads the schemas, `report` its 41 templates too).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, loader_class: type) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _parse_yaml(path: Path, text: str) -> tuple[Any, dict[Location, int]]:
    """The document and the 1-based line of every key and list item in it."""
    try:
        node, data = _compose(text, _SafeLoader)
        lines: dict[Location, int] = {}
        if node is not None:
            _collect_lines(path, node, (), lines, set())
    except yaml.MarkedYAMLError as exc:
        exc, line = _plainer(text, exc), _error_line(exc)
        problem = exc.problem or exc.context or "无法解析"
        raise SchemaError(path, f"YAML 格式错误：{problem}", line=None if line is None else line + 1) from None
    except yaml.YAMLError as exc:
        raise SchemaError(path, f"YAML 格式错误：{exc}") from None
    except RecursionError:
        raise SchemaError(path, "YAML 格式错误：嵌套层数过多") from None
    return data, lines


def _plainer(text: str, error: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
    """libyaml's error, or PyYAML's own loader's where it names the same line in plainer
    words (a tab: "found character '\\t'", an alias: its name). Only on the same line:
    PyYAML refuses tabs that libyaml, which reads the file, takes — its first error may be
    one that is none."""
    try:
        _compose(text, yaml.SafeLoader)
    except yaml.MarkedYAMLError as plain:
        return plain if _error_line(plain) == _error_line(error) else error
    except (yaml.YAMLError, RecursionError):
        pass
    return error


def _error_line(error: yaml.MarkedYAMLError) -> int | None:
    mark = error.problem_mark or error.context_mark
    return mark.line if mark else None


def _collect_lines(path: Path, node: yaml.Node, at: Location, lines: dict[Location, int],
                   seen: set[int]) -> None:
    """`lines` of every key and item under `node`. A node met twice is an alias (`*name`
    of an `&name`): refused, so that a file of aliases of aliases cannot make this walk
    and the validation after it go on for ever (none of our schemas or templates uses them)."""
    if id(node) in seen:
        raise SchemaError(path, "不支持 YAML 的锚点和别名（& 与 *）：请把内容照写出来",
                          line=node.start_mark.line + 1)
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            here = (*at, str(key_node.value))
            lines[here] = key_node.start_mark.line + 1
            _collect_lines(path, value_node, here, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*at, index)
            lines[here] = item.start_mark.line + 1
            _collect_lines(path, item, here, lines, seen)


def _line_of(lines: dict[Location, int], loc: Location) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


# ---- validation errors ------------------------------------------------------------


def _dotted(loc: Location) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "missing":
        return "缺少必填项"
    if kind == "extra_forbidden":
        return "不认识的键（拼写错误？）"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"取值 {value!r} 不允许，可选：{expected}"
    if kind in ("string_type", "str_type"):
        return f"应为文本，而不是 {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"应为 true 或 false，而不是 {value!r}"
    if kind == "list_type":
        return f"应为列表（[…]），而不是 {value!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"应为映射（键: 值），而不是 {value!r}"
    if kind == "too_short":
        return f"至少需要 {ctx.get('min_length', 1)} 项"
    if kind == "value_error":
        return str(ctx.get("error") or error["msg"]).removeprefix("Value error, ")
    return error["msg"]


def _schema_error(path: Path, data: dict, lines: dict[Location, int], exc: ValidationError,
                  locate: Callable[[dict], Location | None] | None) -> SchemaError:
    problems = []
    for error in exc.errors(include_url=False):
        loc: Location = tuple(error["loc"])
        if not loc:
            # Cross-field checks fail the whole model; find the entry at fault.
            loc = (locate(data) if locate else None) or loc
        problems.append((loc, _message(error)))
    loc, message = problems[0]
    if len(problems) > 1:
        rest = "；".join(f"{_dotted(other) or '（整个文件）'}：{text}" for other, text in problems[1:])
        message += f"（另有 {len(problems) - 1} 处问题：{rest}）"
    return SchemaError(path, message, field=_dotted(loc) or None, line=_line_of(lines, loc))


def _locate_reference_error(data: dict) -> Location | None:
    """The entry that breaks one of FeedSpec's cross-field rules. Only called when every
    part of the file validated on its own, so the structure is sound."""
    columns = data.get("columns") or []
    fields = [c.get("field") for c in columns]
    seen: set[str] = set()
    for i, field in enumerate(fields):
        if field in seen:
            return ("columns", i, "field")
        seen.add(field)
    headers: set[str] = set()
    for i, column in enumerate(columns):
        for loc, header in [(("columns", i, "header"), column.get("header"))] + [
            (("columns", i, "aliases", j), alias) for j, alias in enumerate(column.get("aliases") or [])
        ]:
            if header in headers:
                return loc
            headers.add(header)
    for i, key in enumerate(data.get("record_key") or []):
        if key not in seen:
            return ("record_key", i)
    types = {c.get("field"): c.get("type") for c in columns}
    for i, column in enumerate(columns):
        ref = column.get("required_unless_valid")
        if ref is not None and types.get(ref) not in VALIDATED_TYPES:
            return ("columns", i, "required_unless_valid")
    for i, role in enumerate(data.get("roles") or []):
        for attr, field in (role.get("fields") or {}).items():
            if field not in seen:
                return ("roles", i, "fields", attr)
    return _locate_meaning_error(data, seen, types)


def _locate_meaning_error(data: dict, fields: set[str], types: dict) -> Location | None:
    """The entry of a feed's meaning (subject, active, group, owns, relations) that names
    a role or field the file lacks, or of the wrong kind (FeedSpec._meaning_resolves)."""
    entities = {r.get("role"): r.get("entity") for r in data.get("roles") or []}
    subject = data.get("subject")
    if subject is not None and entities.get(subject) != "person":
        return ("subject",)
    if data.get("group") is not None and subject is None:
        return ("group",)
    active = data.get("active") or {}
    if active and active.get("field") not in fields:
        return ("active", "field")
    if active.get("after_death") and (types.get(active["field"]) != "date" or data.get("group") is not None):
        return ("active", "after_death")
    if active.get("values") is not None:
        column = next(c for c in data.get("columns") or [] if c.get("field") == active["field"])
        allowed = column.get("values") or active["values"]
        if column.get("type") not in ("enum", "text") or not set(active["values"]) <= set(allowed):
            return ("active", "values")
    for i, owned in enumerate(data.get("owns") or []):
        if owned.get("field") not in fields:
            return ("owns", i, "field")
        if entities.get(owned.get("role")) != GOLDEN_ENTITIES.get(owned.get("golden")):
            return ("owns", i, "role")
    for i, relation in enumerate(data.get("relations") or []):
        if entities.get(relation.get("person")) != "person":
            return ("relations", i, "person")
        if entities.get(relation.get("of")) != RELATION_TARGETS.get(relation.get("kind")):
            return ("relations", i, "of")
    return None
