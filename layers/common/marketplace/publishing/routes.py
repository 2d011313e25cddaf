"""Routes of the publish-api function under ``{base}/api/publish``: uploads (presigned S3 POSTs) and
their status. Every route needs a personal access token (``Authorization: Bearer mkp_...``)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from marketplace.platform.errors import BadRequest, NotFound
from marketplace.platform.http import json_response
from marketplace.publishing import service, store, uploads

router = Router()


def _principal() -> service.Principal:
    header = router.current_event.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    return service.authenticate(value.strip() if scheme.lower() == "bearer" else None)


def _json_body() -> Any:
    try:
        return json.loads(router.current_event.decoded_body or "")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from error


@router.post("/api/publish/uploads")
def create_upload() -> Response[str]:
    principal = _principal()
    created = uploads.create(principal, _json_body())
    return json_response(201, created, {"Location": f"/api/publish/uploads/{created['id']}"})


@router.get("/api/publish/uploads/<upload_id>")
def get_upload(upload_id: str) -> Response[str]:
    principal = _principal()
    record = store.find_upload(upload_id) if len(upload_id) <= 64 else None
    if record is None or record.user != principal.user:
        raise NotFound(f"no upload {upload_id!r} for this token's user")
    return json_response(200, uploads.view(record), {"Cache-Control": "no-store"})
