"""Encryption at rest: with ROOTDB_KEY the workspace database is written encrypted
(DuckDB's own encryption); without the key, or with a wrong one, nothing opens and the
message says why."""

from __future__ import annotations

import duckdb
import pytest
from conftest import DIBAO_HEADER, dibao_row, write_xlsx

from rootdb import ingest
from rootdb.errors import WorkspaceError
from rootdb.workspace import BUILTIN_CRYPTO_ENV, KEY_ENV, connect, init_workspace


def _httpfs_loadable() -> bool:
    try:
        duckdb.connect().execute("LOAD httpfs")
        return True
    except duckdb.Error:
        return False


@pytest.fixture()
def encrypted(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "社区-2026-secret")
    monkeypatch.setenv(BUILTIN_CRYPTO_ENV, "1")  # this machine is offline: no httpfs
    ws = init_workspace(tmp_path / "ws")
    source = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(name="欧阳娜娜")])
    result = ingest([source], db=ws.db_path)
    assert result.ok
    return ws


def test_the_file_holds_no_readable_data(encrypted):
    data = encrypted.db_path.read_bytes()
    assert "欧阳娜娜".encode() not in data and b"DB001" not in data
    with connect(encrypted.db_path, read_only=True) as con:
        assert con.execute("SELECT member_name FROM dibao").fetchall() == [("欧阳娜娜",)]


def test_without_the_key_nothing_opens(encrypted, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(WorkspaceError, match=f"已加密.*{KEY_ENV}"):
        connect(encrypted.db_path, read_only=True)
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(encrypted.db_path), read_only=True)


def test_a_wrong_key_is_named_as_such(encrypted, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "wrong")
    with pytest.raises(WorkspaceError, match="密钥不对"):
        connect(encrypted.db_path, read_only=True)


def test_a_key_for_an_unencrypted_database_is_refused(tmp_path, monkeypatch):
    ws = init_workspace(tmp_path / "plain")
    monkeypatch.setenv(KEY_ENV, "k")
    with pytest.raises(WorkspaceError, match="没有加密"):
        connect(ws.db_path, read_only=True)


@pytest.mark.skipif(_httpfs_loadable(), reason="httpfs is installed here: DuckDB writes with OpenSSL")
def test_writing_without_openssl_asks_before_using_the_builtin_crypto(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "k")
    monkeypatch.delenv(BUILTIN_CRYPTO_ENV, raising=False)
    with pytest.raises(WorkspaceError, match="httpfs") as info:
        connect(tmp_path / "new.duckdb")
    assert BUILTIN_CRYPTO_ENV in str(info.value)
