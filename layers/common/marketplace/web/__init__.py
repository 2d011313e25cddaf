"""Capability: the website, server-rendered pages for people."""
