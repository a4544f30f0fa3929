"""The index lifecycle from the command line: update with an evaluation gate, rollback, verify, gc."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rag_dx.cli import app
from rag_dx.index.store import IndexStore
from tests.helpers import fixture_rows, write_reports_csv

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture()
def env(tmp_path, monkeypatch, model_cache):
    monkeypatch.setenv("RAG_DX_INDEX_DIR", str(tmp_path / "indexes"))
    monkeypatch.setenv("RAG_DX_CACHE_DIR", str(model_cache))
    monkeypatch.chdir(tmp_path)
    rows = fixture_rows()
    write_reports_csv(tmp_path / "base.csv", rows[:9])
    write_reports_csv(tmp_path / "new.csv", rows[9:])
    # One gate case per diagnosis (UTI is only in new.csv): each gate case runs the real
    # generator (~2 s here), and the verdict needs no more. All 12 rows gave 12/12 (every top
    # probability >= 0.77); these 4 give 4/4 against --min-top1 0.5.
    gate_rows = [dict(r) for r in rows[::3]]
    write_reports_csv(tmp_path / "gate_good.csv", gate_rows)
    for r in gate_rows:  # every gold label wrong: no version can pass this gate
        r["diagnosis"] = "Fractured femur"
    write_reports_csv(tmp_path / "gate_bad.csv", gate_rows)
    res = runner.invoke(app, ["index", "build", "--name", "fx", "--reports", str(tmp_path / "base.csv")])
    assert res.exit_code == 0, res.output
    return tmp_path


def test_gate_refuses_then_accepts_and_rollback(env, generator):
    store = IndexStore(env / "indexes", "fx")
    res = runner.invoke(app, ["index", "update", "--name", "fx", "--reports", str(env / "new.csv"),
                              "--gate", str(env / "gate_bad.csv"), "--min-top1", "0.5"])
    assert res.exit_code == 2 and "gate failed" in res.output
    assert store.current_version() == "v0001" and (store.versions_dir / "v0002").is_dir()  # kept, not served

    res = runner.invoke(app, ["index", "update", "--name", "fx", "--reports", str(env / "new.csv"),
                              "--gate", str(env / "gate_good.csv"), "--min-top1", "0.5"])
    assert res.exit_code == 0, res.output
    assert "gate passed" in res.output and store.current_version() == "v0003"
    assert "(3 embedded)" in res.output  # only the three new reports were embedded
    assert "documents: 3 added, 0 replaced, 0 deleted" in res.output

    res = runner.invoke(app, ["index", "rollback", "--name", "fx", "--to", "v0001"])
    assert res.exit_code == 0 and store.current_version() == "v0001"
    res = runner.invoke(app, ["index", "verify", "--name", "fx", "--all"])
    assert res.exit_code == 0 and res.output.count("ok ") == 3
    res = runner.invoke(app, ["index", "gc", "--name", "fx", "--keep", "1"])
    assert res.exit_code == 0 and [p.name for p in store.versions()] == ["v0001", "v0003"]
    res = runner.invoke(app, ["audit", "verify", "--name", "fx"])
    # build (created+switched), update refused by the gate (created), update (created+switched), rollback, gc
    assert res.exit_code == 0 and "ok: 7 records" in res.output, res.output


def test_verify_fails_on_a_flipped_byte(env):
    store = IndexStore(env / "indexes", "fx")
    target = store.versions_dir / "v0001" / "dense.faiss"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    res = runner.invoke(app, ["index", "verify", "--name", "fx"])
    assert res.exit_code == 1 and "checksum mismatch" in res.output


def test_skip_invalid_writes_rejects_file(env):
    rows = fixture_rows()
    rows[2]["text"] = ""
    write_reports_csv(env / "mixed.csv", rows)
    res = runner.invoke(app, ["index", "build", "--name", "mix", "--reports", str(env / "mixed.csv"), "--skip-invalid"])
    assert res.exit_code == 0, res.output
    rejects = (env / "indexes" / "mix" / "rejects-v0001.txt").read_text()
    assert "mixed.csv:4" in rejects and "text" in rejects
    assert "11 reports" in res.output
