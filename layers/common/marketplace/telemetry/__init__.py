"""Capability: telemetry ingest."""
