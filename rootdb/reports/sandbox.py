"""The jinja2 sandbox of report SQL and message templates, with limits.

jinja2's `SandboxedEnvironment` keeps a template away from Python's internals, but not
from exhausting memory or time: `{{ "x" * 300000000 }}` allocates gigabytes and two
nested `range(100000)` loops never end. Templates here are small (a report's SQL, a text
message), so `limited_sandbox` refuses, each with a `SandboxLimitError` (a jinja2
`SecurityError`) whose message is Chinese:

- a value (string, list, …) longer than `max_value` made by an operator (`*`, `+`, `~`,
  `%`, `**`), a method (`ljust`, `replace`, `format`, `join`, …) or a filter (`center`,
  `indent`, `join`, `replace`, `format`, …): width and count arguments are checked before
  the work is done, results after;
- a whole number of more than `MAX_INT_BITS` bits;
- a `range` of more than `max_range` numbers;
- output longer than `max_output` characters (`render` reads `generate()` and stops);
- a render longer than `seconds`: a timer (SIGALRM, in the main thread only, when no
  other timer is set) and, everywhere, checks at every step the sandbox sees (a loop
  over a range, a call, an operator, a piece of output).

Constant folding at compile time is off, so nothing a template writes is computed
before these checks.

`security_message` puts any sandbox refusal (these, or jinja2's own: an unsafe attribute
such as `__class__`) in Chinese.
"""

from __future__ import annotations

import functools
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Concat
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment

MAX_INT_BITS = 4096


class SandboxLimitError(SecurityError):
    """A template went past a limit of the sandbox; the message is Chinese."""


@dataclass(frozen=True)
class Limits:
    max_output: int  # characters a render may produce
    max_value: int  # characters (items) of any one value made while rendering
    max_range: int = 10_000  # numbers in one range()
    seconds: float = 2.0  # wall-clock time of one render


SQL_LIMITS = Limits(max_output=65_536, max_value=262_144, max_range=10_000, seconds=2.0)
MESSAGE_LIMITS = Limits(max_output=2_000, max_value=20_000, max_range=1_000, seconds=1.0)


def _weight(value, budget: int) -> int | None:
    """The size that matters for memory and for the text the value prints as: a string's
    length; a container's items, each counted with its own weight (a list of one long
    string a thousand times weighs a thousand of it). Counting stops past `budget`.
    None for other values (numbers, objects)."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple, set, frozenset)):
        total = len(value)
        if total > budget:
            return total
        for item in value:
            if isinstance(item, (str, list, tuple, dict, set, frozenset, bytes, bytearray)):
                total += _weight(item, budget - total) or 0
                if total > budget:
                    return total
        return total
    return None


def _str_size(value, budget: int) -> int:
    """About how long a value is written as text."""
    weight = _weight(value, budget)
    if weight is not None:
        return weight
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 1
    return 32


_WIDTH = re.compile(r"%[-#0 +]*(\d+)?(?:\.(\d+))?|\{[^{}]*?:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


class _Deadline:
    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise SandboxLimitError(f"模板运行超过 {self.seconds:g} 秒，已停止（可能有过大的循环）")


class _Range:
    """range() as the sandbox gives it: at most `max_range` numbers; iterating it checks
    the clock."""

    def __init__(self, env: LimitedSandbox, numbers: range):
        self._env, self._range = env, numbers

    def __iter__(self) -> Iterator[int]:
        for i, n in enumerate(self._range):
            if not i % 64:
                self._env.check_time()
            yield n

    def __reversed__(self) -> Iterator[int]:
        return iter(_Range(self._env, self._range[::-1]))

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index):
        item = self._range[index]
        return _Range(self._env, item) if isinstance(item, range) else item

    def __contains__(self, value) -> bool:
        return value in self._range

    def __repr__(self) -> str:
        return repr(self._range)


class _Generator(CodeGenerator):
    """`a ~ b` goes through the environment (`concat_values`), which checks its length."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.concat_values((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


# Filters whose result can be much larger than their input, by a number argument.
_WIDTH_FILTERS = {"center", "indent", "wordwrap", "truncate", "batch", "slice", "tojson", "pprint"}


class LimitedSandbox(SandboxedEnvironment):
    """A `SandboxedEnvironment` with the limits of `Limits` (see the module)."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "+", "%", "**", "//", "/", "-"})

    def __init__(self, limits: Limits, **options):
        options["optimized"] = False  # no constant folding: nothing is computed unchecked
        super().__init__(**options)
        self.limits = limits
        self._local = threading.local()
        self.globals["range"] = self._range
        self.globals.pop("lipsum", None)
        for name, func in list(self.filters.items()):
            self.filters[name] = self._checked_filter(name, func)

    # ---------------------------------------------------------------- limits

    def refuse(self, what: str) -> SandboxLimitError:
        return SandboxLimitError(what)

    def check_time(self) -> None:
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None:
            deadline.check()

    def _too_big(self, what: str, size: int | None = None) -> SandboxLimitError:
        about = f"约 {size:,} 个字符或元素，" if size is not None else ""
        return self.refuse(f"{what} 得到的值过大（{about}上限 {self.limits.max_value:,}）")

    def check_value(self, value, what: str = "运算"):
        weight = _weight(value, self.limits.max_value)
        if weight is not None and weight > self.limits.max_value:
            raise self._too_big(what)
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise self.refuse(f"{what} 得到的整数过大（上限 {MAX_INT_BITS} 位二进制）")
        return value

    def _size(self, value) -> int | None:
        return _weight(value, self.limits.max_value)

    def _check_count(self, n, what: str) -> None:
        if isinstance(n, int) and not isinstance(n, bool) and abs(n) > self.limits.max_value:
            raise self.refuse(f"{what} 的宽度或次数过大（{n:,}，上限 {self.limits.max_value:,}）")

    def _check_format(self, fmt, args, what: str) -> None:
        """A format string's widths and precisions, and the arguments it is given."""
        if not isinstance(fmt, str):
            return
        for m in _WIDTH.finditer(fmt):
            for number in m.groups():
                if number and (len(number) > 9 or int(number) > self.limits.max_value):
                    raise self.refuse(f"{what} 的格式宽度过大（{number}，上限 {self.limits.max_value:,}）")
        total = len(fmt) + sum(_str_size(a, self.limits.max_value) for a in args)
        if total > self.limits.max_value:
            raise self._too_big(what, total)

    def _check_replace(self, text, old, new, what: str) -> None:
        if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
            count = text.count(old) if old else len(text) + 1
            size = len(text) + count * (len(new) - len(old))
            if size > self.limits.max_value:
                raise self._too_big(what, size)

    def _check_join(self, separator, items, what: str) -> None:
        if isinstance(items, _Range):
            items = list(items)
        if not isinstance(items, (list, tuple, set, frozenset, dict, str)):
            return
        size = _str_size(items, self.limits.max_value) + len(str(separator)) * len(items)
        if size > self.limits.max_value:
            raise self._too_big(what, size)

    def _range(self, *args):
        self.check_time()
        for a in args:
            if not isinstance(a, int) or isinstance(a, bool):
                raise self.refuse("range() 只接受整数")
        numbers = range(*args)
        if len(numbers) > self.limits.max_range:
            raise self.refuse(f"range() 的范围过大（{len(numbers):,} 个数，上限 {self.limits.max_range:,}）")
        return _Range(self, numbers)

    # ---------------------------------------------------------------- what the sandbox intercepts

    def call_binop(self, context, operator_name: str, left, right):
        self.check_time()
        what = f"运算 {operator_name}"
        if operator_name == "*":
            for seq, n in ((left, right), (right, left)):
                size = self._size(seq)
                if size is not None and isinstance(n, int) and not isinstance(n, bool) \
                        and size * max(n, 0) > self.limits.max_value:
                    raise self._too_big(what, size * n)
        elif operator_name == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 \
                    and max(abs(left), 2).bit_length() * right > MAX_INT_BITS:
                raise self.refuse(f"{what} 得到的整数过大（上限 {MAX_INT_BITS} 位二进制）")
        elif operator_name == "+":
            a, b = self._size(left), self._size(right)
            if a is not None and b is not None and a + b > self.limits.max_value:
                raise self._too_big(what, a + b)
        elif operator_name == "%" and isinstance(left, str):
            self._check_format(left, right if isinstance(right, tuple) else (right,), what)
        result = super().call_binop(context, operator_name, left, right)
        return self.check_value(result, what)

    def concat_values(self, values: tuple) -> str:
        """`a ~ b ~ …`, within the limit."""
        self.check_time()
        size = sum(_str_size(v, self.limits.max_value) for v in values)
        if size > self.limits.max_value:
            raise self._too_big("运算 ~", size)
        return markup_join(values) if self.autoescape else str_join(values)

    def concat(self, pieces) -> str:  # the output of a macro, a block, `{% set x %}…{% endset %}`
        self.check_time()
        pieces = list(pieces)
        size = sum(len(p) for p in pieces)
        if size > self.limits.max_value:
            raise self._too_big("模板片段", size)
        return "".join(pieces)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - jinja2's signature
        __self.check_time()
        name = getattr(__obj, "__name__", "") or "函数"
        owner = getattr(__obj, "__self__", None)
        if owner is None:  # str.format comes wrapped by the sandbox
            owner = getattr(getattr(__obj, "__wrapped__", None), "__self__", None)
        what = f"方法 {name}"
        if isinstance(owner, str):
            if name in ("ljust", "rjust", "center", "zfill", "expandtabs"):
                for a in args[:1]:
                    __self._check_count(a, what)
            elif name in ("format", "format_map"):
                values = list(args) + list(kwargs.values())
                if name == "format_map" and args and isinstance(args[0], dict):
                    values = list(args[0].values())
                __self._check_format(owner, values, what)
            elif name == "replace" and len(args) >= 2:
                __self._check_replace(owner, args[0], args[1], what)
            elif name == "join" and args:
                __self._check_join(owner, args[0], what)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(owner, (list, dict, set, bytearray)):  # append, extend, update … grow it in place
            __self.check_value(owner, what)
        return __self.check_value(result, what)

    def _checked_filter(self, name: str, func):
        env = self
        what = f"过滤器 {name}"

        @functools.wraps(func)
        def checked(*args, **kwargs):
            env.check_time()
            # Filters marked pass_context / pass_eval_context / pass_environment get it first.
            values = list(args[1:] if getattr(func, "jinja_pass_arg", None) else args)
            if name in _WIDTH_FILTERS:
                for a in values[1:] + list(kwargs.values()):
                    env._check_count(a, what)
                    if isinstance(a, str) and values:  # indent("…"), wordwrap(wrapstring="…")
                        lines = str(values[0]).count("\n") + 1 if name == "indent" else len(str(values[0]))
                        if lines * len(a) > env.limits.max_value:
                            raise env._too_big(what, lines * len(a))
            elif name == "format" and values:
                env._check_format(values[0], values[1:] + list(kwargs.values()), what)
            elif name == "replace" and len(values) >= 3:
                env._check_replace(str(values[0]), values[1], values[2], what)
            elif name == "join" and values:
                env._check_join(values[1] if len(values) > 1 else kwargs.get("d", ""), values[0], what)
            return env.check_value(func(*args, **kwargs), what)

        return checked

    # ---------------------------------------------------------------- rendering

    def render(self, template: jinja2.Template, context: dict | None = None) -> str:
        """The template rendered within the limits; a refusal raises SandboxLimitError."""
        deadline = _Deadline(self.limits.seconds)
        outer = getattr(self._local, "deadline", None)
        self._local.deadline = deadline
        alarm = _alarm(self.limits.seconds)
        try:
            with alarm:
                pieces, length = [], 0
                for piece in template.generate(context or {}):
                    length += len(piece)
                    if length > self.limits.max_output:
                        raise self.refuse(f"模板生成的内容过长（超过 {self.limits.max_output:,} 个字符），已停止")
                    pieces.append(piece)
                    deadline.check()
                return "".join(pieces)
        except _Alarm:  # it rang before __exit__ could turn it into a refusal
            alarm.stop()
            raise alarm.refusal() from None
        finally:
            self._local.deadline = outer


_RING_AGAIN = 0.05  # seconds: see `_alarm._ring`


class _Alarm(BaseException):
    """Raised by SIGALRM inside a render (a BaseException: templates cannot catch it)."""


class _alarm:  # noqa: N801 - used as a context manager
    """SIGALRM after `seconds`, turned into SandboxLimitError; only in the main thread and
    when no other timer or SIGALRM handler is set (then the sandbox's own checks remain)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = False
        self.stopping = False  # set first thing by `disarm`: a ring from then on is late

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
            return self
        if signal.getitimer(signal.ITIMER_REAL)[0] or signal.getsignal(signal.SIGALRM) not in (
                signal.SIG_DFL, signal.SIG_IGN, None):
            return self
        self.previous = signal.signal(signal.SIGALRM, self._ring)
        self.armed = True  # before the timer starts, so that disarm always restores the handler
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def _ring(self, _signum, _frame):
        if self.stopping:  # rang as the render ended: nothing left to stop
            return
        # Rings again shortly until disarmed: a handler that lands in a finaliser or a
        # garbage-collector callback has its exception printed and dropped by Python.
        signal.setitimer(signal.ITIMER_REAL, _RING_AGAIN)
        raise _Alarm()

    def disarm(self) -> None:
        """Stop the timer and put the previous handler back; safe to call twice. Once
        `stopping` is set no ring re-arms the timer or raises; one just before it raises
        _Alarm here with nothing done (`stop` then disarms again)."""
        if not self.armed:
            return
        self.stopping = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        self.armed = False

    def stop(self) -> bool:
        """`disarm` until it is done; whether the alarm rang meanwhile."""
        rang = False
        while True:
            try:
                self.disarm()
                return rang
            except _Alarm:
                rang = True

    def refusal(self) -> SandboxLimitError:
        return SandboxLimitError(f"模板运行超过 {self.seconds:g} 秒，已停止（可能有过大的循环）")

    def __exit__(self, exc_type, exc, tb):
        if self.stop() or exc_type is _Alarm:  # it rang just now, or during the render
            raise self.refusal() from None
        return False


def limited_sandbox(limits: Limits, **options) -> LimitedSandbox:
    """A sandbox for report SQL (`SQL_LIMITS`) or text messages (`MESSAGE_LIMITS`)."""
    return LimitedSandbox(limits, **options)


_UNSAFE_ATTRIBUTE = re.compile(r"access to attribute '([^']*)' of '([^']*)' object is unsafe")


def security_message(exc: SecurityError) -> str:
    """A sandbox refusal in Chinese."""
    if isinstance(exc, SandboxLimitError):
        return str(exc)
    text = str(exc)
    m = _UNSAFE_ATTRIBUTE.search(text)
    if m:
        return f"不允许访问 {m.group(2)} 对象的属性 {m.group(1)}（Python 内部属性，模板里不能用）"
    if "range" in text.lower() and "too big" in text.lower():
        return "range() 的范围过大"
    if "format" in text.lower():
        return "不允许的字符串格式化（格式里访问了内部属性或不安全的方法）"
    return "调用了不安全的方法或访问了 Python 内部属性（模板里不能用）"

