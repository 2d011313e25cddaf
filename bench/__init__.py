"""Benchmarks. ``python -m bench`` (or ``./dev bench``) runs them all and prints one table."""
