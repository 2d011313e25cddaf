"""X-Ray tracing without the X-Ray SDK: subsegments for handlers, traced functions and AWS SDK calls, sent to
the X-Ray daemon over UDP.

With active tracing, Lambda records the invocation's segment itself and hands the function its trace header
in ``_X_AMZN_TRACE_ID`` (``Root=...;Parent=<segment id>;Sampled=1[;Lineage=...]``) and the daemon's address in
``AWS_XRAY_DAEMON_ADDRESS``. Everything here hangs subsegments under that segment and sends each one as it
ends, as its own datagram: the documents Powertools' tracer and the X-Ray SDK sent before (docs/tracing.md
lists them). Nothing is recorded when the header is missing or not sampled, or when tracing is off
(``POWERTOOLS_TRACE_DISABLED``, or outside Lambda: no ``LAMBDA_TASK_ROOT``), and sending never raises.

AWS SDK calls are traced through botocore's event system (``instrument``), not by patching botocore. Only the
standard library is imported; botocore only on the rare paths that need it, where it is loaded already.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    import socket

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S")

TRACE_HEADER_VAR = "_X_AMZN_TRACE_ID"
DAEMON_ADDRESS_VAR = "AWS_XRAY_DAEMON_ADDRESS"
DISABLED_VAR = "POWERTOOLS_TRACE_DISABLED"
TRACE_HEADER = "X-Amzn-Trace-Id"
DEFAULT_DAEMON = ("127.0.0.1", 2000)
PROTOCOL_HEADER = b'{"format":"json","version":1}\n'
# The largest UDP payload over IPv4; the daemon reads at most 64 KiB a datagram.
MAX_DATAGRAM = 65_507
# Frames kept of a stack: the ten the X-Ray SDK records (for an AWS call, two of those are its own wrappers,
# which it leaves out, so eight remain).
STACK_FRAMES = 10
AWS_STACK_FRAMES = 8
_INVALID_NAME_CHARACTERS = frozenset("?;*()!$~^<>")
_TRUE = frozenset({"1", "y", "yes", "t", "true", "on"})
_CONTEXT_KEY = "marketplace.tracing.subsegment"
_CAUSE_ATTRIBUTE = "_xray_cause_id"


def enabled() -> bool:
    """Whether this process traces: in Lambda (not SAM's or Chalice's emulation) unless
    ``POWERTOOLS_TRACE_DISABLED`` is true; the switch Powertools' tracer used."""
    env = os.environ
    if env.get(DISABLED_VAR, "false").lower() in _TRUE:
        return False
    return bool(env.get("LAMBDA_TASK_ROOT")) and not env.get("AWS_SAM_LOCAL") and not env.get("AWS_CHALICE_CLI_MODE")


# --- The invocation's segment, as Lambda hands it over ---------------------------------------------------

_parsed_header: tuple[str | None, tuple[str, str, str] | None] = (None, None)


def _lambda_segment() -> tuple[str, str, str] | None:
    """``(trace id, segment id, further header fields)`` of this invocation's sampled segment, else None."""
    global _parsed_header
    header = os.environ.get(TRACE_HEADER_VAR)
    seen, parsed = _parsed_header
    if header == seen:
        return parsed
    parsed = _parse_header(header) if header else None
    _parsed_header = (header, parsed)
    return parsed


def _parse_header(header: str) -> tuple[str, str, str] | None:
    root = parent = sampled = None
    extra = ""
    for part in header.strip().split(";"):
        key, equals, value = part.partition("=")
        if key == "Root":
            root = value
        elif key == "Parent":
            parent = value
        elif key == "Sampled":
            sampled = value
        elif equals and key != "Self":  # Lineage and the like travel on; an ALB's Self does not
            extra += f";{key}={value}"
    if not root or not parent or sampled != "1":
        return None
    return root, parent, extra


_cold_start = True
_cold_start_lock = threading.Lock()


def _take_cold_start() -> bool:
    """True for the first invocation of the process only (never with provisioned concurrency)."""
    global _cold_start
    with _cold_start_lock:
        first, _cold_start = _cold_start, False
    return first and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"


# --- Subsegments ------------------------------------------------------------------------------------------


class Subsegment:
    """One unit of work under the invocation's segment, sent to the daemon when it ends."""

    __slots__ = ("annotations", "aws", "cause", "end_time", "failed_calls", "flags", "header_extra", "http", "id",
                 "metadata", "name", "namespace", "parent_id", "start_time", "trace_id")

    def __init__(self, name: str, namespace: str, trace_id: str, parent_id: str, header_extra: str) -> None:
        self.id = os.urandom(8).hex()
        self.name = "".join(c for c in name if c not in _INVALID_NAME_CHARACTERS)
        self.namespace = namespace
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.header_extra = header_extra
        self.start_time = time.time()
        self.end_time = 0.0
        self.annotations: dict[str, str | int | float | bool] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.aws: dict[str, Any] = {}
        self.http: dict[str, Any] = {}
        self.cause: dict[str, Any] | str = {}
        self.flags: dict[str, bool] = {}
        # AWS calls under this one that failed: (the error response, the id of the exception recorded for it)
        self.failed_calls: list[tuple[Any, str]] = []

    def child(self, name: str, namespace: str) -> Subsegment:
        return Subsegment(name, namespace, self.trace_id, self.id, self.header_extra)

    def trace_header(self) -> str:
        """The ``X-Amzn-Trace-Id`` value that makes this subsegment the parent of a downstream call."""
        return f"Root={self.trace_id};Parent={self.id};Sampled=1{self.header_extra}"

    def status(self, code: int | str | None) -> None:
        """The HTTP status of a call, and the error (4xx), throttle (429) or fault (5xx) it signals."""
        if code is None:
            return
        code = int(code)
        self.http.setdefault("response", {})["status"] = code
        if code >= 500:
            self.flags["fault"] = True
        elif code == 429:
            self.flags["throttle"] = self.flags["error"] = True
        elif code >= 400:
            self.flags["error"] = True

    def add_exception(self, error: BaseException, stack: list[dict[str, Any]], *, remote: bool = False) -> str:
        """Record ``error`` as the cause (a fault); an exception already recorded under a subsegment below this
        one is referred to by its id. Returns that id."""
        self.flags["fault"] = True
        recorded = getattr(error, _CAUSE_ATTRIBUTE, None)
        if recorded is None:
            response = getattr(error, "response", None)
            recorded = next((cause for failed, cause in self.failed_calls if failed is response), None)
        if isinstance(recorded, str):
            self.cause = recorded
            _mark(error, recorded)
            return recorded
        cause_id = self.record_cause(type(error).__name__, _message(error), stack, remote=remote)
        _mark(error, cause_id)
        return cause_id

    def record_cause(self, type_name: str, message: str | None, stack: list[dict[str, Any]], *,
                     remote: bool) -> str:
        self.flags["fault"] = True
        throwable: dict[str, Any] = {"id": os.urandom(8).hex()}
        if message is not None:
            throwable["message"] = message
        throwable["type"] = type_name
        throwable["remote"] = remote
        if stack:
            throwable["stack"] = stack
        cause = self.cause if isinstance(self.cause, dict) else {}
        exceptions = [*cause.get("exceptions", []), throwable]
        self.cause = {"working_directory": str(Path.cwd()), "exceptions": exceptions}
        return str(throwable["id"])

    def put_metadata(self, key: str, value: Any, namespace: str) -> None:
        self.metadata.setdefault(namespace, {})[key] = value

    def document(self) -> dict[str, Any]:
        """The subsegment document, with the fields the X-Ray SDK fills and none left empty."""
        doc: dict[str, Any] = {"id": self.id, "name": self.name, "start_time": self.start_time,
                               "parent_id": self.parent_id, "in_progress": False}
        if self.http:
            doc["http"] = self.http
        if self.annotations:
            doc["annotations"] = self.annotations
        if self.metadata:
            doc["metadata"] = _plain(self.metadata)
        if self.aws:
            doc["aws"] = self.aws
        if self.cause:
            doc["cause"] = self.cause
        doc.update(trace_id=self.trace_id, type="subsegment", namespace=self.namespace, end_time=self.end_time)
        doc.update(self.flags)
        return doc

    def end(self) -> None:
        self.end_time = time.time()
        emit(self)


_current: contextvars.ContextVar[Subsegment | None] = contextvars.ContextVar("xray_subsegment", default=None)


def current() -> Subsegment | None:
    """The innermost open handler or function subsegment of this thread (or task)."""
    return _current.get()


def begin(name: str, namespace: str = "local") -> Subsegment | None:
    """A new subsegment under the current one, or under the invocation's segment; None when not traced."""
    parent = _current.get()
    if parent is not None:
        return parent.child(name, namespace)
    segment = _lambda_segment()
    if segment is None:
        return None
    return Subsegment(name, namespace, *segment)


def _mark(error: BaseException, cause_id: str) -> None:
    with contextlib.suppress(Exception):  # an exception that takes no attributes is recorded again higher up
        setattr(error, _CAUSE_ATTRIBUTE, cause_id)


def _message(error: BaseException) -> str | None:
    try:
        return str(error)
    except Exception:
        return None


def _frame_entry(path: str, line: int | None, label: str) -> dict[str, Any]:
    return {"path": Path(path).name.replace('"', " ").strip(), "line": line, "label": label.strip()}


def _traceback_stack(tb: TracebackType | None, limit: int = STACK_FRAMES) -> list[dict[str, Any]]:
    """The first ``limit`` frames of a traceback, outermost first."""
    stack: list[dict[str, Any]] = []
    while tb is not None and len(stack) < limit:
        code = tb.tb_frame.f_code
        stack.append(_frame_entry(code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return stack


def _caller_stack(frame: FrameType | None, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` innermost frames from ``frame`` outwards, outermost first."""
    stack: list[dict[str, Any]] = []
    while frame is not None and len(stack) < limit:
        code = frame.f_code
        stack.append(_frame_entry(code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    stack.reverse()
    return stack


def _plain(value: Any) -> Any:
    """Metadata as JSON-ready values, converted the way the X-Ray SDK converts them: mappings and iterables
    element by element, other objects by their public, non-callable attributes."""
    try:
        if isinstance(value, dict):
            return {key: _plain(item) for key, item in value.items()}
        if isinstance(value, type):
            return str(value)
        if hasattr(value, "_ast"):
            return _plain(value._ast())
        if hasattr(value, "__iter__") and not isinstance(value, str):
            return [_plain(item) for item in value]
        if hasattr(value, "__dict__"):
            return {key: _plain(item) for key, item in vars(value).items()
                    if not callable(item) and not key.startswith("_")}
        return value
    except Exception:
        log.debug("X-Ray: metadata value not converted", exc_info=True)
        return {}


# --- Decorators -------------------------------------------------------------------------------------------


def _choice(var: str, choice: bool | None) -> bool:
    return choice if choice is not None else os.environ.get(var, "true").lower() in _TRUE


class Tracer:
    """Decorators that trace a Lambda handler and the functions it calls, as Powertools' ``Tracer`` did: a
    ``## <name>`` subsegment each, a handler's annotated with ``ColdStart`` and ``Service``, an exception
    recorded as the cause and (``capture_error``) as metadata, the return value as metadata only with
    ``capture_response``. When tracing is off the decorators return the function itself."""

    def __init__(self, service: str = "") -> None:
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME", "")
        self.enabled = enabled()

    @overload
    def capture_lambda_handler(self, handler: F, *, capture_response: bool | None = None,
                               capture_error: bool | None = None) -> F: ...

    @overload
    def capture_lambda_handler(self, handler: None = None, *, capture_response: bool | None = None,
                               capture_error: bool | None = None) -> Callable[[F], F]: ...

    def capture_lambda_handler(self, handler: F | None = None, *, capture_response: bool | None = None,
                               capture_error: bool | None = None) -> F | Callable[[F], F]:
        if handler is None:
            return functools.partial(self.capture_lambda_handler, capture_response=capture_response,
                                     capture_error=capture_error)
        if not self.enabled:
            return handler
        return self._traced(handler, handler.__name__, handler=True, capture_response=capture_response,
                            capture_error=capture_error)

    @overload
    def capture_method(self, method: F, *, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> F: ...

    @overload
    def capture_method(self, method: None = None, *, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> Callable[[F], F]: ...

    def capture_method(self, method: F | None = None, *, capture_response: bool | None = None,
                       capture_error: bool | None = None) -> F | Callable[[F], F]:
        """Trace a plain (synchronous, non-generator) function as ``## <module>.<qualified name>``."""
        if method is None:
            return functools.partial(self.capture_method, capture_response=capture_response,
                                     capture_error=capture_error)
        code = getattr(method, "__code__", None)
        if code is not None and code.co_flags & 0x2A0:  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
            raise TypeError(f"capture_method traces plain functions only, not {method.__qualname__}")
        if not self.enabled:
            return method
        name = "".join(c for c in f"{method.__module__}.{method.__qualname__}" if c not in _INVALID_NAME_CHARACTERS)
        return self._traced(method, name, handler=False, capture_response=capture_response,
                            capture_error=capture_error)

    def _traced(self, fn: F, name: str, *, handler: bool, capture_response: bool | None,
                capture_error: bool | None) -> F:
        service = self.service
        record_response = _choice("POWERTOOLS_TRACER_CAPTURE_RESPONSE", capture_response)
        record_error = _choice("POWERTOOLS_TRACER_CAPTURE_ERROR", capture_error)
        subsegment_name = f"## {name}"

        @functools.wraps(fn)
        def traced(*args: Any, **kwargs: Any) -> Any:
            subsegment = begin(subsegment_name)
            if subsegment is None:
                if not handler:
                    return fn(*args, **kwargs)
                try:
                    return fn(*args, **kwargs)
                finally:
                    _take_cold_start()
            token = _current.set(subsegment)
            try:
                response = fn(*args, **kwargs)
            except BaseException as error:
                if record_error and isinstance(error, Exception):
                    subsegment.put_metadata(f"{name} error", error, service)
                subsegment.add_exception(error, _traceback_stack(error.__traceback__))
                raise
            else:
                if record_response and response is not None:
                    subsegment.put_metadata(f"{name} response", response, service)
                return response
            finally:
                _current.reset(token)
                if handler:
                    subsegment.annotations["ColdStart"] = _take_cold_start()
                    if service:
                        subsegment.annotations["Service"] = service
                subsegment.end()

        return traced  # type: ignore[return-value]


# --- AWS SDK calls ----------------------------------------------------------------------------------------

# What the X-Ray SDK records of a call's parameters, per service and operation: (request, response). Each
# is a space-separated list of parameter names, recorded under their snake-case name; "Name>alias" records
# one under another name, "Name>alias#" records its length and "Name>alias*" its keys.
_KEY_VERSION_BUCKET = ("Key VersionId Bucket>bucket_name", "")
_KEY_BUCKET = ("Key Bucket>bucket_name", "")
_PREFIX_BUCKET = ("Prefix Bucket>bucket_name", "")
_BUCKET = ("Bucket>bucket_name", "")
_RECORDED: dict[str, dict[str, tuple[str, str]]] = {
    "dynamodb": {
        "BatchGetItem": ("RequestItems>table_names*", "ConsumedCapacity"),
        "BatchWriteItem": ("RequestItems>table_names*", "ConsumedCapacity ItemCollectionMetrics"),
        "CreateTable": ("GlobalSecondaryIndexes LocalSecondaryIndexes ProvisionedThroughput TableName", ""),
        "DeleteItem": ("TableName", "ConsumedCapacity ItemCollectionMetrics"),
        "DeleteTable": ("TableName", ""),
        "DescribeTable": ("TableName", ""),
        "GetItem": ("ConsistentRead ProjectionExpression TableName", "ConsumedCapacity"),
        "ListTables": ("ExclusiveStartTableName Limit", "TableNames>table_count#"),
        "PutItem": ("TableName", "ConsumedCapacity ItemCollectionMetrics"),
        "Query": ("AttributesToGet ConsistentRead IndexName Limit ProjectionExpression ScanIndexForward Select "
                  "TableName", "ConsumedCapacity"),
        "Scan": ("AttributesToGet ConsistentRead IndexName Limit ProjectionExpression Segment Select TableName "
                 "TotalSegments", "ConsumedCapacity Count ScannedCount"),
        "UpdateItem": ("TableName", "ConsumedCapacity ItemCollectionMetrics"),
        "UpdateTable": ("AttributeDefinitions GlobalSecondaryIndexUpdates ProvisionedThroughput TableName", ""),
    },
    "sqs": {
        "AddPermission": ("Label QueueUrl", ""),
        "ChangeMessageVisibility": ("QueueUrl VisibilityTimeout", ""),
        "ChangeMessageVisibilityBatch": ("QueueUrl", "Failed"),
        "CreateQueue": ("Attributes QueueName", ""),
        "DeleteMessage": ("QueueUrl", ""),
        "DeleteMessageBatch": ("QueueUrl", "Failed"),
        "DeleteQueue": ("QueueUrl", ""),
        "GetQueueAttributes": ("QueueUrl", "Attributes"),
        "GetQueueUrl": ("QueueName QueueOwnerAWSAccountId", "QueueUrl"),
        "ListDeadLetterSourceQueues": ("QueueUrl", "QueueUrls"),
        "ListQueues": ("QueueNamePrefix", "QueueUrls>queue_count#"),
        "PurgeQueue": ("QueueUrl", ""),
        "ReceiveMessage": ("AttributeNames MaxNumberOfMessages MessageAttributeNames QueueUrl VisibilityTimeout "
                           "WaitTimeSeconds", "Messages>message_count#"),
        "RemovePermission": ("QueueUrl", ""),
        "SendMessage": ("DelaySeconds QueueUrl MessageAttributes>message_attribute_names*", "MessageId"),
        "SendMessageBatch": ("QueueUrl Entries>message_count#", "Failed>failed_count# Successful>successful_count#"),
        "SetQueueAttributes": ("QueueUrl Attributes>attribute_names*", ""),
    },
    "sns": {"Publish": ("TopicArn", ""), "PublishBatch": ("TopicArn", "")},
    "lambda": {
        "Invoke": ("FunctionName InvocationType LogType Qualifier", "FunctionError StatusCode"),
        "InvokeAsync": ("FunctionName", "Status"),
    },
    "runtime.sagemaker": {"InvokeEndpoint": ("EndpointName", "")},
    "s3": {
        "CopyObject": ("CopySource Bucket Key", ""),
        **dict.fromkeys(
            ("GetObject", "GetObjectAcl", "GetObjectTagging", "PutObjectTagging", "SetObjectAcl", "DeleteVersion",
             "RestoreObject", "RestoreObjectV2", "DeleteObjectTagging", "GeneratePresignedUrl"), _KEY_VERSION_BUCKET),
        **dict.fromkeys(
            ("PutObject", "UploadPart", "DeleteObject", "ListParts", "CompleteMultipartUpload",
             "InitiateMultipartUpload", "AbortMultipartUpload"), _KEY_BUCKET),
        **dict.fromkeys(("ListObjectsV2", "ListObjects", "ListVersions", "ListMultipartUploads"), _PREFIX_BUCKET),
        **dict.fromkeys(
            ("CreateBucket", "GetBucketAcl", "PutBucketAcl", "HeadBucket", "DeleteBucket", "DeleteObjects",
             "GetBucketPolicy", "PutBucketPolicy", "PutBucketNotificationConfiguration",
             "DeleteBucketLifecycleConfiguration", "GetBucketNotificationConfiguration", "DeleteBucketCors",
             "PutBucketCors", "GetBucketCors", "ListBucketInventoryConfigurations",
             "GetBucketReplicationConfiguration", "PutBucketReplicationConfiguration",
             "DeleteBucketReplicationConfiguration", "DeleteBucketAnalyticsConfiguration",
             "DeleteBucketInventoryConfiguration", "ListBucketAnalyticsConfigurations", "PutBucketVersioning",
             "GetBucketVersioning", "GetBucketWebsite", "GetBucketLifecycleConfiguration",
             "SetBucketLifecycleConfiguration", "GetBucketTagging", "PutBucketTagging", "GetBucketLocation",
             "GetBucketLogging", "DeleteBucketPolicy", "DeleteBucketEncryption", "PutBucketAccelerateConfiguration",
             "PutBucketWebsite", "PutBucketEncryption", "SetBucketLogging", "DeleteBucketWebsite",
             "GetBucketEncryption", "DeleteBucketTagging", "GetBucketAccelerateConfiguration",
             "GetBucketMetricsConfiguration", "ListBucketMetricsConfigurations", "PutBucketInventoryConfiguration",
             "PutBucketMetricsConfiguration", "PutBucketAnalyticsConfiguration", "DeleteBucketMetricsConfiguration",
             "GetBucketAnalyticsConfiguration", "GetBucketInventoryConfiguration"), _BUCKET),
    },
}
# The X-Ray SDK's own polling of the X-Ray API, never traced
_UNTRACED = {"xray": frozenset({"GetSamplingRules", "GetSamplingTargets", "PutTraceSegments"})}

Field = tuple[str, str, str]  # parameter, recorded name, how ("", "#": its length, "*": its keys)


def _snake_case(name: str) -> str:
    import re

    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _fields(spec: str) -> tuple[Field, ...]:
    fields = []
    for item in spec.split():
        parameter, _, alias = item.partition(">")
        how = alias[-1:] if alias[-1:] in ("#", "*") else ""
        fields.append((parameter, alias.rstrip("#*") or _snake_case(parameter), how))
    return tuple(fields)


@functools.cache
def _recorded(service: str, operation: str) -> tuple[tuple[Field, ...], tuple[Field, ...]] | None:
    spec = _RECORDED.get(service, {}).get(operation)
    return None if spec is None else (_fields(spec[0]), _fields(spec[1]))


def _record_parameters(fields: tuple[Field, ...], values: Any, aws: dict[str, Any]) -> None:
    for parameter, name, how in fields:
        if parameter in values:
            value = values[parameter]
            aws[name] = len(value) if how == "#" else list(value) if how == "*" else value


_error_types_of: dict[str, dict[str, str]] = {}


def _error_type(service_model: Any, code: Any) -> str:
    """The name of the exception class botocore raises for an error code (``client.exceptions.from_code``)."""
    types = _error_types_of.get(service_model.service_name)
    if types is None:
        types = {str(shape.error_code): str(shape.name) for shape in service_model.error_shapes}
        _error_types_of[service_model.service_name] = types
    return types.get(code, "ClientError")


class _Call:
    __slots__ = ("operation", "params", "service", "subsegment")

    def __init__(self, subsegment: Subsegment, service: str, operation: str, params: Any) -> None:
        self.subsegment, self.service, self.operation, self.params = subsegment, service, operation, params

    def finish(self, parsed: dict[str, Any] | None, aws: dict[str, Any]) -> None:
        recorded = _recorded(self.service, self.operation)
        if recorded is not None:
            _record_parameters(recorded[0], self.params, aws)
            if parsed:
                _record_parameters(recorded[1], parsed, aws)
        self.subsegment.aws = aws
        self.subsegment.end()


def _call_started(params: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
    """provide-client-params: the call's subsegment starts, kept in the call's own request context (so a call
    that never gets as far as an answer, a presigned URL say, leaves nothing behind)."""
    if _CONTEXT_KEY in context:  # instrument() on a session made after instrument_new_sessions(): both ran
        return
    try:
        service = model.service_model.metadata["endpointPrefix"]
        if model.name in _UNTRACED.get(service, ()):
            return
        subsegment = begin(service, "aws")
        if subsegment is not None:
            context[_CONTEXT_KEY] = _Call(subsegment, service, model.name, params)
    except Exception:
        log.debug("X-Ray: AWS call not traced", exc_info=True)


def _inject_trace_header(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """before-call: the request carries the trace header naming the call's subsegment as its parent (the
    header botocore copies from Lambda's names Lambda's segment instead)."""
    call = context.get(_CONTEXT_KEY)
    if call is not None:
        with contextlib.suppress(Exception):
            params["headers"][TRACE_HEADER] = call.subsegment.trace_header()


def _call_answered(http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
                   **_: Any) -> None:
    """after-call: the call got an answer; botocore raises a status of 300 or more as a ClientError next."""
    call = context.pop(_CONTEXT_KEY, None)
    if call is None:
        return
    try:
        aws: dict[str, Any] = {"operation": call.operation, "region": context.get("client_region")}
        metadata = parsed.get("ResponseMetadata")
        if http_response.status_code < 300:
            if metadata:
                aws["request_id"] = metadata.get("RequestId")
                call.subsegment.status(metadata.get("HTTPStatusCode"))
                id_2 = metadata.get("HTTPHeaders", {}).get("x-amz-id-2")
                if id_2:
                    aws["id_2"] = id_2
            call.finish(parsed, aws)
            return
        if metadata:
            aws["request_id"] = metadata.get("RequestId")
            call.subsegment.status(metadata.get("HTTPStatusCode"))
            _record_client_error(call, parsed, model, context)
        call.finish(None, aws)
    except Exception:
        log.debug("X-Ray: AWS call not recorded", exc_info=True)


def _record_client_error(call: _Call, parsed: dict[str, Any], model: Any, context: dict[str, Any]) -> None:
    """The cause of a failed call: the ClientError botocore is about to raise, with the stack of the call."""
    from botocore.exceptions import ClientError

    code = context.get("error_code_override") or parsed.get("Error", {}).get("Code")
    type_name = _error_type(model.service_model, code)
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_name != "_make_api_call":
        frame = frame.f_back
    stack = _caller_stack(frame, AWS_STACK_FRAMES)
    cause_id = call.subsegment.record_cause(type_name, str(ClientError(parsed, call.operation)), stack, remote=True)
    parent = _current.get()
    if parent is not None:
        parent.failed_calls.append((parsed, cause_id))


def _call_failed(context: dict[str, Any], **_: Any) -> None:
    """after-call-error: no answer (a connection error, a timeout); recorded without a cause, as the SDK does."""
    call = context.pop(_CONTEXT_KEY, None)
    if call is None:
        return
    try:
        call.finish(None, {"operation": call.operation, "region": context.get("client_region")})
    except Exception:
        log.debug("X-Ray: AWS call not recorded", exc_info=True)


_HANDLERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("provide-client-params", _call_started),
    ("before-call", _inject_trace_header),
    ("after-call", _call_answered),
    ("after-call-error", _call_failed),
)


def instrument(session: S) -> S:
    """Trace every AWS call of the clients ``session`` (a boto3 or botocore session) creates from now on;
    nothing when tracing is off. Returns the session."""
    if enabled():
        target: Any = session
        events = target.events if hasattr(target, "events") else target.get_component("event_emitter")
        for event, handler in _HANDLERS:
            events.register(event, handler, unique_id=f"{_CONTEXT_KEY}.{event}")
    return session


_new_sessions_lock = threading.Lock()
_new_sessions = False


def instrument_new_sessions() -> None:
    """Trace the AWS calls of every botocore session created from now on, such as the one PynamoDB creates
    for each thread; nothing when tracing is off."""
    global _new_sessions
    if not enabled():
        return
    from botocore import handlers

    with _new_sessions_lock:
        if not _new_sessions:
            handlers.BUILTIN_HANDLERS.extend(_HANDLERS)
            _new_sessions = True


# --- Sending ----------------------------------------------------------------------------------------------

_socket_lock = threading.Lock()
_socket: socket.socket | None = None
_address: tuple[str | None, tuple[str, int] | None] = (None, None)


def _daemon() -> tuple[str, int] | None:
    """The daemon's UDP address: ``host:port``, or ``tcp:host:port udp:host:port`` in either order."""
    global _address
    raw = os.environ.get(DAEMON_ADDRESS_VAR)
    seen, address = _address
    if raw == seen:
        return address
    address = DEFAULT_DAEMON
    if raw:
        try:
            forms = raw.split()
            if len(forms) == 1:
                host, port = forms[0].rsplit(":", 1)
            else:
                protocol = {form.split(":", 1)[0]: form.split(":", 1)[1] for form in forms}
                host, port = protocol["udp"].rsplit(":", 1)
            address = (host, int(port))
        except (ValueError, KeyError, IndexError):
            log.debug("X-Ray: unusable %s %r", DAEMON_ADDRESS_VAR, raw)
            address = None
    _address = (raw, address)
    return address


def _udp_socket() -> socket.socket:
    global _socket
    if _socket is None:
        import socket

        with _socket_lock:
            if _socket is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setblocking(False)
                _socket = sock
    return _socket


def datagram(doc: dict[str, Any]) -> bytes | None:
    """The daemon's message for one document: the protocol header, a newline and the JSON. A document too
    big for one datagram loses its metadata, then its stack traces; None if it is still too big."""
    for shrink in (None, _without_metadata, _without_stacks):
        if shrink is not None:
            shrink(doc)
        data = PROTOCOL_HEADER + json.dumps(doc, default=str, separators=(",", ":")).encode()
        if len(data) <= MAX_DATAGRAM:
            return data
    return None


def _without_metadata(doc: dict[str, Any]) -> None:
    doc.pop("metadata", None)


def _without_stacks(doc: dict[str, Any]) -> None:
    cause = doc.get("cause")
    if isinstance(cause, dict):
        for exception in cause.get("exceptions", []):
            exception.pop("stack", None)


def emit(subsegment: Subsegment) -> None:
    """Send a finished subsegment to the daemon. Never raises: what cannot be sent is logged and dropped."""
    try:
        address = _daemon()
        data = datagram(subsegment.document())
        if data is None:
            log.debug("X-Ray: subsegment %s too large to send", subsegment.name)
        elif address is not None:
            _udp_socket().sendto(data, address)
    except Exception:
        log.debug("X-Ray: subsegment %s not sent", subsegment.name, exc_info=True)
