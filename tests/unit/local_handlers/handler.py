"""Function bodies for the execution-environment tests: each shows one way an invocation can end."""

from __future__ import annotations

import os
import time
from typing import Any

CALLS = 0  # module state: one count per environment, as a Lambda function's globals are


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    global CALLS
    CALLS += 1
    action = event.get("action")
    if action == "sleep":
        time.sleep(float(event["seconds"]))
    elif action == "crash":
        os._exit(3)
    elif action == "raise":
        raise ValueError("the handler refused")
    elif action == "unserializable":
        return {"value": object()}
    return {"pid": os.getpid(), "calls": CALLS, "echo": event.get("echo"), "function": context.function_name,
            "seen": {name: os.environ.get(name) for name in event.get("variables", [])},
            "remaining_ms": context.get_remaining_time_in_millis()}
