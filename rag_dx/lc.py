"""LangChain at the edge: rag-dx's retriever as a `BaseRetriever` and the pipeline as a Runnable.

Only this module imports LangChain, so the core stays usable (and testable) without its types.

Example:
    >>> from rag_dx.diagnose import build_assistant          # doctest: +SKIP
    >>> from rag_dx.lc import RagDxRetriever, as_runnable     # doctest: +SKIP
    >>> assistant = build_assistant(load_settings())          # doctest: +SKIP
    >>> docs = RagDxRetriever(assistant=assistant).invoke("fever and productive cough")  # doctest: +SKIP
    >>> as_runnable(assistant).invoke("fever and productive cough")["differential"][0]   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import ConfigDict

from rag_dx.schemas import Hit


def hit_to_document(hit: Hit) -> Document:
    chunk = hit.chunk
    return Document(
        id=chunk.chunk_id,
        page_content=chunk.text,
        metadata={
            "id": chunk.chunk_id, "kind": chunk.kind, "doc_id": chunk.doc_id, "title": chunk.title,
            "label": chunk.label, "icd10": chunk.icd10, "source": chunk.source, "url": chunk.url,
            "date": chunk.date, "score": hit.score, "dense_score": hit.dense_score,
        },
    )


class RagDxRetriever(BaseRetriever):
    """Hybrid (dense + BM25, RRF-fused) retrieval over a rag-dx index, as LangChain Documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    assistant: Any
    k: int | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [hit_to_document(h) for h in self.assistant.retrieve(query, k=self.k)]


def as_runnable(assistant: Any) -> Runnable[str, dict]:
    """The whole pipeline as a Runnable: case text in, the differential as a JSON-ready dict out."""
    return RunnableLambda(lambda text: assistant.diagnose(text).model_dump(), name="rag_dx_diagnose")
