"""Index storage: versioned, self-describing directories of FAISS + BM25 + SQLite docstore + manifest.

Storage only (the pipeline that fills it is :mod:`rag_dx.build`): :mod:`~rag_dx.index.layout`
(file names, manifest, verification, encoder check), :mod:`~rag_dx.index.writer` (one complete
version, with extra artefacts), :mod:`~rag_dx.index.store` (versions, lock, atomic switch),
:mod:`~rag_dx.index.reader` (verified opening, fallback, live following) and one module per backend
(:mod:`~rag_dx.index.faiss_index`, :mod:`~rag_dx.index.bm25`, :mod:`~rag_dx.index.docstore`).
"""
