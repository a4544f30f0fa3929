"""The on-disk layout of an index version, and how it is checked. The one place file names live.

A version directory holds::

    manifest.json     what was built, with what (encoder, FAISS factory, counts) and every file's sha256
    dense.faiss       FAISS vectors keyed by docstore row id
    bm25/             the BM25 index over the same rows
    docstore.sqlite   chunk text and citation metadata
    <artefact>/       any extra artefact written with the version (listed in the manifest's `artefacts`)

Readers (`reader.py`), the writer (`writer.py`) and the store (`store.py`) import names and checks
from here; this module imports nothing else from the index package, so the package is acyclic.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from rag_dx.errors import IndexCorruptError, IndexMismatchError

MANIFEST = "manifest.json"
DENSE_FILE = "dense.faiss"
DOCSTORE_FILE = "docstore.sqlite"
BM25_DIR = "bm25"
#: Bumped when the layout changes in a way old readers cannot follow.
FORMAT_VERSION = 1
#: Names a version's core files take; an extra artefact may not use them.
RESERVED_NAMES = frozenset({MANIFEST, DENSE_FILE, DOCSTORE_FILE, BM25_DIR})
#: What an artefact's checksum error tells the user to do.
ARTEFACT_REMEDY = "run `rag-dx index verify` and rebuild or roll back"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under a version directory except the manifest (which records them)."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def read_manifest(version_dir: Path) -> dict:
    try:
        manifest = json.loads((version_dir / MANIFEST).read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: invalid UTF-8 or JSON
        raise IndexCorruptError(f"unreadable manifest in {version_dir}: {type(exc).__name__}") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"unreadable manifest in {version_dir}: not a JSON object")
    return manifest


def verify_files(version_dir: Path, manifest: dict) -> None:
    """Every file the manifest lists exists and has its recorded checksum."""
    expected = manifest.get("files") or {}
    if not expected:
        raise IndexCorruptError(f"{version_dir}: manifest lists no files")
    for rel, digest in expected.items():
        path = version_dir / rel
        if not path.is_file():
            raise IndexCorruptError(f"{version_dir}: missing file {rel}")
        if sha256_file(path) != digest:
            raise IndexCorruptError(f"{version_dir}: checksum mismatch for {rel}")


def artefact_checksums(version_dir: Path, dirname: str, files: Iterable[str]) -> dict[str, str]:
    """The manifest entry's `files` for an artefact in `version_dir/dirname`: version-relative path -> sha256.

    Keeps the order of `files`, so the manifest an artefact writes does not depend on this helper.
    """
    out = version_dir / dirname
    return {f"{dirname}/{f}": sha256_file(out / f) for f in files}


def verify_artefact(version_dir: Path, files: Mapping[str, str], what: str, remedy: str = ARTEFACT_REMEDY) -> None:
    """Refuse an artefact whose files differ from its manifest entry, naming the version, file and fix.

    Why one helper: every artefact stored in a version (practice model, disease cards) checks itself
    on load the same way. A missing file raises the OSError of reading it, which callers already
    turn into their own "cannot be read" message.
    """
    for rel, digest in files.items():
        if sha256_file(version_dir / rel) != digest:
            raise IndexCorruptError(
                f"index version {version_dir.name}: {what} file {rel} does not match the checksum "
                f"in its manifest; {remedy}")


def check_encoder(manifest: dict, name: str, encoder_name: str, encoder_fingerprint: str) -> None:
    """Refuse an index built with another encoder, saying what to run."""
    built = manifest.get("encoder", {})
    if built.get("fingerprint") != encoder_fingerprint:
        raise IndexMismatchError(
            f"index '{name}' was built with encoder {built.get('name')} "
            f"(fingerprint {str(built.get('fingerprint'))[:12]}), but the configured encoder is "
            f"{encoder_name} (fingerprint {encoder_fingerprint[:12]}). Re-embed it with the current "
            f"encoder (`rag-dx index rebuild --name {name}`, or `rag-dx index build --name {name} "
            f"--reports ...`) or point RAG_DX_ENCODER at the encoder it was built with."
        )
