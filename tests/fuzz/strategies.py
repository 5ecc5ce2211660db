"""Hypothesis strategies over the generators: the same specs as the long run, but shrinkable.

Each choice of the generator is one small hypothesis draw, so a failing spec
shrinks statement by statement and number by number toward a short reproducer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from hypothesis import strategies as st

from fuzz.generate import expression, generate
from fuzz.mutate import mutated

T = TypeVar("T")


class HypothesisChooser:
    """Choices drawn from hypothesis; each shrinks toward the first option, the low end, and False."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def chance(self, percent: int) -> bool:
        if percent <= 0:
            return False
        return self.draw(st.integers(0, 99)) >= 100 - percent


@st.composite
def specs(draw: st.DrawFn) -> str:
    """A spec generated from the grammar."""
    return generate(HypothesisChooser(draw))


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    """An example spec after a few token-level edits."""
    return mutated(HypothesisChooser(draw))


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """One expression of any dimension, for a `let`."""
    return expression(HypothesisChooser(draw))
