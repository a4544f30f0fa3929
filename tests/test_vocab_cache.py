"""The vocabulary's tables are cached as JSON and read back to the same lookups.

Why it matters: every process that normalizes a diagnosis name (a CLI call, the UI, an eval, an
index build) spent 6-8 s building these tables. A cache that returned different concepts, or
that a crash or a stale file could poison, would silently change every differential.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rag_dx.vocab as vocab_module
from rag_dx.vocab import Vocabulary

XML = """<?xml version="1.0"?>
<ICD10CM.tabular><chapter><name>10</name><desc>Respiratory</desc>
<section id="J09-J18"><desc>Influenza and pneumonia</desc>
<diag><name>J18</name><desc>Pneumonia, unspecified organism</desc>
  <inclusionTerm><note>Lung infection</note></inclusionTerm>
  <diag><name>J18.9</name><desc>Pneumonia, unspecified</desc></diag>
</diag>
<diag><name>J45</name><desc>Asthma</desc>
  <diag><name>J45.909</name><desc>Unspecified asthma, uncomplicated</desc>
    <inclusionTerm><note>Bronchial asthma</note></inclusionTerm></diag>
</diag>
</section></chapter></ICD10CM.tabular>
"""
NAMES = ["Pneumonia", "lung infection", "bronchial asthma", "Asthma", "pneumonai", "nothing like it"]


@pytest.fixture()
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    xml = tmp_path / "tabular.xml"
    xml.write_text(XML, encoding="utf-8")
    ccsr = tmp_path / "ccsr.json"
    ccsr.write_text(json.dumps({"J189": "RSP002", "J45909": "RSP009"}), encoding="utf-8")
    cache = tmp_path / "cache"
    monkeypatch.setenv("RAG_DX_CACHE_DIR", str(cache))
    monkeypatch.delenv("RAG_DX_VOCAB_CACHE", raising=False)
    return xml, ccsr, cache


def _lookups(v: Vocabulary) -> list[object]:
    return [(v.normalize(n), v.concept_key(n)) for n in NAMES] + [v.concept("J45.909"), len(v)]


def test_second_load_reads_the_cache_and_answers_the_same(files, monkeypatch: pytest.MonkeyPatch) -> None:
    xml, ccsr, cache = files
    built = Vocabulary.load(xml, ccsr)
    written = list((cache / "vocabulary").glob("*.json"))
    assert len(written) == 1

    def no_parse(_path: Path):
        raise AssertionError("the tabular XML was parsed although a cache exists")

    monkeypatch.setattr(vocab_module, "_parse_tabular", no_parse)
    cached = Vocabulary.load(xml, ccsr)
    assert _lookups(cached) == _lookups(built)
    assert cached.normalize("lung infection") is not None  # the inclusion term survived the round trip
    assert cached._known == built._known and "pneumonia" in cached._known  # the fuzzy tier's known words too


def test_a_changed_source_file_gets_its_own_cache(files) -> None:
    xml, ccsr, cache = files
    Vocabulary.load(xml, ccsr)
    xml.write_text(XML.replace("Asthma</desc>", "Asthma bronchiale</desc>", 1), encoding="utf-8")
    v = Vocabulary.load(xml, ccsr)
    assert len(list((cache / "vocabulary").glob("*.json"))) == 2
    assert v.concept("J45").title == "Asthma bronchiale"


def test_a_broken_cache_is_rebuilt_not_trusted(files) -> None:
    xml, ccsr, cache = files
    expected = _lookups(Vocabulary.load(xml, ccsr))
    (path,) = (cache / "vocabulary").glob("*.json")
    path.write_text('{"format": 1, "nodes": [', encoding="utf-8")  # a truncated write by someone else
    assert _lookups(Vocabulary.load(xml, ccsr)) == expected
    json.loads(path.read_text(encoding="utf-8"))  # rewritten whole
    assert not list(path.parent.glob(".vocab-*"))  # no temporary file left behind


def test_the_cache_can_be_switched_off(files, monkeypatch: pytest.MonkeyPatch) -> None:
    xml, ccsr, cache = files
    monkeypatch.setenv("RAG_DX_VOCAB_CACHE", "0")
    Vocabulary.load(xml, ccsr)
    assert not cache.exists()


def test_the_settings_cache_dir_wins_over_the_environment(files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cache_dir` in rag-dx.toml must be where the cache goes (it was ignored before 2026-12-03)."""
    from rag_dx.settings import load_settings

    xml, ccsr, env_cache = files
    toml_dir = tmp_path / "from-toml"
    (tmp_path / "rag-dx.toml").write_text(f'cache_dir = "{toml_dir.as_posix()}"\n', encoding="utf-8")
    monkeypatch.delenv("RAG_DX_CACHE_DIR")
    monkeypatch.setenv("RAG_DX_CONFIG", str(tmp_path / "rag-dx.toml"))
    settings = load_settings()
    assert Path(settings.cache_dir) == toml_dir
    Vocabulary.load(xml, ccsr, cache_dir=settings.cache_dir)
    assert len(list((toml_dir / "vocabulary").glob("*.json"))) == 1
    assert not (env_cache / "vocabulary").exists()
