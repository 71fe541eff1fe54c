"""The index of one folder: catalog (SQLite), vector store (Chroma), lexical index (BM25)."""

from .core import SHARED_SCOPE, Index, IndexStats, open_index

__all__ = ["SHARED_SCOPE", "Index", "IndexStats", "open_index"]
