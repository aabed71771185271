"""Fast tests of the deterministic sample-data generator (samplegen)."""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from conftest import SAMPLE
from samplegen.feeds import CONTRACT, FEED_ORDER, file_name
from samplegen.generate import generate

N = 400
ROOT = Path(__file__).resolve().parents[1]
ROLES = {"person", "member", "head", "newborn", "mother", "father", "child", "guardian", "student", "owner",
         "tenant", "legal_rep", "residence", "property", "premises", "place", "employer", "house", "location",
         "registered_residence"}
HEADER_ALIASES = {"身份证号码": "身份证号", "联系方式": "联系电话", "成员身份证号码": "成员身份证号", "被访人": "被访人姓名"}
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _check(id17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(id17, _W)) % 11]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a = tmp_path_factory.mktemp("a")
    b = tmp_path_factory.mktemp("b")
    return a, b, generate(a, N, 7), generate(b, N, 7)


def _truth(d: Path, name: str) -> list[dict]:
    with open(d / "_truth" / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _sheet_rows(path: Path, encoding: str | None) -> dict[int, list]:
    """Row number as a spreadsheet shows it → cell values."""
    if path.suffix == ".csv":
        text = path.read_bytes().decode(encoding)
        return {i + 1: r for i, r in enumerate(csv.reader(io.StringIO(text, newline="")))}
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        out = {}
        for row in wb.active.iter_rows():
            cells = [c.value for c in row if getattr(c, "row", None) is not None]
            r = next((c.row for c in row if getattr(c, "row", None) is not None), None)
            if r is not None:
                out[r] = cells
        return out
    finally:
        wb.close()


def _norm_header(h: str) -> str:
    h = re.sub(r"\s+", "", h).replace("(", "（").replace(")", "）")
    return HEADER_ALIASES.get(h, h)


def _empty(cells) -> bool:
    return all(v is None or str(v).strip() == "" for v in cells)


def test_summary_lists_24_files(runs):
    a, _, sa, _ = runs
    assert len(sa["files"]) == 24
    assert sorted(sa["files"]) == sorted(file_name(f) for f in FEED_ORDER)
    assert all(n > 0 for n in sa["files"].values()), sa["files"]
    assert sa["persons"] == N
    for name in sa["files"]:
        assert (a / name).is_file()


def test_same_seed_same_bytes(runs):
    a, b, sa, sb = runs
    assert sa["files"] == sb["files"]
    paths = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert paths == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in paths:
        if rel.suffix == ".xlsx":
            assert _sheet_rows(a / rel, None) == _sheet_rows(b / rel, None), rel
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_other_seed_differs(runs, tmp_path):
    a = runs[0]
    generate(tmp_path, N, 8)
    name = file_name("registry_persons")
    assert (tmp_path / name).read_bytes() != (a / name).read_bytes()


def test_headers_follow_contract(runs):
    a = runs[0]
    files = {f["file"]: f for f in _truth(a, "files.csv")}
    for feed in FEED_ORDER:
        name = file_name(feed)
        f = files[name]
        assert f["feed"] == feed
        rows = _sheet_rows(a / name, f["encoding"] or None)
        header = [h for h in rows[int(f["header_row"])] if h is not None]
        assert [_norm_header(h) for h in header] == CONTRACT[feed], name
        for r in range(1, int(f["header_row"])):   # title rows: one text cell
            assert sum(v is not None for v in rows[r]) == 1


def test_contract_copy_matches_feeds_yaml():
    path = ROOT.parent / "shared" / "contract" / "feeds.yaml"
    if not path.exists():
        pytest.skip("contract/feeds.yaml not beside the repo")
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = {**doc["reference"], **doc["community"], **doc["feeds"], **doc["grid"]}
    assert set(specs) == set(CONTRACT)
    for code, spec in specs.items():
        assert [c["header"] for c in spec["columns"]] == CONTRACT[code], code


def test_encodings(runs):
    a = runs[0]
    binzang = (a / file_name("binzang")).read_bytes()
    assert not binzang.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        binzang.decode("utf-8")
    assert binzang.decode("gb18030").startswith("死亡证明编号,")
    assert (a / file_name("yibao")).read_bytes().startswith(b"\xef\xbb\xbf")
    assert (a / file_name("registry_persons")).read_bytes().startswith("公民身份号码".encode())


def test_truth_points_at_real_rows(runs):
    _assert_truth_points_at_real_rows(runs[0])


def _assert_truth_points_at_real_rows(a: Path):
    persons = {r["person_uid"] for r in _truth(a, "persons.csv")}
    houses = {r["house_uid"] for r in _truth(a, "houses.csv")}
    places = {r["place_uid"] for r in _truth(a, "places.csv")}
    uids = {"person": persons, "house": houses, "place": places}
    files = {f["file"]: f for f in _truth(a, "files.csv")}
    data_rows = {}
    for name, f in files.items():
        rows = _sheet_rows(a / name, f["encoding"] or None)
        hr = int(f["header_row"])
        data = set()
        for r, cells in rows.items():
            if r <= hr or _empty(cells):
                continue
            first = str(cells[0] or "")
            if f["format"] == "xlsx" and (first.startswith("合计") or first.startswith("填表人")):
                continue
            data.add(r)
        assert len(data) == int(f["rows_read"]), name
        data_rows[name] = data
    quarantined = set()
    for q in _truth(a, "quarantine.csv"):
        assert int(q["source_row"]) in data_rows[q["file"]]
        assert q["why"] in ("no_name_no_id", "no_key", "no_address")
        quarantined.add((q["file"], int(q["source_row"])))
    for name, f in files.items():
        assert sum(1 for k in quarantined if k[0] == name) == int(f["rows_quarantined"])
    seen = set()
    for rec in _truth(a, "records.csv"):
        key = (rec["file"], int(rec["source_row"]))
        assert key[1] in data_rows[rec["file"]], rec
        assert key not in quarantined
        assert rec["role"] in ROLES
        assert rec["entity_uid"] in uids[rec["entity_type"]], rec
        seen.add(key)
    # every loaded row names at least one entity, but an event: an anonymous call about a
    # public spot names none
    for name, rows in data_rows.items():
        loaded = {r for r in rows if (name, r) not in quarantined}
        named = {r for (f, r) in seen if f == name}
        assert loaded >= named and (loaded == named or files[name]["feed"] == "shijian"), name
    for d in _truth(a, "defects.csv"):
        r = int(d["source_row"])
        assert r in data_rows[d["file"]] or r == int(files[d["file"]]["header_row"]), d


def test_persons_truth_is_consistent(runs):
    a = runs[0]
    persons = _truth(a, "persons.csv")
    houses = {r["house_uid"]: r for r in _truth(a, "houses.csv")}
    ids = set()
    for p in persons:
        idn = p["id_number"]
        if idn:
            assert re.fullmatch(r"\d{17}[\dX]", idn) and _check(idn[:17]) == idn[17], idn
            assert idn not in ids
            ids.add(idn)
            assert date.fromisoformat(p["birth_date"]).strftime("%Y%m%d") == idn[6:14]
            assert p["sex"] == ("男" if int(idn[16]) % 2 else "女")
        else:
            assert p["in_registry"] == "false"
        if p["status"] == "死亡":
            assert p["death_date"]
        if p["residence_house_uid"]:
            assert houses[p["residence_house_uid"]]["community"]
    # registry rows: every registry person once, with the true ID
    reg = _sheet_rows(a / file_name("registry_persons"), "utf-8")
    reg_ids = [r[0] for k, r in reg.items() if k > 1]
    assert sorted(reg_ids) == sorted(p["id_number"] for p in persons if p["in_registry"] == "true")


def test_ids_in_feeds_match_truth_or_are_flagged(runs):
    """A person row whose ID cell differs from the true ID must carry an ID defect."""
    a = runs[0]
    persons = {r["person_uid"]: r for r in _truth(a, "persons.csv")}
    files = {f["file"]: f for f in _truth(a, "files.csv")}
    defects = {(d["file"], int(d["source_row"])) for d in _truth(a, "defects.csv")}
    name = file_name("yibao")
    rows = _sheet_rows(a / name, files[name]["encoding"])
    for rec in _truth(a, "records.csv"):
        if rec["file"] == name and rec["role"] == "person":
            r = int(rec["source_row"])
            if rows[r][2] != persons[rec["entity_uid"]]["id_number"]:
                assert (name, r) in defects


def test_committed_sample_is_current(tmp_path):
    committed = SAMPLE
    if not (committed / "_truth" / "files.csv").exists():
        pytest.skip("sample_data not generated yet")
    generate(tmp_path, 3000, 20261101)
    for p in sorted(tmp_path.rglob("*")):
        if p.is_file():
            rel = p.relative_to(tmp_path)
            assert (committed / rel).read_bytes() == p.read_bytes(), f"sample_data/{rel} is stale: regenerate"
    codes = {d["defect"] for d in _truth(committed, "defects.csv")}
    need = {"excel_number_id", "id15", "fullwidth_digits", "id_spaces", "lowercase_x", "bad_checksum",
            "other_persons_id", "impossible_date", "swapped_day_month", "name_typo", "homophone", "name_spaces",
            "empty_name", "multi_phone", "phone_none", "date_format_slash", "date_format_dot",
            "date_format_compact", "date_format_cn", "excel_date", "excel_serial", "yearmonth_compact",
            "address_dash", "address_cn_numerals", "address_partial_prefix", "header_alias", "header_spaces",
            "header_halfwidth_brackets", "bad_uscc_checksum"}
    assert need <= codes, need - codes
    whys = {q["why"] for q in _truth(committed, "quarantine.csv")}
    assert whys == {"no_name_no_id", "no_key", "no_address"}


# ---------------------------------------------------------------- --styles all

@pytest.fixture(scope="module")
def independent(tmp_path_factory):
    d = tmp_path_factory.mktemp("all")
    return d, generate(d, 900, 11, styles="all")


def test_independent_area_truth_points_at_real_rows(independent):
    _assert_truth_points_at_real_rows(independent[0])


def test_independent_area_has_other_names_and_doorplates(independent):
    d, summary = independent
    houses = _truth(d, "houses.csv")
    assert summary["communities"] >= 3
    assert not any("东胜区" in h["standard_address"] or "鄂尔多斯" in h["standard_address"]
               for h in houses if h["community"])   # (floating people's hometowns are elsewhere)
    committed = {h["compound"] for h in _truth(SAMPLE, "houses.csv")} \
        if (SAMPLE / "_truth").exists() else set()
    compounds = {h["compound"] for h in houses if h["compound"]}
    assert compounds and not compounds & committed
    for h in houses:
        if h["compound"]:   # 康宁路83号康城雅苑1号楼1单元101室
            assert re.search(r"社区[^社]+?\d+号" + re.escape(h["compound"]) + r"\d+号楼\d+单元\d+室$",
                             h["standard_address"]), h


def test_independent_area_feeds_in_parts_and_encodings(independent):
    d, summary = independent
    files = _truth(d, "files.csv")
    parts = [f["file"] for f in files if f["feed"] == "community_residents"]
    assert len(parts) == summary["communities"]
    assert all(re.fullmatch(r"community_residents_[^_]+_2026-11\.xlsx", p) for p in parts)
    assert any(re.search(r"_[a-z]+_", p) for p in parts) and any(re.search(r"_\w+社区_", p) for p in parts)
    by_feed = {f["feed"]: f for f in files}
    xueji = (d / by_feed["xueji"]["file"]).read_bytes()
    assert by_feed["xueji"]["encoding"] == "gb18030" and xueji.startswith("学籍号".encode("gb18030"))
    assert xueji[:2] == b"\xd1\xa7" and len(xueji[:2].decode("utf-8")) == 1  # also a valid UTF-8 pair
    assert {f["encoding"] for f in files if f["format"] == "csv"} == {"utf-8", "utf-8-sig", "gb18030"}


def test_independent_area_writes_every_address_style(independent):
    d, _ = independent
    codes = {x["defect"] for x in _truth(d, "defects.csv")}
    need = {"address_name_only", "address_doorplate_only", "address_short_name", "address_building_marker",
            "address_room_marker", "address_dash", "address_cn_numerals", "address_fullwidth_digits",
            "address_remark", "address_spaces", "address_partial_prefix", "id15", "homophone", "name_typo",
            "other_persons_id", "date_format_cn"}
    assert need <= codes, need - codes


def test_independent_area_short_names_are_unique():
    from samplegen.world import build_world

    w = build_world(4000, 5, independent=True)
    compounds = sorted(w.short_names)
    assert any(w.short_names.values())
    for nm, forms in w.short_names.items():
        for f in forms:
            assert [c for c in compounds if c.startswith(f)] == [nm], (nm, f)
