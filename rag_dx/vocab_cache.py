"""The ICD-10-CM vocabulary's derived lookup tables, cached on disk as JSON.

Why: building the tables of :class:`rag_dx.vocab.Vocabulary` takes 6-8 s of a 2-core machine in
every process that normalizes a name (CLI calls, the UI, eval, index builds). They depend only on
the two package data files, the curated synonyms and the code that builds them, so they are stored
once (JSON, no pickle) under the cache directory, keyed by a hash of all of those, and read back in
about 1.5 s. This module is the Vocabulary's serializer: it reads and sets the private tables that
``Vocabulary._build`` computes, and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag_dx.vocab import Vocabulary
    from rag_dx.vocab_tables import _Node

log = logging.getLogger(__name__)
FORMAT = 3  # 2: the fuzzy tier's known words; 3: loose keys of infections marked


def cache_path(xml_path: Path, ccsr_path: Path, cache_dir: Path | None = None) -> Path | None:
    """Where the tables built from these files are cached; None when caching is off.

    ``RAG_DX_VOCAB_CACHE=0`` switches the cache off; the directory is `cache_dir` (the settings'
    ``cache_dir``, which ``rag-dx.toml`` or ``RAG_DX_CACHE_DIR`` set), else ``RAG_DX_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/rag-dx`` (callers without settings: eval scripts). A new package version or a code change gets a new
    key, so stale tables are never read.
    """
    if os.environ.get("RAG_DX_VOCAB_CACHE", "1").strip().lower() in ("0", "false", "off", "no"):
        return None
    from rag_dx import vocab_tables
    from rag_dx.settings import default_cache_dir

    digest = hashlib.sha256(str(FORMAT).encode())
    here = Path(__file__)
    code = (here.with_name("vocab.py"), here.with_name("vocab_tables.py"), here)
    for f in (xml_path, ccsr_path, vocab_tables._CURATED_FILE, *code):
        digest.update(Path(f).read_bytes())
    if cache_dir is not None:
        base = Path(cache_dir)
    else:
        base = Path(os.environ["RAG_DX_CACHE_DIR"]) if os.environ.get("RAG_DX_CACHE_DIR") else default_cache_dir()
    return base / "vocabulary" / f"icd10cm-{digest.hexdigest()[:20]}.json"


def tables_of(v: "Vocabulary") -> dict[str, Any]:
    """Everything ``Vocabulary._build`` derives, plus the nodes and CCSR map it was built from."""
    return {"format": FORMAT,
            "nodes": [[n.code, n.title, n.parent, n.order, n.is_leaf] for n in v._nodes.values()],
            "ccsr": v._ccsr, "curated_source": v._curated_source, "exact": v._exact,
            "synonym": v._synonym, "canon": v._canon, "canon_loose": v._canon_loose,
            "entries": [[sorted(toks), code] for toks, code in v._entries], "postings": v._postings,
            "curated": v._curated, "fuzzy_choices": v._fuzzy_choices, "fuzzy_codes": v._fuzzy_codes,
            "known_words": sorted(v._known)}


def apply_tables(v: "Vocabulary", t: Mapping[str, Any]) -> None:
    """Set the derived tables of `v` (built from ``t["nodes"]``) instead of building them."""
    if t.get("format") != FORMAT:
        raise ValueError("vocabulary cache of another format")
    v._exact, v._synonym = dict(t["exact"]), dict(t["synonym"])
    v._canon, v._canon_loose = dict(t["canon"]), dict(t["canon_loose"])
    v._entries = [(frozenset(toks), str(code)) for toks, code in t["entries"]]
    v._postings = {k: list(ids) for k, ids in t["postings"].items()}
    v._curated = dict(t["curated"])
    v._fuzzy_choices, v._fuzzy_codes = list(t["fuzzy_choices"]), list(t["fuzzy_codes"])
    v._known = frozenset(t["known_words"])
    if len(v._fuzzy_choices) != len(v._fuzzy_codes):
        raise ValueError("vocabulary cache: fuzzy tables differ in length")
    nodes = v._nodes
    v._rank = lambda code: (len(code), nodes[code].order)


def nodes_of(t: Mapping[str, Any]) -> dict[str, "_Node"]:
    from rag_dx.vocab_tables import _Node

    return {c: _Node(c, title, parent, int(order), bool(leaf)) for c, title, parent, order, leaf in t["nodes"]}


def read_tables(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_tables(tables: Mapping[str, Any], path: Path) -> None:
    """Write to a temporary file beside `path` and rename it into place: a crash never leaves half a cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vocab-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(tables, fh, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:  # a read-only home or a full disk costs the next process 6 s, nothing else
        log.info("vocabulary cache not written (%s)", type(exc).__name__)
