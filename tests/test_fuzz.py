"""Fuzzing in `make test` (marker `fuzz`, about a minute): a few hundred generated
hostile inputs per stage (tests/fuzzing.py) — source bytes to the chunker, notebooks,
packaging files to the scanner, small repositories to the resolver, PDFs and text
papers to the paper reader. A crash fails the test with hypothesis's smallest
example. benchmarks/fuzz.py runs the same targets on 10^5 inputs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzzing import TARGETS, Refused, time_limit

pytestmark = pytest.mark.fuzz

# Inputs per run of this file, shared between the targets as in the benchmark.
BUDGET = 2500


@pytest.mark.parametrize("name", list(TARGETS))
def test_no_stage_crashes_on_generated_input(name: str) -> None:
    strategy, runner, share = TARGETS[name]

    @settings(
        max_examples=max(20, int(BUDGET * share)),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def check(value: object) -> None:
        try:
            with time_limit(60):  # a hang fails the test, it does not stall the suite
                runner(value)
        except Refused:
            pass

    check()
