"""Construct ids derived from the definitions' ids (``ingest-dlq`` -> ``IngestDlq``)."""

from __future__ import annotations

import re


def pascal(*parts: str) -> str:
    return "".join(word[:1].upper() + word[1:] for part in parts for word in re.split(r"[^A-Za-z0-9]+", part))
