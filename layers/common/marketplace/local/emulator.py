"""The embedded AWS emulator: moto's threaded server, answering ``503`` when the data directory cannot take a write.

A write the durable hooks cannot keep (``StorageFull``: the disk or the quota is full) must fail the request that
made it, with an error the SDKs treat as a temporary service fault: ``503 ServiceUnavailable``, in the request's
protocol (JSON for the ``X-Amz-Target`` APIs: DynamoDB, Kinesis, KMS, SQS; XML for S3). The SDK retries it, then
gives up, and the handler answers the client ``503`` (``platform.http``): nothing half-written, nothing acknowledged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from marketplace.local.durable.store import StorageFull

log = logging.getLogger("marketplace.local")
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _StorageGuard:
    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        except StorageFull as error:
            log.error("refused an AWS request: %s", error)
            message = "The local data directory is full; the write was not kept. Free space and retry."
            if environ.get("HTTP_X_AMZ_TARGET"):
                body = json.dumps({"__type": "ServiceUnavailable", "message": message}).encode()
                content_type = "application/x-amz-json-1.0"
            else:
                body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>ServiceUnavailable</Code>"
                        f"<Message>{escape(message)}</Message></Error>").encode()
                content_type = "application/xml"
            start_response("503 Service Unavailable", [("Content-Type", content_type),
                                                       ("Content-Length", str(len(body))),
                                                       ("x-amzn-ErrorType", "ServiceUnavailable")])
            return [body]


class Emulator(ThreadedMotoServer):
    """``ThreadedMotoServer`` with the storage guard around its application."""

    def _server_entry(self) -> None:
        app = _StorageGuard(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
