"""Feed schemas: the bundled 24 load and honour the delivery contract; a broken schema
says which file and which field; a new feed is one YAML file and no Python."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from rootdb.errors import SchemaError
from rootdb.specs import FeedSpec, load_spec_file, load_specs, schema_dirs
from rootdb.specs.loader import SCHEMAS_ENV

# What the delivery contract (feeds.yaml) fixes per file kind: its kind, the headers it
# marks required, and the entity roles outputs.md gives it.
CONTRACT = {
    "registry_persons": ("reference", ["公民身份号码", "姓名"], ["person", "residence", "registered_residence"]),
    "registry_addresses": ("reference", ["地址编码", "社区", "网格", "标准地址"], ["house"]),
    "registry_places": ("reference", ["场所编码", "场所名称"], ["place", "premises", "legal_rep"]),
    "community_residents": ("community", ["姓名"], ["person", "residence"]),
    "dibao": ("feed", ["低保证号", "成员姓名"], ["member", "head", "residence"]),
    "tekun": ("feed", ["供养证号", "姓名"], ["person", "residence"]),
    "gaoling": ("feed", ["姓名", "身份证号"], ["person", "residence"]),
    "binzang": ("feed", ["死亡证明编号", "姓名", "死亡日期"], ["person"]),
    "yibao": ("feed", ["个人编号", "姓名"], ["person", "residence"]),
    "jiuzhu": ("feed", ["救助编号", "姓名"], ["person", "residence"]),
    "chusheng": ("feed", ["出生医学证明编号", "出生日期"], ["newborn", "mother", "father", "residence"]),
    "manbing": ("feed", ["档案编号", "姓名"], ["person", "residence"]),
    "qianyue": ("feed", ["签约编号", "姓名"], ["person", "residence"]),
    "ertong": ("feed", ["儿童姓名", "出生日期"], ["child", "guardian", "residence"]),
    "shichang": ("feed", ["统一社会信用代码", "主体名称"], ["place", "legal_rep", "premises"]),
    "yanglao": ("feed", ["社会保障号码", "姓名"], ["person"]),
    "jiuye": ("feed", ["姓名"], ["person", "residence", "employer"]),
    "fangwu": ("feed", ["房屋编号", "坐落"], ["property", "owner", "tenant"]),
    "gongzufang": ("feed", ["合同编号", "承租人姓名"], ["tenant", "residence"]),
    "canji": ("feed", ["残疾人证号", "姓名"], ["person", "residence"]),
    "tuiyi": ("feed", ["姓名", "身份证号"], ["person", "residence"]),
    "xueji": ("feed", ["学籍号", "姓名"], ["student", "guardian", "residence"]),
    "shijian": ("feed", ["事件编号", "上报时间"], ["person", "location", "location"]),  # a house or a place
    "zoufang": ("feed", ["走访编号", "走访日期", "走访地址"], ["person", "residence"]),
}

NEW_FEED = """\
# 城乡居民养老服务补贴名单: a feed the contract does not have yet.
code: yanglao_butie
department: 民政
title: 养老服务补贴发放名单
file_patterns: ["yanglao_butie_*.xlsx", "*养老服务补贴*.xlsx"]
record_key: [id_number]
columns:
  - {field: name, header: 姓名, type: name, required: true, required_unless_valid: id_number}
  - {field: id_number, header: 身份证号, aliases: [身份证号码], type: id18, required: true}
  - {field: amount, header: 补贴金额（元）, type: money}
roles:
  - {role: person, entity: person, fields: {name: name, id: id_number}}
"""


@pytest.fixture(autouse=True)
def _no_site_schemas(monkeypatch):
    monkeypatch.delenv(SCHEMAS_ENV, raising=False)


@pytest.fixture()
def bundled() -> dict[str, FeedSpec]:
    return load_specs()


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _normalised(header: str) -> set[str]:
    """The forms the reader looks a header up by (as written, and without a unit)."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", header))
    return {text, re.sub(r"\([^()]*\)$", "", text)}


# ---- the bundled schemas -----------------------------------------------------------


def test_all_contract_file_kinds_have_a_schema(bundled):
    assert sorted(bundled) == sorted(CONTRACT)


@pytest.mark.parametrize("code", sorted(CONTRACT))
def test_schema_honours_the_contract(bundled, code):
    spec = bundled[code]
    kind, required_headers, roles = CONTRACT[code]
    assert spec.code == code
    assert spec.kind == kind
    assert [c.header for c in spec.columns if c.required] == required_headers
    assert [r.role for r in spec.roles] == roles
    assert any(p.startswith(f"{code}_") and p.endswith(".xlsx") for p in spec.file_patterns)
    assert any(p.startswith(f"{code}_") and p.endswith(".csv") for p in spec.file_patterns)


@pytest.mark.parametrize("code", sorted(CONTRACT))
def test_required_person_names_yield_to_a_valid_id(bundled, code):
    for column in bundled[code].columns:
        if column.type == "name" and column.required:
            assert column.required_unless_valid, f"{code}.{column.field}"


@pytest.mark.parametrize("code", sorted(CONTRACT))
def test_no_two_columns_answer_to_the_same_header(bundled, code):
    owner: dict[str, str] = {}
    for column in bundled[code].columns:
        for header in column.headers:
            for key in _normalised(header):
                assert owner.setdefault(key, column.field) == column.field, (
                    f"{code}: “{header}” 既属于 {owner[key]} 又属于 {column.field}"
                )


def test_person_roles_carry_an_identity(bundled):
    for spec in bundled.values():
        for role in spec.roles:
            if role.entity == "person":
                assert "name" in role.fields, f"{spec.code}.{role.role}"


# ---- broken schemas ----------------------------------------------------------------


def _error_for(tmp_path: Path, old: str, new: str) -> SchemaError:
    """The error of NEW_FEED with `old` replaced by `new`, as the file broken.yaml."""
    assert old in NEW_FEED
    path = _write(tmp_path, "broken.yaml", NEW_FEED.replace(old, new, 1))
    with pytest.raises(SchemaError) as caught:
        load_spec_file(path)
    return caught.value


def test_bad_type_names_file_field_and_line(tmp_path):
    error = _error_for(tmp_path, "type: id18", "type: idcard")
    assert error.field == "columns[1].type"
    assert error.line == 9
    assert "broken.yaml 第9行 字段 columns[1].type" in str(error)
    assert "idcard" in error.message


def test_unknown_record_key_field_is_located(tmp_path):
    error = _error_for(tmp_path, "record_key: [id_number]", "record_key: [id_numbr]")
    assert (error.field, error.line) == ("record_key[0]", 6)
    assert "broken.yaml" in str(error) and "id_numbr" in str(error)


def test_role_pointing_at_a_missing_field_is_located(tmp_path):
    error = _error_for(tmp_path, "fields: {name: name,", "fields: {name: nam,")
    assert (error.field, error.line) == ("roles[0].fields.name", 12)
    assert "broken.yaml" in str(error) and "'nam'" in str(error)


def test_places_residents_is_for_house_roles(tmp_path):
    error = _error_for(tmp_path, "id: id_number}}", "id: id_number}, places_residents: false}")
    assert (error.field, error.line) == ("roles[0]", 12)
    assert "places_residents 只用于 house 角色" in error.message


def test_unknown_key_is_reported(tmp_path):
    error = _error_for(tmp_path, "{field: amount,", "{feild: amount,")
    assert error.field == "columns[2]" or error.field.startswith("columns[2].")
    assert "feild" in str(error) and "broken.yaml" in str(error)


def test_required_unless_valid_must_name_an_id(tmp_path):
    error = _error_for(tmp_path, "required_unless_valid: id_number", "required_unless_valid: amount")
    assert (error.field, error.line) == ("columns[0].required_unless_valid", 8)
    assert "（类型 id18、uscc）" in error.message


def test_yaml_syntax_error_names_the_line(tmp_path):
    error = _error_for(tmp_path, "type: money}", "type: money")
    assert "broken.yaml" in str(error) and "YAML" in error.message
    assert error.line is not None and error.line >= 10
    assert f"第{error.line}行" in str(error)


def test_a_yaml_error_is_told_in_the_plainest_words_for_its_line(tmp_path):
    """libyaml reads the file; PyYAML's words where they name the same line more plainly
    (a tab, an alias's name) — never a tab libyaml takes in place of the error further on."""
    for text, line, words in (("code: x\nkey: 'a'\tb\n", 2, "\\t"), ("code: x\nother: *nope\n", 2, "nope"),
                              ("code: x\t# 代码\nk: {a: 1\n", 3, "'}'"),
                              ("code: x\na: " + "[" * 1001 + "]" * 1001 + "\n", 2, "")):
        path = _write(tmp_path, "bad.yaml", text)
        with pytest.raises(SchemaError, match="YAML") as caught:
            load_spec_file(path)
        assert caught.value.line == line and words in caught.value.message, (text[:30], caught.value)


def test_yaml_aliases_are_refused_before_they_can_multiply(tmp_path):
    """A billion laughs: nine levels of ten aliases each would be 10^9 values to walk (five
    here, so that a loader without the refusal fails on the unknown keys, not by hanging)."""
    levels = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 5)]
    path = _write(tmp_path, "laughs.yaml", "code: laughs\n" + "\n".join(levels) + "\n")
    with pytest.raises(SchemaError, match="别名") as caught:
        load_spec_file(path)
    assert "laughs.yaml" in str(caught.value) and caught.value.line == 2


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    path = _write(tmp_path, "list.yaml", "- code: x\n")
    with pytest.raises(SchemaError, match="映射"):
        load_spec_file(path)


def test_two_files_with_one_code_in_one_dir_are_refused(tmp_path):
    _write(tmp_path, "a.yaml", NEW_FEED)
    _write(tmp_path, "b.yml", NEW_FEED)
    with pytest.raises(SchemaError) as caught:
        load_specs([tmp_path])
    assert "b.yml" in str(caught.value) and "a.yaml" in str(caught.value)
    assert caught.value.field == "code"


def test_a_missing_schema_dir_is_an_error(tmp_path):
    with pytest.raises(SchemaError):
        load_specs([tmp_path / "nowhere"])


# ---- extending without Python ------------------------------------------------------


def test_a_new_feed_from_extra_dirs(tmp_path):
    _write(tmp_path, "yanglao_butie.yaml", NEW_FEED)
    specs = load_specs([tmp_path])
    assert len(specs) == len(CONTRACT) + 1
    assert specs["yanglao_butie"].required_fields == ["name", "id_number"]
    assert "yanglao_butie" not in load_specs()


def test_a_new_feed_from_the_environment(tmp_path, monkeypatch):
    _write(tmp_path, "yanglao_butie.yml", NEW_FEED)
    monkeypatch.setenv(SCHEMAS_ENV, str(tmp_path))
    assert schema_dirs()[-1] == tmp_path
    assert "yanglao_butie" in load_specs()


def test_a_later_dir_replaces_a_bundled_feed(tmp_path):
    _write(tmp_path, "dibao.yaml", NEW_FEED.replace("code: yanglao_butie", "code: dibao"))
    assert load_specs([tmp_path])["dibao"].title == "养老服务补贴发放名单"
    assert load_specs()["dibao"].title == "城乡最低生活保障对象花名册"


def test_results_are_cached_but_not_shared(bundled):
    again = load_specs()
    assert again == bundled and again is not bundled
    assert again["dibao"] is bundled["dibao"]
