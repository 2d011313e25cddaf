"""The AWS SDK's service models for the services the functions call, without their documentation.

botocore builds every client from its service's model (``botocore/data/<service>/<version>/service-2.json.gz``),
and four fifths of a model is documentation: the text of every operation, shape and member, which a client
never reads. Parsing it costs each client 10 to 15 ms of cold start (about 27 ms for the gallery's three
clients; ``./dev bench --only cold-start`` shows the ratio with them). The layer therefore ships, in
``marketplace/platform/sdk_models/``, the same models with every documentation string removed, and
``marketplace.platform.aws`` puts that folder first on botocore's model search path (``AWS_DATA_PATH``), so
every client reads them instead: on Lambda, in the local runtime and in the tests alike.

The folder is generated from the installed botocore (pinned in requirements.txt and pyproject.toml) and kept
in the repository; ``tests/unit/test_sdk_models.py`` fails when it no longer matches, naming this command:

    .venv/bin/python -m stacks.sdk_models
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import botocore

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS = PROJECT_ROOT / "layers" / "common" / "marketplace" / "platform" / "sdk_models"
# every service a function creates a client for (``aws.client(...)``), and nothing else
SERVICES = ("dynamodb", "kinesis", "kms", "s3", "secretsmanager", "sqs")
_DOCUMENTATION = frozenset({"documentation", "documentationUrl"})
_MODEL = "service-2.json.gz"


def without_documentation(value: Any) -> Any:
    """``value`` with every documentation string removed, at any depth. Only string values go: a structure
    member that happens to be named ``documentation`` is a dict, and stays."""
    if isinstance(value, dict):
        return {key: without_documentation(item) for key, item in value.items()
                if not (key in _DOCUMENTATION and isinstance(item, str))}
    if isinstance(value, list):
        return [without_documentation(item) for item in value]
    return value


# what botocore reads documentation from (``ServiceModel.client_context_parameters`` requires it): kept whole
_KEPT = ("clientContextParams",)


def trim(model: dict[str, Any]) -> dict[str, Any]:
    """A service model without documentation, except where botocore requires it."""
    trimmed: dict[str, Any] = without_documentation(model)
    trimmed.update({key: model[key] for key in _KEPT if key in model})
    return trimmed


def trimmed_models(data: Path = Path(botocore.__file__).parent / "data") -> dict[str, bytes]:
    """``{"<service>/<version>/service-2.json.gz": bytes}`` for the latest API version of each service, as
    written (compact JSON, gzip without a timestamp, so the bytes depend only on the model)."""
    files: dict[str, bytes] = {}
    for service in SERVICES:
        version = max(path.parent.name for path in (data / service).glob(f"*/{_MODEL}"))
        model = json.loads(gzip.decompress((data / service / version / _MODEL).read_bytes()))
        text = json.dumps(trim(model), separators=(",", ":"))
        files[f"{service}/{version}/{_MODEL}"] = gzip.compress(text.encode(), compresslevel=9, mtime=0)
    return files


def write(destination: Path = MODELS) -> None:
    shutil.rmtree(destination, ignore_errors=True)
    for name, content in trimmed_models().items():
        path = destination / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


if __name__ == "__main__":
    write()
    print(f"wrote {MODELS.relative_to(PROJECT_ROOT)} from botocore {botocore.__version__}")
