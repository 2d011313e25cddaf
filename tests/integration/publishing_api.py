"""A client for the publishing API's handler: a JSON request with a token, as scripts and ``ovsx`` send it."""

from __future__ import annotations

import json
from typing import Any

from functions.publish_api import handler
from tests.integration.events import context, http_event

ROUTE = "ANY /api/publish/{proxy+}"


def call(method: str, path: str, token: str, body: object | None = None, query: str = "",
         agent: str = "curl/8.5") -> tuple[int, Any]:
    """The status and the JSON answer of ``method path`` with ``token`` as the bearer credential."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json", "user-agent": agent}
    event = http_event(method, path, ROUTE, headers, json.dumps(body) if body is not None else None, query=query)
    result = handler.lambda_handler(event, context("publish_api"))
    return result["statusCode"], json.loads(result["body"])
