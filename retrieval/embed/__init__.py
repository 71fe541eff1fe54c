"""Sentence embeddings: an exported graph on ONNX Runtime, or sentence-transformers on torch."""

from .embeddings import SentenceEmbedder

__all__ = ["SentenceEmbedder"]
