"""The public URLs editors are configured with, derived from one base URL (the CloudFront domain of a
deployment, or the local runtime's address). The CLI prints them as a ``product.json`` fragment."""

from __future__ import annotations

from typing import Any

GALLERY_PATH = "/_apis/public/gallery"
SYNC_PATH = "/sync"


def gallery_config(base_url: str) -> dict[str, str]:
    """``extensionsGallery`` for product.json (VS Code, VSCodium) or ``EXTENSIONS_GALLERY`` (code-server)."""
    base = base_url.rstrip("/")
    service = f"{base}{GALLERY_PATH}"
    return {
        "serviceUrl": service,
        "itemUrl": f"{service}/items",
        "publisherUrl": f"{service}/publishers",
        "resourceUrlTemplate": f"{service}/resources/{{publisher}}/{{name}}/{{version}}/{{path}}",
        "extensionUrlTemplate": f"{service}/vscode/{{publisher}}/{{name}}/latest",
        "controlUrl": f"{service}/control.json",
    }


def sync_config(base_url: str) -> dict[str, Any]:
    """``configurationSync.store`` for product.json: one store, so all three URLs are the same."""
    url = f"{base_url.rstrip('/')}{SYNC_PATH}"
    return {
        "url": url,
        "stableUrl": url,
        "insidersUrl": url,
        "canSwitch": False,
        "authenticationProviders": {"github": {"scopes": ["user:email"]}, "microsoft": {"scopes": []}},
    }


def product_json(base_url: str) -> dict[str, Any]:
    return {"extensionsGallery": gallery_config(base_url), "configurationSync.store": sync_config(base_url)}
