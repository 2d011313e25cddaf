"""Capability: publishers, namespaces, tokens, uploads and the VSIX ingest."""
