"""rootdb.clean.names: cleaned names, toneless pinyin, placeholders."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rootdb.clean.names import clean_name, clean_names

EXAMPLES = [
    ("张伟", "张伟", "zhang wei", False),
    (" 张 伟 ", "张伟", "zhang wei", False),
    ("\u3000王\u3000芳\u3000", "王芳", "wang fang", False),
    ("李\u00a0娜", "李娜", "li na", False),
    ("张\t伟\n", "张伟", "zhang wei", False),
    ("阿依古丽·买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", False),
    ("阿依古丽•买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", False),
    ("阿依古丽・买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", False),
    ("阿依古丽．买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", False),
    ("阿依古丽.买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", False),
    ("阿依古丽 · 买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", False),
    ("ＺＨＡＮＧ　ｗｅｉ", "Zhang Wei", "zhang wei", False),
    ("  john   SMITH ", "John Smith", "john smith", False),
    ("单雄信", "单雄信", "shan xiong xin", False),
    ("曾伟", "曾伟", "zeng wei", False),
    ("解放", "解放", "xie fang", False),
    ("区志强", "区志强", "ou zhi qiang", False),
    ("吕布", "吕布", "lv bu", False),
    ("josé  garcía", "José García", "jose garcia", False),
    ("无", None, None, True),
    ("不详", None, None, True),
    ("-", None, None, True),
    ("张某某之子", None, None, True),
    ("李某之女", None, None, True),
    ("之子", None, None, True),
    ("王之女2", None, None, True),
    ("斯日古楞之子", None, None, True),
    ("张某某", None, None, True),
    ("新生儿", None, None, True),
    ("", None, None, False),
    ("   ", None, None, False),
    (None, None, None, False),
]


@pytest.mark.parametrize(("raw", "name", "pinyin", "placeholder"), EXAMPLES)
def test_examples(raw, name, pinyin, placeholder):
    assert clean_name(raw) == (name, pinyin, placeholder)


def test_series_is_row_aligned():
    raw = [row[0] for row in EXAMPLES] * 20
    out = clean_names(pl.Series(raw, dtype=pl.String))
    assert out.columns == ["name", "pinyin", "placeholder"]
    assert out.schema == {"name": pl.String, "pinyin": pl.String, "placeholder": pl.Boolean}
    assert out.rows() == [row[1:] for row in EXAMPLES] * 20


def test_empty_series():
    assert clean_names(pl.Series([], dtype=pl.String)).height == 0
    assert clean_names(pl.Series([None, None])).rows() == [(None, None, False)] * 2


def test_homophones_share_pinyin():
    out = clean_names(pl.Series(["张伟", "章伟", "张 玮"]))
    assert out["pinyin"].n_unique() == 1


SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾单解区")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英")
WHITESPACE = [" ", "\u3000", "\u00a0", "\t", "\n", "\u2003"]


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(SURNAMES),
    st.lists(st.sampled_from(GIVEN), min_size=1, max_size=2),
    st.lists(st.tuples(st.integers(0, 10), st.sampled_from(WHITESPACE)), max_size=6),
)
def test_whitespace_never_changes_a_name(surname, given_chars, inserts):
    plain = surname + "".join(given_chars)
    chars = list(plain)
    for pos, ws in inserts:
        chars.insert(pos % (len(chars) + 1), ws)
    assert clean_name("".join(chars)) == clean_name(plain)
    assert clean_name(plain)[0] == plain


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(SURNAMES), st.sampled_from(["某", "某某"]), st.sampled_from(["之子", "之女", ""]))
def test_placeholders_detected(surname, mou, suffix):
    assert clean_name(surname + mou + suffix) == (None, None, True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=20))
def test_never_raises(values):
    out = clean_names(pl.Series(values, dtype=pl.String))
    assert out.height == len(values)
    assert out["placeholder"].null_count() == 0
    assert (out["name"].is_not_null() | out["pinyin"].is_null()).all()
    assert (out["name"].is_null() | ~out["placeholder"]).all()


HAN_NAMES = st.text(alphabet=st.sampled_from(list("张王李赵某之子女新生男婴儿无不详姓名未取命待定阿依古丽買买提")
                                             + [chr(c) for c in (0x4E00, 0x9FFF, 0x9FA5, 0x3400, 0xF900)]),
                    min_size=1, max_size=18)


@given(st.lists(st.one_of(HAN_NAMES, st.text(max_size=6), st.sampled_from(["无", "不详", "某", "张某某之子", "女婴2"])),
                max_size=30))
def test_plain_names_cleaned_in_polars_as_one_by_one(values):
    """`clean_names` cleans plain Han names in polars and the rest one by one: the same
    name and placeholder flag as `_clean_one` for every value."""
    from rootdb.clean.names import _clean_one

    got = clean_names(pl.Series(values, dtype=pl.String)).select("name", "placeholder").rows()
    assert got == [_clean_one(v) for v in values]
