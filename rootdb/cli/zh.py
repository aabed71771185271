"""Chinese for what typer and click print on their own: help pages, usage lines and
usage errors ("No such option", "Missing option", "Got unexpected extra argument", …).

A data officer reads everything the command prints, so nothing of it stays in English.
The vendored click of typer has no gettext catalogue to install, so:

- `ZhCommand` / `ZhGroup` write the usage line (用法：), the help option's line and the
  section titles in Chinese, and leave the argument's type (`<list[str]>`) out of help;
- `ZhGroup.main` (the top-level command's entry point, also under typer's CliRunner)
  catches click's usage errors and prints them in Chinese with a suggestion for a
  mistyped option or command (没有这个选项：--asof（您是不是要用 --as-of？）), exit status 2;
- `ZhTyper` is a `typer.Typer` whose commands and groups are of those classes.

Nothing here imports rich at module level: the rich help (typer.rich_utils) is loaded
only when a help page is printed.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from difflib import SequenceMatcher, get_close_matches
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

try:  # typer >= 0.25 vendors click
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer with click beside it
    import click  # type: ignore[no-redef]

USAGE_PREFIX = "用法："
HELP_OPTION_HELP = "显示本帮助并退出"
OPTIONS_METAVAR = "[选项]"
SUBCOMMAND_METAVAR = "命令 [参数]..."

# typer.rich_utils' own strings, set before a help page is drawn.
RICH_STRINGS = {
    "ARGUMENTS_PANEL_TITLE": "参数",
    "OPTIONS_PANEL_TITLE": "选项",
    "COMMANDS_PANEL_TITLE": "命令",
    "ERRORS_PANEL_TITLE": "错误",
    "ABORTED_TEXT": "已中止。",
    "DEFAULT_STRING": "[默认：{}]",
    "ENVVAR_STRING": "[环境变量：{}]",
    "REQUIRED_LONG_STRING": "[必填]",
    "DEPRECATED_STRING": "（已停用）",
    "RICH_HELP": "查看帮助：[blue]{command_path} {help_option}[/]",
}


def _deferred(module: str, name: str, methods: tuple[str, ...] = ()) -> type:
    """A stand-in for `module.name` whose use imports the real class and hands over."""

    def real():
        return getattr(importlib.import_module(module), name)

    def new(cls, *args: Any, **kwargs: Any):
        return real()(*args, **kwargs)

    namespace: dict[str, Any] = {"__new__": new}
    for method in methods:
        namespace[method] = classmethod(lambda cls, *a, _m=method, **k: getattr(real(), _m)(*a, **k))
    return type(name, (), namespace)


# typer.rich_utils imports these at its top, for the "markdown" markup mode and for
# pretty tracebacks: rootdb uses neither on a help page, and loading them (markdown-it,
# pygments) would make every help page ~100 ms slower. They are stood in for while
# rich_utils is imported; should they be used after all, the real class is imported then.
_DEFERRED = {"rich.markdown": ("Markdown", ()), "rich.traceback": ("Traceback", ("from_exception",))}


def _rich_strings_in_chinese() -> None:
    """Import typer.rich_utils (without markdown-it and pygments) and put its strings in Chinese."""
    if "typer.rich_utils" not in sys.modules:
        import rich

        stand_ins = {}
        for module, (name, methods) in _DEFERRED.items():
            if module not in sys.modules:
                stand_ins[module] = types.ModuleType(module)
                setattr(stand_ins[module], name, _deferred(module, name, methods))
        sys.modules.update(stand_ins)
        try:
            import typer.rich_utils  # noqa: F401
        finally:
            for module, stand_in in stand_ins.items():
                if sys.modules.get(module) is stand_in:
                    del sys.modules[module]
                attribute = module.split(".")[1]
                if getattr(rich, attribute, None) is stand_in:
                    delattr(rich, attribute)
    from typer import rich_utils

    for name, value in RICH_STRINGS.items():
        setattr(rich_utils, name, value)


class _Chinese:
    """What ZhCommand and ZhGroup share: the help option, usage line, help sections."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_OPTION_HELP
            option.metavar = ""  # a flag: no `<bool>` beside it
        return option

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, TyperArgument) and "display_type_rich" not in vars(param):
                # The metavar (PATH..., CODE) says what to give; `<list[path]>` adds only English.
                param.display_type_rich = _no_type
        return params

    def collect_usage_pieces(self, ctx) -> list[str]:
        words = {"[OPTIONS]": OPTIONS_METAVAR, "COMMAND [ARGS]...": SUBCOMMAND_METAVAR}
        return [_usage_piece(words.get(piece, piece)) for piece in super().collect_usage_pieces(ctx)]

    def format_usage(self, ctx, formatter) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)), prefix=USAGE_PREFIX)

    def format_help(self, ctx, formatter) -> None:
        if getattr(self, "rich_markup_mode", None) is not None:
            _rich_strings_in_chinese()
        return super().format_help(ctx, formatter)

    def format_options(self, ctx, formatter) -> None:
        """The plain help (TYPER_USE_RICH=0): typer's sections, with Chinese titles."""
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                record = (record[0], _plain_extra_in_chinese(record[1]))
                (args if param.param_type_name == "argument" else opts).append(record)
        if args:
            with formatter.section("参数"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("选项"):
                formatter.write_dl(opts)
        if isinstance(self, TyperGroup):
            self.format_commands(ctx, formatter)


def _usage_piece(piece: str) -> str:
    """typer writes a required argument `{PATH...}...`: plain `PATH...` says the same."""
    match = re.fullmatch(r"\{(.+)\}(\.\.\.)?", piece)
    if not match:
        return piece
    name, more = match.groups()
    return name if name.endswith("...") or not more else name + more


def _no_type(ctx) -> None:
    return None


def _plain_extra_in_chinese(help_text: str) -> str:
    def bracket(match: re.Match) -> str:
        inner = match.group(1).replace("default: ", "默认：").replace("env var: ", "环境变量：")
        return "[" + re.sub(r"\brequired\b", "必填", inner) + "]"

    return re.sub(r"\[([^\[\]]*(?:default: |required|env var: )[^\[\]]*)\]$", bracket, help_text)


class ZhCommand(_Chinese, TyperCommand):
    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:
            _refuse_repeated_options(self, ctx, args)
        return super().parse_args(ctx, args)


def _refuse_repeated_options(command, ctx, args: list[str]) -> None:
    """An option that takes one value, given twice (--sex 男 --sex 女), is a usage error:
    click would silently keep the last one. Options meant to repeat (--tag, --in) and
    flags may be given again."""
    single = {}
    for param in command.get_params(ctx):
        if (param.param_type_name == "option" and not param.multiple and not getattr(param, "is_flag", False)
                and not getattr(param, "count", False)):
            for opt in param.opts:
                single[opt] = param
    given: dict[str, list[str]] = {}
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            break
        name, eq, value = token.partition("=")
        param = single.get(name) if name.startswith("--") or not eq else None
        if param is None:
            continue
        if not eq:
            value = next(tokens, "")
        given.setdefault(_long_name(param), []).append(value)
    for name, values in given.items():
        if len(values) > 1:
            raise click.exceptions.UsageError(
                f"选项 {name} 只能给一次，却给了 {len(values)} 次（{'、'.join(values)}）；请只保留一个", ctx)


class ZhGroup(_Chinese, TyperGroup):
    def format_commands(self, ctx, formatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("命令"):
                formatter.write_dl(rows)

    def resolve_command(self, ctx, args: list[str]):
        name = args[0]
        if not name.startswith("-") and not ctx.resilient_parsing and self.get_command(ctx, name) is None:
            raise click.exceptions.UsageError(no_such("命令", name, self.list_commands(ctx)), ctx)
        return super().resolve_command(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode: bool = True, **extra: Any):
        """click's main, with its usage errors printed in Chinese (exit status 2)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            # The help page: typer's rich help has printed it already, the plain one is the message.
            if exc.format_message().strip():
                click.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.ClickException as exc:
            show_error(exc)
            sys.exit(exc.exit_code)
        except typer.Abort:
            _stderr_print("[red]已中止。[/]")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class ZhTyper(typer.Typer):
    """A typer.Typer whose groups are ZhGroup and commands ZhCommand."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("cls", ZhGroup)
        super().__init__(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("cls", ZhCommand)
        return super().command(*args, **kwargs)


# Usage errors ------------------------------------------------------------------------


def no_such(what: str, name: str, candidates) -> str:
    """没有这个选项：--asof（您是不是要用 --as-of？）"""
    close = closest(name, list(candidates))
    hint = f"（您是不是要用 {close}？）" if close else ""
    return f"没有这个{what}：{name}{hint}"


def closest(name: str, candidates: list[str]) -> str | None:
    """The candidate a typo most likely meant. By edit distance counting a swap of two
    neighbouring letters as one edit (--aeg is --age, not --tag), ties going to the same
    letters in another order, then the same length, then difflib's similarity; difflib
    alone when nothing is that close."""
    if not candidates:
        return None
    word = name.lstrip("-")
    limit = max(1, len(word) // 3)
    scored = []
    for candidate in candidates:
        other = candidate.lstrip("-")
        distance = _edit_distance(word, other)
        if distance <= limit:
            scored.append((distance, sorted(word) != sorted(other), len(word) != len(other),
                           -SequenceMatcher(None, name, candidate).ratio(), candidate))
    if scored:
        return min(scored)[-1]
    close = get_close_matches(name, candidates, n=1)
    return close[0] if close else None


def _edit_distance(a: str, b: str) -> int:
    """Damerau–Levenshtein distance (optimal string alignment)."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


def _long_name(param) -> str:
    if param is None:
        return ""
    if param.param_type_name == "argument":
        return param.metavar or (param.name or "").upper()
    longs = [o for o in param.opts if o.startswith("--")]
    return (longs or list(param.opts) or [param.name or ""])[0]


def _what(param) -> str:
    return "参数" if param is not None and param.param_type_name == "argument" else "选项"


def _help_of(param) -> str:
    """An option's help, its English gloss in parentheses left out."""
    text = (getattr(param, "help", None) or "").strip()
    return re.sub(r"\s*\([^()]*[A-Za-z][^()]*\)\s*$", "", text) if re.search(r"[\u4e00-\u9fff]", text) else ""


_PYDANTIC = {
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "不能大于 {le}",
    "less_than": "应小于 {lt}",
}


def _bad_value(exc) -> str:
    """Why a value was refused, from pydantic's error when typer used it."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
        except Exception:  # noqa: BLE001 - an unexpected shape: fall back below
            first = None
        if first and first.get("type") in _PYDANTIC:
            given = first.get("input")
            reason = _PYDANTIC[first["type"]].format(**(first.get("ctx") or {}))
            return f"“{given}”{reason}" if given is not None and given != "" else reason
    return "值无效"


def chinese_message(exc) -> str:
    """click's usage error as a sentence in Chinese; one not known here keeps its text
    after a Chinese lead, so that nothing is lost."""
    ctx = getattr(exc, "ctx", None)
    param = getattr(exc, "param", None)
    message = getattr(exc, "message", "") or ""
    if isinstance(exc, click.exceptions.NoSuchOption):
        options = []
        if ctx is not None:
            for p in ctx.command.get_params(ctx):
                if getattr(p, "hidden", False):
                    continue
                options += [o for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ())) if o.startswith("-")]
        candidates = [o for o in options if o.startswith("--")] if exc.option_name.startswith("--") else options
        return no_such("选项", exc.option_name, candidates)
    if isinstance(exc, click.exceptions.MissingParameter):
        about = _help_of(param)
        return f"缺少{_what(param)} {_long_name(param)}" + (f"（{about}）" if about else "")
    if isinstance(exc, click.exceptions.BadParameter):
        if param is not None:
            return f"{_what(param)} {_long_name(param)} 的值无效：{_bad_value(exc)}"
        return f"值无效：{_bad_value(exc)}"
    if isinstance(exc, click.exceptions.BadOptionUsage):
        if "does not take a value" in message:
            return f"选项 {exc.option_name} 是开关，后面不能跟值"
        if "requires" in message:
            return f"选项 {exc.option_name} 后面要跟一个值"
        return f"选项 {exc.option_name} 用法不对"
    match = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)$", message)
    if match:
        return f"多余的参数：{match.group(1)}"
    if message.startswith("Missing command"):
        return "缺少命令"
    match = re.match(r"No such command '(.*?)'", message)
    if match and ctx is not None:
        return no_such("命令", match.group(1), ctx.command.list_commands(ctx) if hasattr(ctx.command, "list_commands") else [])
    if re.search(r"[\u4e00-\u9fff]", message):  # ours already (ZhGroup.resolve_command)
        return message
    return f"用法不对：{message}" if message else "用法不对"


def _stderr_print(markup: str) -> None:
    from rootdb.cli import render

    render.err.print(markup, soft_wrap=True)


def show_error(exc) -> None:
    """The usage line, the error, where to find help; on stderr."""
    from rich.markup import escape

    ctx = getattr(exc, "ctx", None)
    lines = []
    if ctx is not None:
        lines.append(escape(ctx.get_usage()))
    if isinstance(exc, click.exceptions.UsageError):
        lines.append(f"[red]错误：{escape(chinese_message(exc))}[/]")
    else:
        lines.append(f"[red]错误：{escape(exc.format_message())}[/]")
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        lines.append(f"查看帮助：{escape(ctx.command_path)} {ctx.help_option_names[0]}")
    _stderr_print("\n".join(lines))
