from __future__ import annotations

import pytest
from cfnlint.api import ManualArgs, lint_file

from stacks.cdn_logs import DELIVERY_REGION

from .synth import REGION, Synthesized

pytestmark = pytest.mark.slow
# CDK adds DependsOn entries that a GetAtt already implies; harmless, and not ours to remove.
IGNORED = ["W3005"]


@pytest.mark.parametrize("template", ["main", "edge"])
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_template_has_no_cfn_lint_errors(stage: str, template: str, request: pytest.FixtureRequest) -> None:
    """Also finds circular dependencies (E3004): the assets key names the distribution that reads its bucket."""
    synth: Synthesized = request.getfixturevalue(stage)
    path, region = (synth.template_path, REGION) if template == "main" else (synth.edge_template_path, DELIVERY_REGION)
    matches = lint_file(path, config=ManualArgs(regions=[region], ignore_checks=IGNORED))
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    warnings = [str(m) for m in matches if not m.rule.id.startswith("E")]
    assert errors == []
    assert warnings == []
