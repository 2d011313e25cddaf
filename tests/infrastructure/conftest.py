"""Each stage is synthesized once per session (a synth costs seconds) and shared by every test; ``prod`` with
the operator settings of ``synth.PROD_CONTEXT``."""

from __future__ import annotations

import pytest

from .synth import PROD_CONTEXT, Synthesized, synthesize


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("dev", tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("prod", tmp_path_factory.mktemp("cdk-prod"), context=PROD_CONTEXT)
