"""Ingestion: read files (loaders), split them into citable units (segment), and index them (pipeline)."""

from .pipeline import IngestReport, doc_key, forget, ingest

__all__ = ["IngestReport", "doc_key", "forget", "ingest"]
