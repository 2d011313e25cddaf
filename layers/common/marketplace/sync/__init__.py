"""Capability: the Settings Sync store."""
