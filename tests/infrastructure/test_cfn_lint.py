from __future__ import annotations

import pytest
from cfnlint.api import ManualArgs, lint_file

from .synth import REGION, Synthesized

pytestmark = pytest.mark.slow
# CDK adds DependsOn entries that a GetAtt already implies; harmless, and not ours to remove.
IGNORED = ["W3005"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_template_has_no_cfn_lint_errors(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(stage)
    matches = lint_file(synth.template_path, config=ManualArgs(regions=[REGION], ignore_checks=IGNORED))
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    warnings = [str(m) for m in matches if not m.rule.id.startswith("E")]
    assert errors == []
    assert warnings == []
