"""Capability: the VS Code gallery protocol and the Open VSX read API."""
