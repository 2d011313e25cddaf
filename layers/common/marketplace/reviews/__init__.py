"""Capability: ratings and reviews."""
