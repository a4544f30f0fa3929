"""Open the serving version of an index, verified against its manifest and the configured encoder.

`LiveIndex` is what long-running readers (the UI, batch jobs) hold: each query takes one snapshot,
so it is answered from exactly one version, and a version switched by another process is picked
up on the next query without a restart. A corrupt serving version falls back to the newest good
one with a warning, never to an empty index.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_dx.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from rag_dx.index.bm25 import SparseIndex
from rag_dx.index.docstore import DocStore
from rag_dx.index.faiss_index import DenseIndex
from rag_dx.index.layout import (  # noqa: F401  (check_encoder re-exported)
    BM25_DIR,
    DENSE_FILE,
    DOCSTORE_FILE,
    check_encoder,
    read_manifest,
    verify_files,
)
from rag_dx.index.store import CURRENT, IndexStore
from rag_dx.provenance import built_with_other_reading

log = logging.getLogger(__name__)


@dataclass
class LoadedIndex:
    name: str
    version: str
    path: Path
    manifest: dict
    dense: DenseIndex
    sparse: SparseIndex
    docstore: DocStore
    warnings: list[str] = field(default_factory=list)
    _artefacts: dict = field(default_factory=dict, repr=False)
    _artefact_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def version_id(self) -> str:
        return f"{self.name}/{self.version}"

    def artefact(self, name: str, load: Callable[[Path, Any], Any]) -> Any:
        """An extra artefact of this version (see rag_dx.index.writer), loaded once per snapshot.

        `load(version_dir, manifest_entry_or_None)` is called once per snapshot and its result kept
        with it, so a new version gets a fresh load. A load that raises is not kept: the next query
        tries again (and fails the same way on a corrupt file).
        """
        with self._artefact_lock:
            if name not in self._artefacts:
                self._artefacts[name] = load(self.path, self.manifest.get(name))
            return self._artefacts[name]


def open_version(store: IndexStore, path: Path, *, encoder_name: str, encoder_fingerprint: str,
                 verify: bool = True, dense_device: str = "auto") -> LoadedIndex:
    """Open one version directory, checking encoder, checksums, counts and dimension.

    `dense_device` ("auto", "cpu", "cuda"; ``settings.faiss.device``): where dense search runs
    (:meth:`DenseIndex.on_device`); "auto" uses a GPU when faiss-gpu sees one.
    """
    manifest = read_manifest(path)
    check_encoder(manifest, store.name, encoder_name, encoder_fingerprint)
    if verify:
        verify_files(path, manifest)
    try:
        dense = DenseIndex.load(path / DENSE_FILE, manifest.get("faiss_factory", ""))
        sparse = SparseIndex.load(path / BM25_DIR)
        docstore = DocStore(path / DOCSTORE_FILE)
    except (OSError, RuntimeError, ValueError) as exc:
        raise IndexCorruptError(f"index '{store.name}' version {path.name} cannot be read: {exc}") from None
    dense = dense.on_device(dense_device)
    expected = manifest["counts"]["chunks"]
    if (dense.dim != manifest["dim"] or dense.ntotal != expected or len(sparse.row_ids) != expected
            or docstore.count() != expected):
        raise IndexCorruptError(
            f"index '{store.name}' version {path.name}: counts or dimension disagree with its manifest"
        )
    loaded = LoadedIndex(name=store.name, version=path.name, path=path, manifest=manifest, dense=dense,
                         sparse=sparse, docstore=docstore)
    if built_with_other_reading(manifest):
        message = (f"index '{store.name}' version {path.name} was built by a rag-dx whose diagnosis vocabulary or "
                   f"finding tables differ from this one's: its disease cards and practice model read names and "
                   f"findings as that version did until the index is rebuilt (`rag-dx index build --name {store.name} ...`)")
        log.warning("%s", message)  # an evaluation shows it too, not only an answer's warnings
        loaded.warnings.append(message)
    return loaded


def open_index(
    index_dir: Path, name: str, *, encoder_name: str, encoder_fingerprint: str, verify: bool = True,
    fallback: bool = True, dense_device: str = "auto",
) -> LoadedIndex:
    """The serving version; if it fails verification, the newest older version that passes."""
    store = IndexStore(index_dir, name)
    try:
        path = store.current_dir()
        return open_version(store, path, encoder_name=encoder_name, encoder_fingerprint=encoder_fingerprint,
                            verify=verify, dense_device=dense_device)
    except IndexCorruptError as exc:
        if not fallback:
            raise
        current = store.current_version()
        for candidate in reversed(store.versions()):
            if candidate.name == current:
                continue
            try:
                loaded = open_version(store, candidate, encoder_name=encoder_name,
                                      encoder_fingerprint=encoder_fingerprint, verify=verify, dense_device=dense_device)
            except (IndexCorruptError, IndexMismatchError):
                continue
            message = (f"index '{name}': serving version {current or '(none)'} failed verification ({exc}); answering "
                       f"from {candidate.name}. Run `rag-dx index verify --name {name}` and roll back or rebuild.")
            log.warning("%s", message)
            loaded.warnings.append(message)
            return loaded
        raise


class LiveIndex:
    """Follows an index's CURRENT pointer; `snapshot()` is cheap (one stat) when nothing changed."""

    def __init__(self, index_dir: Path, name: str, *, encoder_name: str, encoder_fingerprint: str,
                 version: str | None = None, dense_device: str = "auto") -> None:
        """`version` pins one version (e.g. to evaluate it before switching); None follows CURRENT.
        `dense_device`: where dense search runs (``settings.faiss.device``; see `open_version`)."""
        self.store = IndexStore(index_dir, name)
        self.dense_device = dense_device
        self._encoder = (encoder_name, encoder_fingerprint)
        self._pinned = version
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._loaded: LoadedIndex | None = None
        self.snapshot()  # fail at construction, not on the first query

    def _pointer_stamp(self) -> tuple:
        try:
            st = os.stat(self.store.root / CURRENT)
        except FileNotFoundError:
            if self.store.versions():  # CURRENT deleted: open_index falls back to the newest good version
                return ("no CURRENT", len(self.store.versions()))
            raise IndexNotFoundError(
                f"no index named '{self.store.name}' under {self.store.root.parent}; build one with "
                f"`rag-dx index build --name {self.store.name} --reports FILE`"
            ) from None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def snapshot(self) -> LoadedIndex:
        if self._pinned is not None:
            if self._loaded is None:
                self._loaded = open_version(self.store, self.store.version_dir(self._pinned),
                                            encoder_name=self._encoder[0], encoder_fingerprint=self._encoder[1],
                                            dense_device=self.dense_device)
            return self._loaded
        stamp = self._pointer_stamp()
        loaded = self._loaded
        if loaded is not None and stamp == self._stamp:
            return loaded
        with self._lock:
            if self._loaded is not None and stamp == self._stamp:
                return self._loaded
            fresh = open_index(self.store.root.parent, self.store.name, encoder_name=self._encoder[0],
                               encoder_fingerprint=self._encoder[1], dense_device=self.dense_device)
            # Readers holding the previous snapshot finish on it; it is freed when they drop it.
            self._loaded, self._stamp = fresh, stamp
            return fresh
