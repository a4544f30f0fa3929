"""Open the serving version of an index, verified against its manifest and the configured encoder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag_dx.errors import IndexCorruptError, IndexMismatchError
from rag_dx.index.bm25 import SparseIndex
from rag_dx.index.build import BM25_DIR, DENSE_FILE, DOCSTORE_FILE
from rag_dx.index.docstore import DocStore
from rag_dx.index.faiss_index import DenseIndex
from rag_dx.index.store import IndexStore


@dataclass
class LoadedIndex:
    name: str
    version: str
    path: Path
    manifest: dict
    dense: DenseIndex
    sparse: SparseIndex
    docstore: DocStore

    @property
    def version_id(self) -> str:
        return f"{self.name}/{self.version}"


def check_encoder(manifest: dict, name: str, encoder_name: str, encoder_fingerprint: str) -> None:
    built = manifest.get("encoder", {})
    if built.get("fingerprint") != encoder_fingerprint:
        raise IndexMismatchError(
            f"index '{name}' was built with encoder {built.get('name')} "
            f"(fingerprint {str(built.get('fingerprint'))[:12]}), but the configured encoder is "
            f"{encoder_name} (fingerprint {encoder_fingerprint[:12]}). Rebuild it with the current "
            f"encoder (`rag-dx index build --name {name} --reports ...`) or point RAG_DX_ENCODER at "
            f"the encoder it was built with."
        )


def open_index(
    index_dir: Path, name: str, *, encoder_name: str, encoder_fingerprint: str, verify: bool = True
) -> LoadedIndex:
    store = IndexStore(index_dir, name)
    path = store.current_dir()
    manifest = store.read_manifest(path)
    check_encoder(manifest, name, encoder_name, encoder_fingerprint)
    if verify:
        store.verify_files(path, manifest)
    dense = DenseIndex.load(path / DENSE_FILE, manifest.get("faiss_factory", ""))
    sparse = SparseIndex.load(path / BM25_DIR)
    docstore = DocStore(path / DOCSTORE_FILE)
    expected = manifest["counts"]["chunks"]
    if dense.dim != manifest["dim"] or dense.ntotal != expected or len(sparse.row_ids) != expected:
        raise IndexCorruptError(
            f"index '{name}' version {path.name}: counts or dimension disagree with its manifest"
        )
    return LoadedIndex(name=name, version=path.name, path=path, manifest=manifest, dense=dense,
                       sparse=sparse, docstore=docstore)
