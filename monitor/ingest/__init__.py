"""Ingestion: parse posts from files and sources, and store them idempotently."""
