"""Mirroring an upstream Open VSX registry, and air-gapped bundles."""
