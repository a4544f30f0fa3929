"""The command line end to end with the real bundled models (encoder, presidio, generator)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag_dx.cli import app
from tests.helpers import fixture_rows, write_reports_csv

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture()
def env(tmp_path, monkeypatch, model_cache):
    monkeypatch.setenv("RAG_DX_INDEX_DIR", str(tmp_path / "indexes"))
    monkeypatch.setenv("RAG_DX_CACHE_DIR", str(model_cache))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_is_instant_and_lists_commands():
    out = invoke("--help").output
    for cmd in ("index", "diagnose", "demo", "models"):
        assert cmd in out


def test_build_then_diagnose_json(env, generator):
    csv_path = write_reports_csv(env / "reports.csv", fixture_rows())
    res = invoke("index", "build", "--name", "fx", "--reports", str(csv_path))
    assert res.exit_code == 0, res.output
    assert "version v0001" in res.output and "12 reports" in res.output
    res = invoke("diagnose", "--index", "fx", "--json", "throbbing one-sided headache, nausea and light sensitivity")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert len(data["differential"]) >= 3
    ids = {e["id"] for e in data["evidence"]}
    for dx in data["differential"]:
        assert dx["evidence"] and set(dx["evidence"]) <= ids
    assert data["differential"][0]["diagnosis"] == "Migraine"
    assert data["versions"]["index"] == "fx/v0001"
    res = invoke("diagnose", "--index", "fx", "painful urination with urgency")
    assert res.exit_code == 0 and "Urinary tract infection" in res.output and "Decision support" in res.output
    res = invoke("index", "list")
    assert "* fx/v0001" in res.output


def test_line_7_empty_text_names_line_and_writes_nothing(env):
    rows = fixture_rows()
    rows[5]["text"] = "   "  # header is line 1, so row index 5 is physical line 7
    csv_path = write_reports_csv(env / "bad.csv", rows)
    res = runner.invoke(app, ["index", "build", "--name", "bad", "--reports", str(csv_path)])
    assert res.exit_code == 2
    assert "bad.csv:7" in res.output and "text" in res.output
    assert not (env / "indexes" / "bad" / "versions").exists() or not any((env / "indexes" / "bad" / "versions").iterdir())


def test_diagnose_without_index_says_what_to_run(env):
    res = runner.invoke(app, ["diagnose", "--index", "missing", "anything"])
    assert res.exit_code == 2 and "rag-dx index build --name missing" in res.output


PHI = {
    "name": "Jonathan Whitaker",
    "phone": "(617) 555-0142",
    "email": "jwhitaker@example.org",
    "mrn": "MRN 48213377",
}


def test_phi_never_reaches_index_logs_or_output(env, generator, caplog, monkeypatch):
    # `--config` applies to its own command only; the second call reads the same settings through
    # RAG_DX_CONFIG, set through monkeypatch so it is undone after this test
    monkeypatch.setenv("RAG_DX_CONFIG", str(_toml(env)))
    rows = fixture_rows()
    rows[0]["text"] = (
        f"Patient {PHI['name']}, {PHI['mrn']}, phone {PHI['phone']}, email {PHI['email']}, presents with a "
        "throbbing one-sided headache, nausea and photophobia for two days."
    )
    csv_path = write_reports_csv(env / "phi.csv", rows)
    caplog.set_level(logging.DEBUG)
    res = invoke("--config", str(_toml(env)), "index", "build", "--name", "phi", "--reports", str(csv_path))
    assert res.exit_code == 0, res.output
    res2 = invoke("diagnose", "--index", "phi", "--json", "one-sided throbbing headache with nausea")
    assert res2.exit_code == 0
    needles = [PHI["name"], "Whitaker", "555-0142", PHI["email"], "48213377"]
    haystacks = {"cli output": res.output + res2.output, "logs": caplog.text}
    for path in (env / "indexes" / "phi").rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes().decode("utf-8", errors="ignore")
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"{needle!r} found in {where}"
    # ...and the redacted report is still there, still useful.
    data = json.loads(res2.output)
    cited = [e for e in data["evidence"] if e["id"] == "R:fx-000#0"]
    assert cited and "<PERSON>" in cited[0]["text"] and "headache" in cited[0]["text"]


def test_config_option_is_undone_when_the_command_ends(env, monkeypatch):
    monkeypatch.delenv("RAG_DX_CONFIG", raising=False)
    res = runner.invoke(app, ["--config", str(_toml(env)), "diagnose", "--index", "missing", "anything"])
    assert res.exit_code == 2 and "rag-dx index build --name missing" in res.output
    assert "RAG_DX_CONFIG" not in os.environ
    monkeypatch.setenv("RAG_DX_CONFIG", "/elsewhere.toml")
    runner.invoke(app, ["--config", str(_toml(env)), "diagnose", "--index", "missing", "anything"])
    assert os.environ["RAG_DX_CONFIG"] == "/elsewhere.toml"

def _toml(env: Path) -> Path:
    cfg = env / "cfg.toml"
    cfg.write_text('log_level = "DEBUG"\n')
    return cfg
