"""`--engine` reaches the embedding step (index build/update/rebuild, eval), and a corpus above
`faiss.compress_above` is written as a compressed index that still serves and updates correctly."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from rag_dx.cli import app
from rag_dx.schemas import Report
from rag_dx.settings import Settings
from tests.helpers import PassThroughDeid

runner = CliRunner()


@pytest.fixture()
def seen_engines(monkeypatch, tmp_path):
    """Replaces the pipeline functions the commands call; records each call's settings.scale.engine."""
    import eval.run
    import rag_dx.build
    import rag_dx.commands.index as index_cmd

    seen: list[str] = []

    def record(settings, *args, **kwargs):
        seen.append(settings.scale.engine)
        return tmp_path / "v0001"

    for name in ("build_index", "update_index", "rebuild_index"):
        monkeypatch.setattr(rag_dx.build, name, record)
    monkeypatch.setattr(eval.run, "run_eval", lambda settings, **kw: record(settings) and {})
    monkeypatch.setattr(eval.run, "format_summary", lambda result: "")
    monkeypatch.setattr(index_cmd, "report_version", lambda name, path: None)
    monkeypatch.setattr(index_cmd, "report_rejects", lambda rejects, path: None)
    monkeypatch.setenv("RAG_DX_INDEX_DIR", str(tmp_path / "idx"))
    return seen


def test_engine_option_reaches_every_embedding_command(seen_engines, tmp_path, monkeypatch):
    from rag_dx.demo import demo_reports_path
    from rag_dx.index.store import IndexStore

    monkeypatch.setattr(IndexStore, "current_version", lambda self: "v0000")
    reports = str(demo_reports_path())
    commands = [
        ["index", "build", "--name", "x", "--reports", reports, "--engine", "ray"],
        ["index", "update", "--name", "x", "--reports", reports, "--engine", "ray"],
        ["index", "rebuild", "--name", "x", "--engine", "ray"],
        ["eval", "--labeled", reports, "--out", str(tmp_path / "out"), "--holdout", "0.2", "--engine", "ray"],
        ["index", "rebuild", "--name", "x"],  # no option: the setting (default local)
    ]
    for argv in commands:
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, (argv, result.output)
    assert seen_engines == ["ray", "ray", "ray", "ray", "local"]


def test_engine_option_refuses_unknown_engines(seen_engines):
    result = runner.invoke(app, ["index", "rebuild", "--name", "x", "--engine", "spark"])
    assert result.exit_code != 0 and not seen_engines


def test_engine_override_keeps_the_rest_of_the_scale_section(monkeypatch):
    from rag_dx.commands.common import engine_override
    from rag_dx.settings import load_settings

    monkeypatch.setenv("RAG_DX_SCALE__ACTORS", "3")
    settings = load_settings(**engine_override("ray"))
    assert (settings.scale.engine, settings.scale.actors) == ("ray", 3)
    assert load_settings(**engine_override(None)).scale.engine == "local"


def _reports(n: int) -> list[Report]:
    words = ["fever", "cough", "rash", "headache", "nausea", "pain", "swelling", "itch", "fatigue", "dizziness"]
    rng = np.random.default_rng(0)
    return [Report(report_id=f"r{i}", text=f"case {i}: " + " ".join(rng.choice(words, 6)) + f" token{i}",
                   diagnosis=f"D{i % 7}", source="synthetic", line=i + 2) for i in range(n)]


@pytest.mark.parametrize("codec", ["SQ8", "PQ64"])
def test_a_corpus_above_the_threshold_gets_a_compressed_index_that_serves(tmp_path, fake_encoder, codec):
    from rag_dx.build import build_index, update_index
    from rag_dx.index.reader import open_version
    from rag_dx.index.store import IndexStore

    reports = _reports(1200)
    settings = Settings(index_dir=tmp_path, faiss={"compress_above": 1000, "compress_codec": codec},
                        diagnosis={"practice_model": False})
    path = build_index(settings, "big", reports, [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    store = IndexStore(tmp_path, "big")
    manifest = store.read_manifest(path)
    suffix = codec + ("np" if codec.startswith("PQ") else "")  # PQ without polysemous training
    assert manifest["faiss"]["compressed"] is True and manifest["faiss_factory"].endswith(suffix)
    assert manifest["faiss"]["bytes_per_vector"] < 4 * fake_encoder.dim  # float32 would be 8,192 bytes
    loaded = open_version(store, path, encoder_name=fake_encoder.name, encoder_fingerprint=fake_encoder.fingerprint)
    assert loaded.dense.exact_vectors is False
    target = reports[321]
    _, ids = loaded.dense.search(fake_encoder.encode([target.text]), 5)
    found = {c.doc_id for c in loaded.docstore.get([int(i) for i in ids[0] if i >= 0]).values()}
    assert target.report_id in found
    # an update must not reuse the approximate vectors the codes decode to: everything is embedded again
    new = update_index(settings, "big", _reports(1201)[-1:], encoder=fake_encoder, deidentifier=PassThroughDeid())
    assert store.read_manifest(new)["embedded_chunks"] == manifest["counts"]["chunks"] + 1


def test_below_the_threshold_the_index_keeps_exact_vectors(tmp_path, fake_encoder):
    from rag_dx.build import build_index
    from rag_dx.index.store import IndexStore

    settings = Settings(index_dir=tmp_path, faiss={"compress_above": 5000, "exact_below": 1000},
                        diagnosis={"practice_model": False})
    path = build_index(settings, "mid", _reports(1200), [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    faiss_entry = IndexStore(tmp_path, "mid").read_manifest(path)["faiss"]
    assert faiss_entry["compressed"] is False and faiss_entry["factory"].endswith(",Flat")


def test_a_pq_codec_that_does_not_divide_the_dimension_is_a_clear_error():
    from rag_dx.errors import ConfigError
    from rag_dx.index.faiss_index import DenseIndex, FaissConfig

    x = np.random.default_rng(0).standard_normal((1200, 30)).astype(np.float32)
    with pytest.raises(ConfigError, match="compress_codec"):
        DenseIndex.build_auto(x, np.arange(1200), FaissConfig(compress_above=1000, compress_codec="PQ7"))
    with pytest.raises(ConfigError):
        FaissConfig(compress_codec="LSH")


class _Cluster:
    """The one call `pool_shape` makes on the ray module."""

    def __init__(self, **resources: float) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


def test_ray_pool_uses_one_gpu_per_actor_when_the_cluster_has_gpus():
    from rag_dx.embed.ray_engine import MAX_AUTO_ACTORS, pool_shape

    assert pool_shape(_Cluster(CPU=32, GPU=4), 0) == (4, {"num_gpus": 1})
    assert pool_shape(_Cluster(CPU=32, GPU=4), 2) == (2, {"num_gpus": 1})
    assert pool_shape(_Cluster(CPU=16), 0) == (MAX_AUTO_ACTORS, {"num_cpus": 16 // MAX_AUTO_ACTORS})
    assert pool_shape(_Cluster(CPU=2), 0) == (2, {"num_cpus": 1})
    assert pool_shape(_Cluster(CPU=2), 4) == (4, {"num_cpus": 0.5})  # shared, so all four start


def test_the_ray_engine_without_the_scale_extra_says_what_to_install(monkeypatch):
    import builtins

    from rag_dx.embed import ray_engine
    from rag_dx.errors import ConfigError

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match="scale"):
        ray_engine.embed_with_ray(["fever"], Settings(scale={"engine": "ray"}))
