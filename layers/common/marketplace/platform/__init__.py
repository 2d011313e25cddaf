"""Shared plumbing: what every function and the local runtime need, and nothing capability-specific."""
