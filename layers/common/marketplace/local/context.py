"""A Lambda context object with the attributes Powertools and handlers read."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from marketplace.platform.functions import FunctionDef

ACCOUNT = "000000000000"
REGION = "us-east-1"


@dataclass
class LocalContext:
    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    @classmethod
    def for_function(cls, fn: FunctionDef) -> LocalContext:
        return cls(function_name=fn.name, memory_limit_in_mb=fn.memory_mb, timeout_seconds=fn.timeout_seconds)
