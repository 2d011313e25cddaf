"""The two ways to synthesize: ``python app.py`` and the pinned CDK CLI, both offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.layer import PROJECT_ROOT

pytestmark = pytest.mark.slow
CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
PINNED_CLI_VERSION = json.loads((PROJECT_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]


def _offline_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        HOME=str(home),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        CDK_DISABLE_CLI_TELEMETRY="true",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="not-a-real-secret",
        AWS_DEFAULT_REGION="eu-west-1",
        npm_config_update_notifier="false",
        npm_config_yes="false",
        **extra,
    )
    return env


def test_python_app_synthesizes_into_cdk_out(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "app.py")],
        cwd=tmp_path,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "Marketplace-dev.template.json").read_text())
    assert template["Resources"]


@pytest.mark.skipif(not CDK_CLI.exists(), reason="the CDK CLI is not installed: run `npm ci` (or ./dev setup)")
def test_pinned_cli_synthesizes_offline(tmp_path: Path) -> None:
    npx = shutil.which("npx")
    assert npx is not None
    version = subprocess.run([str(CDK_CLI), "--version"], capture_output=True, text=True, env=_offline_env(tmp_path))
    assert version.stdout.startswith(PINNED_CLI_VERSION), version.stdout
    out = tmp_path / "cdk.out"
    result = subprocess.run(
        [npx, "cdk", "synth", "--quiet", "--no-notices", "-c", "stage=prod", "--output", str(out)],
        cwd=PROJECT_ROOT,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    template = json.loads((out / "Marketplace-prod.template.json").read_text())
    assert template["Resources"]
    assert not (tmp_path / ".cdk" / "cache" / "notices.json").exists()
