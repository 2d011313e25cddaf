"""What ``vsce`` (with ``VSCE_MARKETPLACE_URL`` pointing at us) needs from the Azure DevOps-style gallery
API: the location service that maps resource ids to routes, the extension lookup it makes before
publishing, the publish answer, and the role assignment ``vsce verify-pat`` reads. Shapes as captured
from vsce 3.9."""

from __future__ import annotations

from typing import Any

from marketplace.catalog import store as catalog
from marketplace.catalog.semver import Version


def _location(location_id: str, area: str, resource: str, template: str, resource_version: int) -> dict[str, Any]:
    return {"id": location_id, "area": area, "resourceName": resource, "routeTemplate": template,
            "resourceVersion": resource_version, "minVersion": "1.0", "maxVersion": "7.2", "releasedVersion": "7.1"}


GALLERY_LOCATIONS = [
    _location("e11ea35a-16fe-4b80-ab11-c4cab88a0966", "gallery", "extensions",
              "_apis/gallery/publishers/{publisherName}/extensions/{extensionName}/{version}", 2),
    _location("a41192c8-9525-4b58-bc86-179fa549d80d", "gallery", "extensions",
              "_apis/gallery/extensions/{extensionId}/{version}", 2),
]
SECURITY_ROLE_LOCATIONS = [
    _location("9461c234-c84c-4ed2-b918-2f0f92ad0a35", "securityroles", "roleassignments",
              "_apis/securityroles/scopes/{scopeId}/roleassignments/resources/{resourceId}", 1),
]


def locations(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(entries), "value": entries}


def published_extension(extension: catalog.ExtensionItem, versions: list[catalog.VersionItem]) -> dict[str, Any]:
    """The ``PublishedExtension`` fields vsce reads: its name, publisher and versions (newest first)."""
    ordered = sorted(versions, key=lambda v: Version(v.version), reverse=True)
    return {
        "extensionId": extension.extension_id,
        "extensionName": extension.name,
        "displayName": extension.display_name,
        "shortDescription": extension.description,
        "publisher": {"publisherName": extension.publisher, "displayName": extension.publisher},
        "versions": [{"version": v.version, "targetPlatform": v.target_platform,
                      "lastUpdated": v.published_at.isoformat()} for v in ordered],
        "flags": "validated, public",
    }


def role_assignments(user: str, role: str) -> dict[str, Any]:
    return {"count": 1, "value": [{"role": {"name": role.capitalize()}, "identity": {"displayName": user}}]}
