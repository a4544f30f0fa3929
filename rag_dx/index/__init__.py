"""Versioned, self-describing index directories: FAISS + BM25 + SQLite docstore + manifest."""
