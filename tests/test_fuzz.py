"""Grammar-aware fuzzing (issue 11): any spec ends in a compile or a QxError, in bounded time.

Unlike tests/test_properties.py (random characters and token soup, which
mostly stop at the parser), these inputs are specs the parser accepts: written
from the grammar by tests/fuzz/generate.py, or example specs after a
token-level edit (tests/fuzz/mutate.py), with edge-case numbers, units of the
catalog and deep nesting. So they reach the checker, the lowering, the job
expansion and Pulser, where the crash classes of issue 11 were.

CI runs derandomized and without an example database, so every run sees the
same examples, and without shrinking, which can spend minutes on one spec;
the failure shows the spec as generated and the traceback. Locally,
`QPURUN_FUZZ_EXAMPLES=2000` runs more examples, `QPURUN_FUZZ_SHRINK=1`
shrinks a failure to a short spec, and `bench/fuzz.py` runs for minutes and
writes minimal reproducers. A failure is a bug to fix in src/, never to mark
xfail here.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from conftest import with_preamble
from fuzz.generate import RandomChooser, generate
from fuzz.harness import attempt, must_end_well
from fuzz.mutate import seeds
from fuzz.strategies import expressions, mutated_specs, specs
from qpurun.language.errors import QxError
from qpurun.language.parser import parse_tree

EXAMPLES = int(os.environ.get("QPURUN_FUZZ_EXAMPLES", "0")) or None
"""Examples per test; unset, each test's own CI figure: the file takes 40 to 60 s on two busy cores."""

SHRINK = [Phase.shrink] if os.environ.get("QPURUN_FUZZ_SHRINK") else []

FUZZ = settings(
    phases=[Phase.explicit, Phase.generate, *SHRINK],
    deadline=5000,  # ms per input, both compiles: a crash class of its own is the input that takes longer
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def examples(ci: int) -> settings:
    return settings(FUZZ, max_examples=EXAMPLES or ci)


@pytest.fixture(scope="module", autouse=True)
def _pulser_imported() -> None:
    """Import Pulser before the first example, so that the deadline measures compiling, not importing."""
    attempt(with_preamble("sequence {\n  measure ground-rydberg\n}\nruns 1\n"), seconds=None)


@examples(200)
@given(specs())
def test_a_spec_from_the_grammar_compiles_or_fails_with_a_qx_error(text: str) -> None:
    must_end_well(text)


@examples(250)
@given(mutated_specs())
def test_an_edited_example_compiles_or_fails_with_a_qx_error(text: str) -> None:
    must_end_well(text)


_LET = "let x = {}\nsequence {{\n  delay 100 ns on ryd\n  measure ground-rydberg\n}}\nruns 10\n"


@examples(300)
@given(expressions())
def test_any_expression_in_a_let_compiles_or_fails_with_a_qx_error(expression: str) -> None:
    must_end_well(with_preamble(_LET.format(expression)))


def test_the_generator_writes_specs_the_parser_accepts() -> None:
    """The generator must keep up with the grammar: if most of its specs stop parsing, it tests only the parser."""
    parsed = 0
    for seed in range(40):
        try:
            parse_tree(generate(RandomChooser(random.Random(seed))))
            parsed += 1
        except QxError:
            pass
    assert parsed >= 30, f"only {parsed} of 40 generated specs parse: update tests/fuzz/generate.py"


def test_the_mutations_start_from_every_kind_of_example() -> None:
    names = set(seeds())
    assert {"specs/rabi", "specs/eom_ramsey"} <= names
    assert any(n.startswith("tests/errors/") for n in names)
    assert any(n.startswith("docs/language.md#") for n in names)
