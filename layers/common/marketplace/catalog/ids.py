"""Extension identity grammar shared by the ingest (package.json) and the owner's lifecycle actions."""

from __future__ import annotations

import re

ID_PART_PATTERN = r"[A-Za-z0-9][A-Za-z0-9-]*"
ID_PART = re.compile(ID_PART_PATTERN)
EXTENSION_ID = re.compile(rf"({ID_PART_PATTERN})\.({ID_PART_PATTERN})")
