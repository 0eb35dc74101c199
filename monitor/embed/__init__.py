"""Embedding stage: turn post text into vectors with a sentence-transformers model."""
