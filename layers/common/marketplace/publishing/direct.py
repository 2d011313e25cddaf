"""Publishing through the API itself, for the official CLIs (``ovsx publish``, ``vsce publish``) that send
the package in the request body. The bytes are stored where a presigned upload would have put them, so the
very same ingest validates them; the request waits for its verdict.

API Gateway and Lambda bound the body: a Lambda request payload is at most 6 MB, and the body arrives
base64-encoded, so about 4 MiB of package is the most this path takes. ``marketplace publish`` (presigned
upload straight to S3) takes packages up to the configured upload maximum.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from marketplace.platform.errors import BadRequest, PayloadTooLarge
from marketplace.publishing import audit, objects, store, tokens, uploads
from marketplace.publishing.service import Principal

MAX_BYTES = 4 * 1024 * 1024
WAIT_SECONDS = 25.0  # API Gateway gives an integration 30 s
POLL_SECONDS = 0.25


def publish(principal: Principal, data: bytes, *, file_name: str = "package.vsix",
            wait_seconds: float = WAIT_SECONDS) -> store.UploadRecord:
    """Hand the package to the ingest and wait for its verdict (the record may still be open at the deadline)."""
    if not data:
        raise BadRequest("the request body is empty: send the .vsix file as the body")
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"the package is {len(data)} bytes; through this API at most {MAX_BYTES} bytes are "
                              "accepted: publish larger packages with `marketplace publish` (a direct upload)")
    upload_id = secrets.token_hex(16)
    record = store.new_upload(upload_id, user=principal.user, token_id=principal.token_id, file_name=file_name,
                              size=len(data), sha256=hashlib.sha256(data).hexdigest(), now=tokens.utcnow(),
                              client=audit.current().client)
    objects.put_upload(uploads.object_key(upload_id), data, uploads.CONTENT_TYPE)
    deadline = time.monotonic() + wait_seconds
    while True:
        current = store.find_upload(upload_id) or record
        if current.status not in store.OPEN_STATES or time.monotonic() >= deadline:
            return current
        time.sleep(POLL_SECONDS)
