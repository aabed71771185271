"""Shared fixtures: small real files written to a temp folder, real DuckDB files."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

# pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment; rich
# would then draw every command's output 80 wide. Tests that want a width set their own.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

import duckdb
import pytest
import xlsxwriter

DIBAO_HEADER = ["低保证号", "户主姓名", "户主身份证号", "成员姓名", "成员身份证号", "与户主关系", "性别",
                "家庭住址", "联系电话", "保障人数", "月保障金（元）", "保障类别", "批准日期", "状态"]


def write_xlsx(path: Path, rows: list[list], numeric_cols: set[int] | None = None) -> Path:
    """Rows as given (None = empty cell). Numbers are written as numbers, dates as dates."""
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = workbook.add_worksheet()
    date_fmt = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, (int, float)):
                sheet.write_number(r, c, value)
            elif isinstance(value, (dt.date, dt.datetime)):
                sheet.write_datetime(r, c, value, date_fmt)
            else:
                sheet.write_string(r, c, str(value))
    workbook.close()
    return path


def write_csv(path: Path, rows: list[list], encoding: str = "utf-8") -> Path:
    text = "\n".join(",".join("" if v is None else str(v) for v in row) for row in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def dibao_row(cert="DB001", head="张三", head_id="11010519491231002X", name="张三", pid="11010519491231002X",
              relation="户主", sex="女", address="幸福小区3号楼2单元501", phone="13812345678", covered=2,
              amount=800, category="A类", approved="2020-03-02", state="在保") -> list:
    return [cert, head, head_id, name, pid, relation, sex, address, phone, covered, amount, category, approved, state]


def house_records(rows: list[tuple]) -> "pl.DataFrame":
    """`link_house_records` rows from (feed, file_id, source_row, role, record_key,
    address_code, address), the address parsed as ingest parses it."""
    import polars as pl

    from rootdb.clean.addresses import parse_address

    out = []
    for rid, (feed, file_id, source_row, role, key, code, address) in enumerate(rows, start=1):
        parts = parse_address(address)
        out.append({"record_id": rid, "feed": feed, "file_id": file_id, "source_file": f"{feed}.csv",
                    "source_row": source_row, "role": role, "record_key": key, "address_code": code,
                    "address": address, **{p: parts[p] for p in
                                           ("community", "compound", "building", "unit", "room", "house_key")}})
    return pl.DataFrame(out, schema_overrides={"address_code": pl.String})


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ws" / "rootdb.duckdb"


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


# ---------------------------------------------------------------- the linked sample area

# Test tiers: a test that uses the linked sample (these fixtures, or any fixture built on
# them) is marked `sample` here, one that ingests and links the sample's files itself by
# hand; `pytest -m "not sample"` runs the rest (about 2 minutes in one process, against 8
# for everything; `-n 2` takes about half of either on 2 cores). `slow` tests run only when
# the -m expression names them (`pytest -m slow`).
SAMPLE_FIXTURES = {"sample_db", "truth", "report_csv"}


# The modules that take longest (minutes of faults, a Spark cluster, the page, whole
# nights), measured with --durations: run first, so that the two workers do not end
# with one of them alone on a long module (pyproject's --no-loadscope-reorder keeps
# this order; xdist's own puts the modules with the most tests first).
LONGEST_FIRST = ("test_faults.py", "test_spark_cluster.py", "test_serve_app.py", "test_reports_safety.py",
                 "test_nightly.py", "test_protection.py", "test_serve_nightly.py", "test_reports_unmatched.py",
                 "test_link.py", "test_serve_store.py", "test_feed_parts.py", "test_privacy_scan.py",
                 "test_address_properties.py", "test_published.py", "test_serve_browser.py", "test_spark.py")


@pytest.hookimpl(tryfirst=True)  # before pytest selects by -m
def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each module's order kept
    for item in items:
        if SAMPLE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sample)
    if "slow" not in (config.getoption("markexpr") or ""):
        slow = [item for item in items if item.get_closest_marker("slow")]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [item for item in items if not item.get_closest_marker("slow")]


SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
# The truth-checked tests (sample_db, truth, report_csv) run on the bundled sample, or on
# another generated area with its _truth/ folder: ROOTDB_TEST_AREA=<folder>, and
# ROOTDB_TEST_DB=<its database, ingested and linked> to skip building it again
# (bench/accuracy.py runs the report checks this way on an area the tests never use).
AREA = Path(os.environ.get("ROOTDB_TEST_AREA") or SAMPLE)
TRUTH = AREA / "_truth"
from rootdb.commands.demo import SAMPLE_AS_OF  # noqa: E402  (the sample's reference date)


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory) -> Path:
    """The sample area (or ROOTDB_TEST_AREA) ingested and linked once per test run, and
    this session's own copy of it: each pytest-xdist worker gets one, and so does a
    database given as ROOTDB_TEST_DB, which the tests never change (unmasked reports
    write audit rows into the database they run on). Read it only: a test that changes
    it works on `copy_sample` of it."""
    given = os.environ.get("ROOTDB_TEST_DB")
    built = Path(given) if given else _linked_sample(tmp_path_factory)
    return copy_sample(built, tmp_path_factory.mktemp("sample"))


def _linked_sample(tmp_path_factory) -> Path:
    """The area ingested and linked into the run's temp folder by the first session that
    asks; under pytest-xdist the workers share it, the others waiting on a file lock
    (the pattern pytest-xdist documents)."""
    import fcntl

    from rootdb import ingest
    from rootdb.link import link

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    db = root / "linked-sample" / "rootdb.duckdb"
    done = db.parent / "linked"
    with open(root / "linked-sample.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(db.parent, ignore_errors=True)  # what a failed build left
            ingest([AREA], db=db)
            link(db=db)
            done.touch()
    return db


def copy_sample(sample_db: Path, folder: Path) -> Path:
    """The linked sample's database and trained model copied into `folder` (a workspace a
    test may change, linked without training again); the copy's database path."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "rootdb.duckdb"
    shutil.copy(sample_db, db)
    models = sample_db.parent / "models"
    if models.is_dir():
        shutil.copytree(models, folder / "models")
    return db


def unname_newborns(db: Path) -> None:
    """The linked database `db` as it was before the 家庭医生签约 rows named two of the
    sample's newborns (the link names them from those rows at their houses): a newborn
    with no name on its 出生医学证明 and none written with its birth date gets an empty
    golden name."""
    with duckdb.connect(str(db)) as con:
        con.execute("""
            UPDATE golden_persons SET name = NULL WHERE entity_id IN (
                SELECT c.entity_id FROM crosswalk c JOIN files f ON f.file_name = c.source_file AND f.is_current
                JOIN chusheng b ON b.file_id = f.file_id AND b.source_row = c.source_row
                WHERE c.feed = 'chusheng' AND c.role = 'newborn' AND b.newborn_name IS NULL
                EXCEPT  -- a newborn some department names with its birth date keeps that name
                SELECT c.entity_id FROM crosswalk c JOIN link_person_records r
                    ON r.source_file = c.source_file AND r.source_row = c.source_row AND r.role = c.role
                WHERE c.entity_type = 'person' AND r.name IS NOT NULL AND r.birth_date IS NOT NULL)""")


@pytest.fixture()
def sample_copy(sample_db, tmp_path) -> Path:
    """A copy of the linked sample for one test that changes it (see `copy_sample`)."""
    return copy_sample(sample_db, tmp_path / "sample")


class Truth:
    """The sample's ground truth (sample_data/_truth) and ways to put report rows beside it."""

    def __init__(self, db: Path):
        import polars as pl

        self.db = db
        self.persons = pl.read_csv(TRUTH / "persons.csv", infer_schema=False).with_columns(
            pl.col("birth_date").str.to_date(), pl.col("death_date").str.to_date(),
            (pl.col("registered") == "true"), (pl.col("in_registry") == "true"))
        self.houses = pl.read_csv(TRUTH / "houses.csv", infer_schema=False)
        self.places = pl.read_csv(TRUTH / "places.csv", infer_schema=False)
        self.records = pl.read_csv(TRUTH / "records.csv", infer_schema=False).with_columns(
            pl.col("source_row").cast(pl.Int64))

    def people_at(self, as_of: dt.date = SAMPLE_AS_OF):
        """Truth persons with age (full years), living, resident (living, not moved out,
        in a house of the area) and the grid and community of their house."""
        import polars as pl

        houses = self.houses.select(pl.col("house_uid").alias("residence_house_uid"), "community", "grid",
                                    "compound", "building")
        md = as_of.month * 100 + as_of.day
        people = self.persons.join(houses, on="residence_house_uid", how="left").with_columns(
            (as_of.year - pl.col("birth_date").dt.year()
             - (pl.col("birth_date").dt.month().cast(pl.Int32) * 100 + pl.col("birth_date").dt.day() > md)
             .cast(pl.Int32))
            .alias("age"),
            ~((pl.col("status") == "死亡") & (pl.col("death_date").is_null() | (pl.col("death_date") <= as_of)))
            .alias("living"),
        )
        return people.filter(pl.col("birth_date").is_null() | (pl.col("birth_date") <= as_of)).with_columns(
            (pl.col("living") & (pl.col("status") != "迁出") & pl.col("grid").is_not_null()
             & (pl.col("grid") != "")).alias("resident"))

    def feed_rows(self, feed: str, role: str = "person"):
        """The current rows of a feed as loaded (typed columns), each with the true
        person (`person_uid`) of the given role, or its true house / place for a house or
        place role (`house_uid` / `place_uid`)."""
        import polars as pl

        with duckdb.connect(str(self.db), read_only=True) as con:
            rows = con.sql(f'SELECT f.file_name AS file, r.* FROM "{feed}" r JOIN files f USING (file_id)').pl()
        truth = self.records.filter(pl.col("role") == role)
        kind = truth.get_column("entity_type").first() if truth.height else "person"
        uid = {"person": "person_uid", "house": "house_uid", "place": "place_uid"}[kind]
        return rows.join(truth.select("file", "source_row", pl.col("entity_uid").alias(uid)),
                         on=["file", "source_row"], how="left")

    def uids(self, frame, id_col: str = "身份证号", name_col: str = "姓名") -> list:
        """The true person of each report row: by ID number (unmasked reports), else by
        name where the name is unique in the truth. None where neither tells."""
        import polars as pl

        by_id = {i: u for i, u in zip(self.persons["id_number"], self.persons["person_uid"]) if i}
        names = self.persons.group_by("name").agg(pl.col("person_uid").first(), pl.len())
        by_name = {n: u for n, u, k in names.iter_rows() if k == 1}
        out = []
        for row in frame.select(pl.col(id_col) if id_col in frame.columns else pl.lit(None).alias(id_col),
                                pl.col(name_col) if name_col in frame.columns else pl.lit(None).alias(name_col)
                                ).iter_rows():
            out.append(by_id.get(row[0]) or by_name.get(row[1]))
        return out


@pytest.fixture(scope="session")
def truth(sample_db) -> Truth:
    return Truth(sample_db)


@pytest.fixture(scope="session")
def report_csv(sample_db, tmp_path_factory):
    """`report_csv("R05")`: the report run unmasked as CSV on the linked sample as of
    SAMPLE_AS_OF, read back with every column as text (cached per code). The reports run
    on a copy of the sample: their audit rows and staging folders stay out of it."""
    import polars as pl

    from rootdb.reports import run_reports, select_templates

    out = tmp_path_factory.mktemp("reports")
    db = copy_sample(sample_db, tmp_path_factory.mktemp("report_csv"))
    cache: dict[str, pl.DataFrame] = {}

    def run(code: str, **options) -> pl.DataFrame:
        key = code + repr(sorted(options.items()))
        if key not in cache:
            result = run_reports(select_templates([code], False), as_of=SAMPLE_AS_OF, out=out, fmt="csv",
                                 unmasked=True, db=str(db), **options)
            cache[key] = pl.read_csv(result.reports[0].file, infer_schema=False)
        return cache[key]

    return run


def assert_same_people(label: str, got: list, expected: set, tolerance: float = 0.01) -> None:
    """Report rows name the expected people: a few misses or extras are allowed where
    linking is not perfect (1% by default, at least 2), and are printed."""
    got_set = {g for g in got if g is not None}
    missing, extra = expected - got_set, got_set - expected
    unknown = sum(1 for g in got if g is None)
    print(f"\n{label}: expected {len(expected)}, got {len(got)} rows; missing {len(missing)}, extra {len(extra)}, "
          f"unidentified {unknown}")
    allowed = max(2, round(tolerance * max(len(expected), 1)))
    assert len(missing) + len(extra) + unknown <= allowed, (sorted(missing)[:10], sorted(extra)[:10])


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc)."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
