"""Capability: the search index over published extensions."""
