"""The jinja2 sandbox of report SQL and message templates has limits: a tiny template can
neither exhaust memory nor hang a run, and every refusal (a limit, or jinja2's own: an
unsafe attribute) is a Chinese error naming the template — never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jinja2
import pytest

from rootdb.errors import SchemaError
from rootdb.reports.notify import _example_context, load_template, render_message
from rootdb.reports.sandbox import MESSAGE_LIMITS, SQL_LIMITS, Limits, SandboxLimitError, limited_sandbox
from rootdb.reports.templates import ReportTemplate, clear_template_cache, load_template_file

HAN = re.compile(r"[\u4e00-\u9fff]")
# English prose from jinja2 or Python (the names of filters and methods may stay).
ENGLISH = re.compile(r"\b(unsafe|object|access|attribute|too|big|exceeded|[A-Za-z]*Error|Traceback|type)\b")

# Each of these, unchecked, takes gigabytes or never ends.
HOSTILE = {
    "repeat_str": '{{ "x" * 300000000 }}',
    "repeat_str_right": '{{ 300000000 * "x" }}',
    "repeat_list": "{{ [0] * 300000000 }}",
    "repeat_list_of_long": '{{ ["x" * 10000] * 10000 }}',
    "big_range": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "nested_loops": "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
                    "{% endfor %}{% endfor %}{% endfor %}",
    "center_filter": '{{ "x"|center(300000000) }}',
    "ljust_method": '{{ "x".ljust(300000000) }}',
    "percent_width": '{{ "%0300000000d" % 1 }}',
    "format_width": '{{ "{0:>300000000}".format(1) }}',
    "format_filter": '{{ "%0300000000d"|format(1) }}',
    "doubling_tilde": '{% set ns = namespace(s="x") %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}'
                      "{% endfor %}",
    "doubling_plus": '{% set ns = namespace(s="x") %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}'
                     "{% endfor %}",
    "doubling_block_set": '{% set ns = namespace(s="x") %}{% for i in range(60) %}'
                          "{% set ns.s %}{{ ns.s }}{{ ns.s }}{% endset %}{% endfor %}",
    "doubling_extend": "{% set l = [1] %}{% for i in range(60) %}{% set _ = l.extend(l) %}{% endfor %}",
    "doubling_macro": "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% else %}x{% endif %}{% endmacro %}"
                      "{{ m(40) }}",
    "join_filter": '{{ (["x" * 5000] * 50)|join("y" * 5000) }}',
    "join_method": '{{ ("y" * 5000).join(["x" * 5000] * 50) }}',
    "replace_empty": '{{ ("x" * 10000)|replace("", "y" * 100) }}',
    "power": "{{ 2 ** 100000000 }}",
    "indent_width": '{{ ("x\n" * 1000)|indent(300000000) }}',
    "long_output": "{% for i in range(1000) %}{% for j in range(1000) %}xxxxxxxxxx{% endfor %}{% endfor %}",
}


@pytest.mark.parametrize("limits", [SQL_LIMITS, MESSAGE_LIMITS], ids=["sql", "message"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_templates_are_refused_quickly_in_chinese(kind, limits):
    env = limited_sandbox(limits, undefined=jinja2.StrictUndefined, autoescape=False)
    started = time.monotonic()
    with pytest.raises(SandboxLimitError) as info:
        env.render(env.from_string(HOSTILE[kind]))
    assert time.monotonic() - started < limits.seconds + 1.5
    assert HAN.search(str(info.value)) and not ENGLISH.search(str(info.value))


def test_the_wall_clock_limit_holds_off_the_main_thread_too():
    import threading

    env = limited_sandbox(Limits(max_output=1000, max_value=1000, max_range=1000, seconds=0.5))
    caught = []

    def run():
        try:
            env.render(env.from_string(HOSTILE["nested_loops"]))
        except SandboxLimitError as exc:
            caught.append(str(exc))

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 3
    assert caught and "秒" in caught[0]


@pytest.mark.parametrize("where", ["enter", "exit"])
def test_the_alarm_ringing_at_the_edge_of_the_render_is_still_a_chinese_refusal(monkeypatch, where):
    """SIGALRM can land between the timer starting and the handler being marked, or as the
    render's `with` block ends, before its __exit__ runs: either way the caller sees
    SandboxLimitError and the previous SIGALRM handler is back."""
    import signal

    from rootdb.reports import sandbox

    env = limited_sandbox(SQL_LIMITS, undefined=jinja2.StrictUndefined, autoescape=False)
    method = "__enter__" if where == "enter" else "__exit__"
    original = getattr(sandbox._alarm, method)

    def ring_at_the_edge(self, *args):
        result = original(self, *args)
        if method == "__enter__":
            raise sandbox._Alarm()  # rang right after the timer started
        return result

    def ring_before_exit(self, *args):
        raise sandbox._Alarm()  # rang before __exit__'s first line

    monkeypatch.setattr(sandbox._alarm, method, ring_at_the_edge if where == "enter" else ring_before_exit)
    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(SandboxLimitError) as info:
        env.render(env.from_string("{{ 1 }}"))
    assert "秒" in str(info.value)
    assert signal.getsignal(signal.SIGALRM) == before and signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_an_alarm_swallowed_where_it_rang_rings_again():
    """Python prints and drops an exception raised in a finaliser or a garbage-collector
    callback: an alarm that rings there must not cost the render its time limit."""
    import signal

    from rootdb.reports import sandbox

    swallowed = []
    started = time.monotonic()
    with pytest.raises(SandboxLimitError):
        with sandbox._alarm(0.02):
            while time.monotonic() - started < 3:
                try:  # as a callback would: the first ring is lost
                    time.sleep(0.001)
                except sandbox._Alarm:
                    if swallowed:
                        raise
                    swallowed.append(time.monotonic())
    assert swallowed and time.monotonic() - started < 1
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_ordinary_templates_still_render():
    env = limited_sandbox(SQL_LIMITS, undefined=jinja2.StrictUndefined, autoescape=False)
    text = ("{% for lo, hi in [(0, 3), (3, 6)] %}count(*) FILTER (WHERE age >= {{ lo }} AND age < {{ hi }}) "
            "AS a{{ lo }}_{{ hi }}{{ ',' if not loop.last }}{% endfor %} {{ 'x' ~ 1 }} {{ range(3)|list }} "
            "{{ [1, 2]|join(',') }} {{ '%02d' % 5 }} {{ '{:>4}'.format(7) }} {{ 'a' * 3 }} "
            "{% for i in range(3)|reverse %}{{ i }}{% endfor %} {{ '-' * 80 }}")
    out = env.render(env.from_string(text))
    assert "age >= 3 AND age < 6) AS a3_6 x1 [0, 1, 2] 1,2 05    7 aaa 210 " + "-" * 80 == out[out.index("age >= 3"):]


def _report(tmp_path: Path, sql: str, code: str = "R91") -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    body = f"code: {code}\ntitle: 测试\nsql: |\n" + "".join(f"  {line}\n" for line in sql.splitlines())
    body += "columns:\n  - {field: x, header: X}\n"
    path = folder / f"{code}_测试.yaml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("jinja", ["{{ ''.__class__ }}", '{{ "{0.__class__}".format(1) }}',
                                   '{{ "x" * 300000000 }}', HOSTILE["nested_loops"]])
def test_report_sql_refused_by_the_sandbox_names_the_file_and_field(tmp_path, jinja):
    path = _report(tmp_path, jinja + " SELECT 1 AS x ORDER BY 1")
    with pytest.raises(SchemaError) as info:
        load_template_file(path)
    message = str(info.value)
    assert str(path) in message and "字段 sql" in message and "沙箱" in message
    assert "unsafe" not in message and "object" not in message


def test_report_sql_longer_than_the_limit_is_refused(tmp_path):
    path = _report(tmp_path, "SELECT 1 AS x {% for i in range(9000) %}-- filler line {{ i }}\n{% endfor %}ORDER BY 1")
    with pytest.raises(SchemaError, match="字段 sql.*过长"):
        load_template_file(path)


def test_report_sql_failing_only_at_run_time_is_a_schema_error(tmp_path):
    template = ReportTemplate(code="R91", title="测试", sql="SELECT {{ nothing }} AS x ORDER BY 1",
                              columns=[{"field": "x", "header": "X"}], path=str(tmp_path / "R91_测试.yaml"))
    with pytest.raises(SchemaError, match=r"R91_测试\.yaml 字段 sql：SQL 模板用了不存在的变量"):
        template.render_sql()


def test_report_cli_refusal_is_chinese_exit_1_and_no_traceback(tmp_path):
    """`rootdb report R57` printed a 108-line English traceback."""
    path = _report(tmp_path, "{% for i in range(3) %}{% endfor %}{{ ''.__class__.__mro__ }} SELECT 1 AS x ORDER BY 1",
                   code="R57")
    clear_template_cache()
    env = os.environ | {"ROOTDB_REPORTS": str(path.parent), "COLUMNS": "400", "NO_COLOR": "1"}
    run = subprocess.run([sys.executable, "-m", "rootdb", "report", "R57"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "Traceback" not in output and "SecurityError" not in output and "unsafe" not in output
    assert "R57_测试.yaml" in output and "字段 sql" in output
    assert len(output.splitlines()) < 10


def _message(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "测试通知.txt.j2"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("jinja", ["{{ ''.__class__ }}", '{{ "{0.__class__}".format(1) }}'])
def test_a_message_template_refused_by_the_sandbox_is_said_in_chinese(tmp_path, jinja):
    path = _message(tmp_path, "{{ 称呼 }}您好，" + jinja)
    with pytest.raises(SchemaError) as info:
        render_message(load_template(path), _example_context())
    message = str(info.value)
    assert "测试通知.txt.j2" in message and "不允许" in message
    assert "unsafe" not in message and "object" not in message and "type" not in message


@pytest.mark.parametrize("kind", ["repeat_str", "big_range", "nested_loops", "long_output", "doubling_tilde"])
def test_a_message_template_cannot_exhaust_memory_or_hang(tmp_path, kind):
    path = _message(tmp_path, "{{ 称呼 }}您好，" + HOSTILE[kind])
    started = time.monotonic()
    with pytest.raises(SchemaError, match="测试通知.txt.j2.*短信模板做了不允许的操作") as info:
        render_message(load_template(path), _example_context())
    assert time.monotonic() - started < MESSAGE_LIMITS.seconds + 1.5
    assert not ENGLISH.search(str(info.value))


def test_a_bundled_message_template_still_renders():
    from rootdb.reports.notify import find_template

    text = render_message(load_template(find_template("托育服务通知")), _example_context())
    assert "王女士" in text and len(text) < MESSAGE_LIMITS.max_output
