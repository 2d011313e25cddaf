"""The control manifest at ``controlUrl`` (docs/protocols/vscode-gallery.md A8): what editors must block or warn
about.

- malicious (blocked by the operator): ``malicious`` — installs refused, installed copies flagged for removal;
- unpublished by the owner: ``deprecated`` with ``disallowInstall`` — a warning, and no new installs;
- deprecated by the owner: ``deprecated`` with the replacement (id and display name) and the owner's message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol


class Entry(Protocol):
    @property
    def extension_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def replacement(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...


def manifest(entries: Iterable[Entry], display_name: Callable[[str], str | None]) -> dict[str, Any]:
    """``display_name(id)`` gives a replacement's display name (``None`` when it does not exist)."""
    malicious: list[str] = []
    deprecated: dict[str, Any] = {}
    for entry in sorted(entries, key=lambda e: e.extension_id):
        if entry.kind == "malicious":
            malicious.append(entry.extension_id)
        elif entry.kind == "unpublished":
            deprecated[entry.extension_id] = {
                "disallowInstall": True,
                "additionalInfo": "This extension was unpublished by its publisher.",
            }
        elif entry.kind == "deprecated":
            info: dict[str, Any] = {"disallowInstall": False}
            if entry.replacement:
                name = display_name(entry.replacement)
                if name is not None:
                    info["extension"] = {"id": entry.replacement, "displayName": name}
            if entry.message:
                info["additionalInfo"] = entry.message
            deprecated[entry.extension_id] = info if len(info) > 1 else True
    return {"malicious": malicious, "deprecated": deprecated, "migrateToPreRelease": {}, "search": [],
            "extensionsEnabledWithPreRelease": []}
