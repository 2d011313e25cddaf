"""Capability: download, install and activation statistics."""
