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
        # the website's pages (marketplace.web): the editor links "Marketplace" and the publisher's name there
        "itemUrl": f"{base}/items",
        "publisherUrl": f"{base}/publishers",
        "resourceUrlTemplate": f"{service}/resources/{{publisher}}/{{name}}/{{version}}/{{path}}",
        "extensionUrlTemplate": f"{service}/vscode/{{publisher}}/{{name}}/latest",
        "controlUrl": f"{service}/control.json",
    }


# The sign-in providers editors offer for sync: the ones a default deployment can check (GitHub tokens against
# the GitHub API). Others (``microsoft``, an extension's provider) need an issuer in ``AUTH_ISSUERS`` first.
AUTHENTICATION_PROVIDERS: dict[str, dict[str, list[str]]] = {"github": {"scopes": ["user:email"]}}


def sync_config(base_url: str) -> dict[str, Any]:
    """``configurationSync.store`` for product.json: one store, so all three URLs are the same."""
    url = f"{base_url.rstrip('/')}{SYNC_PATH}"
    return {
        "url": url,
        "stableUrl": url,
        "insidersUrl": url,
        "canSwitch": False,
        "authenticationProviders": AUTHENTICATION_PROVIDERS,
    }


def edit_sessions_config(base_url: str) -> dict[str, Any]:
    """``editSessions.store`` (Cloud Changes): the same store and sign-in."""
    return {"url": f"{base_url.rstrip('/')}{SYNC_PATH}", "canSwitch": False,
            "authenticationProviders": AUTHENTICATION_PROVIDERS}


def product_json(base_url: str) -> dict[str, Any]:
    return {
        "extensionsGallery": gallery_config(base_url),
        "configurationSync.store": sync_config(base_url),
        "editSessions.store": edit_sessions_config(base_url),
    }
