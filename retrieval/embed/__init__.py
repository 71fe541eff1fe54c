"""Sentence embeddings: ONNX Runtime for BERT-style models, sentence-transformers for any other."""

from .embeddings import SentenceEmbedder

__all__ = ["SentenceEmbedder"]
