"""AWS-shaped events for invoking handlers directly."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from marketplace.local.context import LocalContext
from marketplace.platform.functions import function


def context(name: str) -> Any:  # a LambdaContext look-alike
    return LocalContext.for_function(function(name))


def sqs_event(*bodies: Any) -> dict[str, Any]:
    return {"Records": [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": "r",
            "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            "awsRegion": "us-east-1",
        }
        for body in bodies
    ]}


def kinesis_event(*payloads: bytes) -> dict[str, Any]:
    return {"Records": [
        {
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": str(1000 + i),
                        "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": 1.0},
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-0:{1000 + i}",
            "eventName": "aws:kinesis:record", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
        }
        for i, data in enumerate(payloads)
    ]}


def http_event(method: str, path: str, route_key: str, headers: dict[str, str] | None = None,
               body: str | None = None, query: str = "") -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": query,
        "headers": headers or {},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                                    "userAgent": "test"}, "requestId": "req-1", "routeKey": route_key,
                           "stage": "$default", "accountId": "123456789012", "apiId": "api"},
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body
    if query:
        event["queryStringParameters"] = dict(part.split("=", 1) for part in query.split("&"))
    return event
