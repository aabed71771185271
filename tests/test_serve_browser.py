"""The grid worker's page in a real browser: `rootdb serve` started as a command on a
copy of the linked sample, Debian's chromium driven headless by Playwright at a phone's
360-px width. A grid worker logs in, searches by name and by age, opens a card, looks at
her buildings and events, records a visit and sees the person leave the list; a wrong
password, another grid's card typed into the address bar, and the back button after
logging out show what they should. Every step keeps a screenshot (the folder is printed;
ROOTDB_SCREENSHOTS=<folder> copies them there too, as browser_<name>.png).

Skipped, saying what to install, where chromium or Playwright's package is missing
(Playwright's own browser download needs the internet: the system browser is used).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rootdb.reports.query import PersonQuery, run_query
from rootdb.serve.app import LOGIN_FAILED, NOT_FOUND
from conftest import copy_sample

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PHONE = {"width": 360, "height": 800}
WORKER, COMMUNITY, GRID = "王芳", "建设社区", "第一网格"  # a grid worker
PASSWORD = "网格-secret-1"
START_TIMEOUT = 60  # seconds for `rootdb serve` to answer
ROOTDB = [sys.executable, "-m", "rootdb"]
ID_NUMBER = r"(?<![0-9A-Z])\d{17}[\dX](?!\d)"  # not inside a house id (H + 20 digits)
MOBILE = r"(?<!\d)1[3-9]\d{9}(?!\d)"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(sync_playwright is None,
                       reason="Playwright's Python package is missing: "
                              "pip install -r requirements/test.lock"),
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is missing at /usr/bin/chromium: apt-get install chromium"),
]


# ------------------------------------------------------------------ the server and the browser

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rootdb(*args: str, stdin: str | None = None, env: dict) -> None:
    done = subprocess.run([*ROOTDB, *args], input=stdin, capture_output=True, text=True, encoding="utf-8",
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr


def _wait_until_up(proc: subprocess.Popen, url: str, log: Path) -> None:
    """Until the server answers `url` (its own start publishes the copy first)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"rootdb serve exited ({proc.returncode}): {log.read_text(encoding='utf-8')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"rootdb serve did not answer {url} within {START_TIMEOUT} s")


@pytest.fixture(scope="module")
def server(sample_db, tmp_path_factory):
    """(base URL, database) of `rootdb serve` on a copy of the linked sample with the
    grid worker WORKER added by `rootdb user add`."""
    folder = tmp_path_factory.mktemp("served")
    db, log = copy_sample(sample_db, folder), folder / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "ROOTDB_KEY"}
    _rootdb("user", "add", WORKER, "--role", "grid", "--community", COMMUNITY, "--grid", GRID,
            "--password-stdin", "--db", str(db), stdin=PASSWORD + "\n", env=env)
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([*ROOTDB, "serve", "--port", str(port), "--db", str(db)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, f"{base}/login", log)
        yield base, db
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Where the screenshots go (printed); also ROOTDB_SCREENSHOTS when set."""
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots of the page: {folder}")
    also = os.environ.get("ROOTDB_SCREENSHOTS")

    def shoot(page, name: str, at: str | None = None) -> None:
        """What the phone's screen shows (scrolled to `at`, a selector, when given)."""
        if at:
            page.locator(at).first.scroll_into_view_if_needed()
        path = folder / f"browser_{name}.png"
        page.screenshot(path=str(path))
        if also:
            shutil.copy(path, Path(also) / path.name)
    return shoot


@pytest.fixture()
def page(server, browser):
    """A fresh phone-sized tab (its own cookies), every wait bounded."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  base_url=server[0], locale="zh-CN")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def _log_in(page, name: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _number(page, selector: str, pattern: str) -> int:
    return int(re.search(pattern, page.text_content(selector)).group(1))


def _ids(page, selector: str, attribute: str) -> list[str]:
    found = page.locator(selector)
    return [found.nth(i).get_attribute(attribute) for i in range(found.count())]


def _people(db: Path, age: str | None, grid: str) -> list[dict]:
    """The living residents of a grid (of an age range) as `rootdb query` finds them today."""
    found = run_query(PersonQuery(age=age, community=COMMUNITY, grid=grid), db)
    return found.people.to_dicts()


# ------------------------------------------------------------------ the tests

def test_a_grid_worker_logs_in_searches_and_opens_a_card(server, page, shots):
    _, db = server
    _log_in(page, WORKER)
    page.wait_for_url("**/search")
    expect(page.locator("header .who")).to_contain_text(f"{WORKER} · 网格员 · {COMMUNITY} {GRID}")
    shots(page, "search_empty")

    page.fill("input[name=age]", "80-")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("p.count")
    assert page.url.endswith("#results") and page.evaluate("window.scrollY") > 0  # the results in view
    old = _people(db, "80-", GRID)
    assert _number(page, "p.count", r"共 (\d+) 人") == len(old) > 0
    rows = page.locator("ul.cards a.row")
    assert rows.count() == min(len(old), 50)
    ages = [int(a) for a in re.findall(r"(\d+)岁", " ".join(rows.all_inner_texts()))]
    assert len(ages) == rows.count() and min(ages) >= 80
    assert "第三网格" not in page.text_content("ul.cards")
    assert not re.search(f"{ID_NUMBER}|{MOBILE}", page.text_content("ul.cards"))
    shots(page, "search_age", at="ul.cards li:nth-child(3)")

    person = old[0]
    part = person["姓名"][:2]
    page.fill("input[name=age]", "")
    page.fill("input[name=name]", part)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(re.compile(r"name="))
    same = [p for p in _people(db, None, GRID) if part in p["姓名"]]
    assert _number(page, "p.count", r"共 (\d+) 人") == len(same)
    names = page.locator("ul.cards a.row strong").all_inner_texts()
    assert names and all(part in n for n in names) and person["姓名"] in names
    shots(page, "search_name", at="ul.cards")

    page.click(f"a.row[href='/card/{person['人员编号']}']")
    page.wait_for_url(f"**/card/{person['人员编号']}")
    expect(page.locator("h1")).to_have_text("户卡")
    focus = page.locator("section.person.focus")
    expect(focus).to_have_count(1)
    expect(focus.locator("h3")).to_contain_text(person["姓名"])
    assert f"人员编号 {person['人员编号']}" in focus.inner_text()
    assert not re.search(ID_NUMBER, page.text_content("main"))
    shots(page, "card")


def test_my_buildings_events_and_a_notify_draft(server, page, shots):
    _log_in(page, WORKER)
    page.wait_for_url("**/search")
    page.click("nav.tabs >> text=我的楼栋")
    page.wait_for_url("**/buildings")
    plans = page.locator("details.plan")
    assert plans.count() == _number(page, "main h2", r"（(\d+) 栋）") > 0
    expect(plans.first.locator("svg")).to_be_visible()
    box = plans.first.locator("svg").bounding_box()
    assert box["width"] <= PHONE["width"]  # the plan fits the phone's width
    shots(page, "buildings")

    page.click("nav.tabs >> text=事件")
    page.wait_for_url("**/events")
    shown = page.locator("ul.cards li.box")
    assert shown.count() == _number(page, "p.hint", r"未办结的事件 (\d+) 件")
    late = _number(page, "p.hint", r"超期 (\d+) 件")
    assert page.locator("li.box.late").count() == late
    places = page.locator("li.box small:nth-of-type(2)").all_inner_texts()  # grid, then where
    assert len(places) == shown.count() and all(p.startswith(GRID) for p in places), places
    shots(page, "events")

    page.click("nav.tabs >> text=短信草稿")
    page.wait_for_url("**/notify")
    expect(page.locator("input[name=unmasked]")).to_have_count(0)  # a grid worker sees no full numbers
    page.select_option("select[name=template]", label="托育服务通知")
    page.fill("input[name=age]", "0-3")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("p.count")
    messages = _number(page, "p.count", r"共 (\d+) 条短信")
    assert page.locator("ul.cards li.box").count() == messages > 0
    assert "手机号已脱敏" in page.text_content("p.count")
    assert not re.search(MOBILE, page.text_content("main"))
    shots(page, "notify", at="p.count")


def test_recording_a_visit_takes_the_person_off_the_due_list(server, page, shots):
    _log_in(page, WORKER)
    page.wait_for_url("**/search")
    page.click("nav.tabs >> text=待走访")
    page.wait_for_url("**/due")
    before = _number(page, "h1", r"（(\d+) 人）")
    due = _ids(page, "ul.cards input[name=entity_id]", "value")
    assert len(due) == before > 0
    addresses = page.locator("ul.cards li.box a.row small:nth-of-type(2)").all_inner_texts()
    assert len(addresses) == before
    first = page.locator("ul.cards li.box").first
    name = first.locator("a.row strong").inner_text()
    first.locator("summary").click()
    form = first.locator("form")
    expect(form).to_be_visible()
    visit_type = form.locator("select[name=visit_type] option").last.inner_text()
    form.locator("select[name=visit_type]").select_option(label=visit_type)
    form.locator("textarea[name=problems]").fill("楼道灯不亮，已报物业")
    shots(page, "due_form", at="ul.cards li.box form button")

    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/due\?done=WY\d{8}"))
    expect(page.locator("p.ok")).to_contain_text("已记录走访 WY")
    # A visit counts for the household (R40's rule): the person and anyone due at the
    # same address leave the list, nobody else does.
    after = _ids(page, "ul.cards input[name=entity_id]", "value")
    gone = [i for i, a in zip(due, addresses) if i not in after]
    assert due[0] in gone and after == [i for i in due if i not in gone]
    assert {a for i, a in zip(due, addresses) if i in gone} == {addresses[0]}
    assert _number(page, "h1", r"（(\d+) 人）") == before - len(gone)
    shots(page, "due_done")

    page.goto(f"/card/{due[0]}")
    visits = page.locator("h2:has-text('走访') + ul.plain")
    expect(visits).to_contain_text(visit_type)
    expect(visits).to_contain_text("楼道灯不亮，已报物业")
    expect(visits).to_contain_text(WORKER)
    expect(page.locator("section.person.focus h3")).to_contain_text(name)
    shots(page, "card_visited", at="h2:has-text('走访') + ul.plain")


def test_a_wrong_password_is_told_in_chinese(page, shots):
    _log_in(page, WORKER, "not-the-password")
    expect(page.locator("p.alert")).to_have_text(LOGIN_FAILED)
    assert page.url.endswith("/login") and not page.context.cookies()
    expect(page.locator("nav.tabs")).to_have_count(0)
    shots(page, "login_wrong")


def test_another_grids_card_typed_in_is_the_404_page(server, page, shots):
    _, db = server
    theirs = _people(db, None, "第三网格")[0]
    _log_in(page, WORKER)
    page.wait_for_url("**/search")
    answer = page.goto(f"/card/{theirs['人员编号']}")
    assert answer.status == 404
    expect(page.locator("h1")).to_have_text("没有找到")
    expect(page.locator("p.alert")).to_have_text(NOT_FOUND)
    assert theirs["姓名"] not in page.text_content("body")
    shots(page, "card_404")
    told = page.text_content("main")
    unknown = page.goto("/card/P99999999")
    assert unknown.status == 404 and page.text_content("main") == told
    page.click("text=返回居民查询")
    page.wait_for_url("**/search")


def test_after_logging_out_the_back_button_shows_no_data(server, page, shots):
    _, db = server
    _log_in(page, WORKER)
    page.wait_for_url("**/search")
    page.goto("/search?age=80-")
    shown = page.locator("ul.cards a.row strong").all_inner_texts()
    assert shown
    page.click("header button:has-text('退出')")
    page.wait_for_url("**/login")
    page.go_back()
    page.wait_for_load_state()
    assert page.url.endswith("/login")
    body = page.text_content("body")
    assert not any(name in body for name in shown)
    expect(page.locator("input[name=username]")).to_be_visible()
    shots(page, "after_logout_back")
    page.goto("/due")
    assert page.url.endswith("/login")
