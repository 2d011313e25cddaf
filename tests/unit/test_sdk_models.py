"""The SDK models the layer ships without documentation (stacks/sdk_models.py): current, complete, and used."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import boto3
import botocore

from stacks import sdk_models

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "out of date: run `.venv/bin/python -m stacks.sdk_models` and commit the result"


def test_the_shipped_models_are_the_installed_sdks_without_documentation() -> None:
    expected = sdk_models.trimmed_models()
    shipped = {str(path.relative_to(sdk_models.MODELS)): path.read_bytes()
               for path in sdk_models.MODELS.rglob("*") if path.is_file()}
    assert sorted(shipped) == sorted(expected), REGENERATE
    for name, content in expected.items():
        assert shipped[name] == content, f"{name} is {REGENERATE}"


def test_only_documentation_is_removed() -> None:
    data = Path(botocore.__file__).parent / "data"
    for name, content in sdk_models.trimmed_models().items():
        original = json.loads(gzip.decompress((data / name).read_bytes()))
        trimmed = json.loads(gzip.decompress(content))
        assert trimmed == sdk_models.trim(original)
        assert trimmed.get("clientContextParams") == original.get("clientContextParams")
        assert set(trimmed["operations"]) == set(original["operations"])
        assert set(trimmed["shapes"]) == set(original["shapes"])
        assert "documentation" not in json.dumps(trimmed["operations"])
        assert len(content) < len((data / name).read_bytes()) / 2


def test_a_member_named_documentation_is_kept() -> None:
    shape = {"type": "structure", "documentation": "<p>text</p>",
             "members": {"documentation": {"shape": "String", "documentation": "about it"}}}
    assert sdk_models.without_documentation(shape) == {"type": "structure",
                                                        "members": {"documentation": {"shape": "String"}}}


def test_the_layer_pins_the_botocore_the_models_come_from() -> None:
    requirements = (ROOT / "layers/common/requirements.txt").read_text()
    assert f"botocore=={botocore.__version__}\n" in requirements


def test_every_service_the_functions_call_is_shipped() -> None:
    called = set()
    for path in (ROOT / "layers/common/marketplace").rglob("*.py"):
        if "local" in path.relative_to(ROOT / "layers/common/marketplace").parts[:1] or path.parts[-2] == "cli":
            continue
        called |= set(re.findall(r"""aws\.client\(["']([a-z0-9-]+)["']\)""", path.read_text()))
    called |= {"s3"}  # through constants: the packages bucket's clients
    assert called <= set(sdk_models.SERVICES), called - set(sdk_models.SERVICES)


def test_clients_read_the_shipped_models_pynamodbs_sessions_too() -> None:
    """In a fresh interpreter (the search path is read when a session is made): after the platform's AWS
    module is imported, every service's model comes from sdk_models, for boto3's sessions and botocore's."""
    probe = """
import json, sys
import botocore.session, boto3
from marketplace.platform import aws
found = {}
for service in sys.argv[1:]:
    loader = boto3.session.Session()._session.get_component("data_loader")
    version = loader.determine_latest_version(service, "service-2")
    found[service] = loader.load_data_with_path(f"{service}/{version}/service-2")[1]
    plain = botocore.session.get_session().get_component("data_loader")
    found[service + " (botocore)"] = plain.load_data_with_path(f"{service}/{version}/service-2")[1]
print(json.dumps(found))
"""
    out = subprocess.run([sys.executable, "-c", probe, *sdk_models.SERVICES], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    for service, path in json.loads(out.stdout).items():
        assert Path(path).is_relative_to(sdk_models.MODELS), (service, path)


def test_a_client_built_from_a_shipped_model_works() -> None:
    from marketplace.platform import aws

    assert aws.SDK_MODELS == sdk_models.MODELS
    client = boto3.session.Session(region_name="us-east-1", aws_access_key_id="test",
                                   aws_secret_access_key="test").client("dynamodb")
    operation = client.meta.service_model.operation_model("Query")
    assert "KeyConditionExpression" in operation.input_shape.members
    assert not operation.documentation
