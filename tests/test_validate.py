"""Validation gives every job the verdict `sequence.build(**variables)` gives it.

The job builder takes a shorter way than Pulser's `Sequence.build` (the
variable-free start is made once and copied; identical jobs share one build;
large sweeps are split between forked workers). Each case here is a small
sweep with mixed verdicts, checked against the plain loop of builds: the same
failing jobs, the same exceptions, the same built sequences.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulser import Pulse, Sequence
from pulser.devices import AnalogDevice
from pulser.register.special_layouts import TriangularLatticeLayout

import qpurun
from conftest import with_preamble
from qpurun.api import Experiment
from qpurun.bridge import validate as validation
from qpurun.bridge.lower import PULSER_REFUSALS
from qpurun.bridge.validate import JobBuilder, failing_jobs
from qpurun.language.errors import QxError, QxErrors

ANALOG = """
experiment "t"
device AnalogDevice
layout triangular(61, spacing = 5 um)
register {
  q0 = trap 0   q1 = trap 1
}
channel ryd = rydberg_global
"""

DIGITAL = """
experiment "t"
device DigitalAnalogDevice
layout traps { (-4, 0), (0, -7), (0, 7), (4, 0) } um
register {
  control = trap 0
  target  = trap 3
}
channel raman = raman_local target control
channel ryd   = rydberg_global
"""

CASES = {
    # Amplitudes above max_amp (4π rad/µs), detunings beyond max_abs_detuning (40π rad/µs).
    "amplitude_and_detuning": ANALOG
    + """
var omega: float
var delta: float
sequence {
  add pulse(amplitude = constant(200 ns, omega), detuning = delta, phase = 0) on ryd
  measure ground-rydberg
}
runs 10
sweep {
  omega = [1, 8, 12, 13, 20] rad/us
  delta = [-200, -100, 0, 100, 130] rad/us
}
""",
    # Below min_duration (16 ns), and past the device's max_sequence_duration (6 µs).
    "durations": ANALOG
    + """
var t: int
sequence {
  delay 100 ns on ryd
  add pulse(amplitude = constant(t, 2 rad/us), detuning = 0, phase = 0) on ryd
  measure ground-rydberg
}
runs 10
sweep {
  t = [4, 8, 12, 16, 20, 400, 5000, 6000, 8000] * 1 ns
}
""",
    # Target indices outside the register, with an amplitude limit after them.
    "target_index": DIGITAL
    + """
var i: int
var a: float
sequence {
  target index i on raman
  add pulse(amplitude = blackman(200 ns, area = a), detuning = 0, phase = 0) on raman
  measure digital
}
runs 10
sweep {
  i = [0, 1, 2, -1, 5]
  a = [1, 3.14, 100]
}
""",
    # An array variable, indexed in two statements; the second depends on the first's end time.
    "array_variable": ANALOG
    + """
var amps: float[2]
var t: int
sequence {
  add pulse(amplitude = constant(t, amps[0]), detuning = 0, phase = 0) on ryd
  add pulse(amplitude = ramp(t, amps[1], 0), detuning = 0, phase = 0) on ryd
  measure ground-rydberg
}
runs 10
sweep {
  amps = [[1, 2], [3, 20], [20, 1], [5, 5]] * 1 rad/us
  t = [8, 100, 3000] * 1 ns
}
""",
    # Repeated jobs (built once), 0.0 and -0.0 told apart, a DMM limit, a phase shift.
    "repeated_jobs_and_dmm": DIGITAL
    + """
var theta: float
var d: float
detuning_map shift on dmm_0 { control: 1.0, target: 0.5 }
sequence {
  add pulse(amplitude = blackman(200 ns, area = theta), detuning = 0, phase = 0) on raman
  phase_shift theta on control basis digital
  detune ramp(300 ns, 0, d) on dmm_0
  measure digital
}
runs 10
jobs {
  theta = 1, d = -5 rad/us
  theta = 300, d = -5 rad/us
  theta = 1, d = -5 rad/us, runs = 20
  theta = 1, d = 5 rad/us
  theta = 300, d = -5 rad/us
  theta = 0.0, d = -0.0 rad/us
  theta = 0.0, d = 0.0 rad/us
  theta = 1, d = -5000 rad/us
}
""",
    # An SLM mask configured before the first variable (so in the copied start), two channels.
    "slm_mask_and_two_channels": DIGITAL
    + """
slm_mask control
var omega: float
var t: int
var a: float
sequence {
  add pulse(amplitude = constant(t, omega), detuning = 0, phase = 0) on ryd
  delay t on raman
  add pulse(amplitude = blackman(200 ns, area = a), detuning = 0, phase = 0) on raman
  measure digital
}
runs 10
sweep {
  omega = [1, 10, 30] rad/us
  t = [8, 100, 1000] * 1 ns
  a = [1, 30]
}
""",
    # EOM mode: the free evolution's duration is the variable.
    "eom": ANALOG
    + """
var wait: int
var phase: float
sequence {
  eom ryd (amplitude = 1.25 MHz, detuning_on = -10 rad/us, optimal_detuning_off = -5 rad/us) {
    pulse 200 ns
    delay wait
    pulse 200 ns phase phase
  }
  measure ground-rydberg
}
runs 10
sweep {
  wait = [0, 4, 16, 100, 5000, 9000] * 1 ns
  phase = [0, 3.14]
}
""",
}


def plain_builds(experiment: Experiment) -> list[tuple[int, str]]:
    """What Pulser's own loop says: each failing job, with its exception."""
    failed = []
    for index, job in enumerate(experiment.jobs):
        try:
            experiment.sequence.build(**job.variables)
        except PULSER_REFUSALS as error:
            failed.append((index, f"{type(error).__name__}: {error}"))
    return failed


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Experiment:
    return qpurun.loads(CASES[request.param], filename=f"{request.param}.qx", validate=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_verdicts_equal_plain_builds(case: Experiment, workers: int) -> None:
    expected = [index for index, _ in plain_builds(case)]
    assert 0 < len(expected) < len(case.jobs), "each case mixes jobs that build and jobs that fail"
    assert failing_jobs(case, workers=workers) == expected


def test_the_shortcut_is_taken_and_builds_what_pulser_builds(case: Experiment) -> None:
    builder = JobBuilder(case.sequence)
    assert builder.shortcut
    refusals = dict(plain_builds(case))
    for index, job in enumerate(case.jobs):
        if index in refusals:
            error = builder.refusal(job.variables)
            assert error is not None
            assert f"{type(error).__name__}: {error}" == refusals[index]
        else:
            assert described(builder.build(job.variables)) == described(case.sequence.build(**job.variables))


def described(sequence: Sequence[Any]) -> tuple[str, Any]:
    """A built sequence as text (its schedule) and as abstract representation."""
    try:
        data = json.loads(sequence.to_abstract_repr())
    except TypeError as error:  # Pulser cannot serialize a built `target_index` of one index
        data = repr(error)
    return str(sequence), data


_JOB = st.tuples(
    st.floats(-5, 30, allow_nan=False).map(lambda x: round(x, 3)),  # amplitude, rad/µs; max 4π
    st.floats(-200, 200, allow_nan=False).map(lambda x: round(x, 2)),  # detuning, rad/µs; max 40π
    st.integers(-2, 1600).map(lambda k: 4 * k),  # duration, ns: min 16, sequence max 6 µs
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_JOB, min_size=1, max_size=8).flatmap(lambda jobs: st.permutations(jobs + jobs[:2])))
def test_random_jobs_get_the_verdicts_of_plain_builds(jobs: list[tuple[float, float, int]]) -> None:
    lines = "\n".join(f"  omega = {a!r} rad/us, delta = {d!r} rad/us, t = {t} ns" for a, d, t in jobs)
    text = (
        ANALOG
        + f"""
var omega: float
var delta: float
var t: int
sequence {{
  add pulse(amplitude = constant(t, omega), detuning = delta, phase = 0) on ryd
  add pulse(amplitude = ramp(1000 ns, omega, 0), detuning = ramp(1000 ns, 0, delta), phase = 0) on ryd
  measure ground-rydberg
}}
runs 10
jobs {{
{lines}
}}
"""
    )
    experiment = qpurun.loads(text, validate=False)
    assert failing_jobs(experiment, workers=1) == [index for index, _ in plain_builds(experiment)]


def test_forked_workers_are_available_here() -> None:
    # The workers=2 cases above only test the forked path where it runs.
    assert validation._can_fork()


def test_a_large_sweep_is_split_between_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = qpurun.loads(CASES["amplitude_and_detuning"], validate=False)
    expected = [index for index, _ in plain_builds(experiment)]
    forked: list[int] = []
    in_workers = validation._refused_in_workers

    def spy(builder: JobBuilder, variables: Any, workers: int) -> list[int]:
        forked.append(workers)
        return in_workers(builder, variables, workers)

    monkeypatch.setattr(validation, "_refused_in_workers", spy)
    monkeypatch.setattr(validation, "PARALLEL_MIN_JOBS", 4)
    assert failing_jobs(experiment) == expected
    assert forked and forked[0] >= 2


def test_every_example_spec_validates_as_before(spec_path: Path) -> None:
    text = spec_path.read_text(encoding="utf-8")
    try:
        experiment = qpurun.loads(text, filename=str(spec_path), validate=False)
    except QxError:
        pytest.skip("a template that needs values")
    expected = [index for index, _ in plain_builds(experiment)] if experiment.sequence.is_parametrized() else []
    assert failing_jobs(experiment) == expected


def test_a_mappable_register_builds_the_long_way() -> None:
    layout = TriangularLatticeLayout(61, 5)
    sequence = Sequence(layout.make_mappable_register(2), AnalogDevice)
    sequence.declare_channel("ryd", "rydberg_global")
    omega = sequence.declare_variable("omega")
    sequence.add(Pulse.ConstantDetuning(_constant(500, omega), 0, 0), "ryd")
    builder = JobBuilder(sequence)
    assert not builder.shortcut
    placed = {"q0": 0, "q1": 1}
    assert builder.refusal({"omega": 1.0, "qubits": placed}) is None
    assert isinstance(builder.refusal({"omega": 100.0, "qubits": placed}), ValueError)
    assert isinstance(builder.refusal({"omega": 1.0}), ValueError)  # 'qubits' must be specified


def test_qubits_for_a_register_that_is_not_mappable_are_refused_as_pulser_does() -> None:
    experiment = qpurun.loads(CASES["durations"], validate=False)
    variables = {"t": 100, "qubits": {"q0": 0}}
    with pytest.raises(ValueError, match="'qubits' must not be specified") as plain:
        experiment.sequence.build(**variables)
    error = JobBuilder(experiment.sequence).refusal(variables)
    assert type(error) is ValueError and str(error) == str(plain.value)


def _constant(duration: int, value: Any) -> Any:
    from pulser.waveforms import ConstantWaveform

    return ConstantWaveform(duration, value)


# ---- what the user reads -------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_jobs_are_reported_with_values_and_statement(workers: int) -> None:
    """One mistake, one message: the jobs refused for the same reason are counted in one report."""
    experiment = qpurun.loads(CASES["amplitude_and_detuning"], filename="limits.qx", validate=False)
    with pytest.raises(QxError) as caught:
        validation.validate(experiment, workers=workers)
    detuning, amplitude = caught.value.errors
    first = str(detuning)
    assert first.startswith("limits.qx:13:3: job error: 6 of 25 jobs do not build (job 0 (omega = 1, delta = -200), ")
    assert "The pulse's detuning values go out of the range allowed for the chosen channel." in first
    assert "add pulse(amplitude = constant(200 ns, omega), detuning = delta, phase = 0) on ryd" in first
    assert detuning.hint is not None and detuning.hint.endswith("their values come from line 17")
    assert "10 of 25 jobs do not build (job 15 (omega = 13, delta = -200)" in str(amplitude)
    assert "The pulse's amplitude goes over the maximum value allowed for the chosen channel." in str(amplitude)
    assert "not shown" not in str(caught.value)


def test_more_reasons_than_shown_are_counted() -> None:
    experiment = qpurun.loads(CASES["amplitude_and_detuning"], filename="limits.qx", validate=False)
    refusals = [(job, ValueError(f"reason {job.index}")) for job in experiment.jobs]
    failures = validation.grouped(experiment, refusals, len(refusals) + 5)
    assert len(failures) == validation.MAX_REPORTED_JOBS
    assert failures[-1].hint is not None
    assert failures[-1].hint.endswith(
        f"({len(refusals) + 5 - validation.MAX_REPORTED_JOBS} more failing jobs not shown)"
    )


def plain_report(experiment: Experiment) -> str:
    """The report of the validator before the job builder: a plain loop of builds."""
    refusals = []
    failed = 0
    for job in experiment.jobs:
        try:
            experiment.sequence.build(**job.variables)
        except PULSER_REFUSALS as error:
            failed += 1
            refusals.append((job, error))
    failures = validation.grouped(experiment, refusals, failed)
    return str(QxErrors(failures)) if len(failures) > 1 else str(failures[0])


@pytest.mark.parametrize("workers", [1, 2])
def test_reports_equal_the_plain_loops(case: Experiment, workers: int) -> None:
    expected = plain_report(case)
    fresh = qpurun.loads(case.source.text, filename=case.source.name, validate=False)
    with pytest.raises(QxError) as caught:
        validation.validate(fresh, workers=workers)
    assert str(caught.value) == expected


ROUNDED = (
    ANALOG
    + """
var t: int
sequence {
  add pulse(amplitude = constant(t, 2 rad/us), detuning = 0, phase = 0) on ryd
  measure ground-rydberg
}
runs 10
sweep {
  t = [100, 102, 104, 200, 8] * 1 ns
}
"""
)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_warning_while_building_surfaces_as_pulsers_own(workers: int) -> None:
    # Pulser warns that 102 ns is rounded up to the clock period. With warnings as
    # errors (as here), the plain loop stops at job 1; so must we, worker or not.
    experiment = qpurun.loads(ROUNDED, validate=False)
    with pytest.raises(UserWarning, match="A duration of 102 ns is not a multiple"):
        plain_builds(experiment)
    with pytest.raises(UserWarning, match="A duration of 102 ns is not a multiple"):
        failing_jobs(experiment, workers=workers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert failing_jobs(experiment, workers=workers) == [4]
    assert any("102 ns" in str(w.message) for w in caught)


# ---- the grammar's table cache (parser._lark), which every command's start-up reads ----


def test_the_grammar_cache_is_written_outside_the_package_and_parses_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs
    from lark import Lark

    from qpurun.language import parser

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *args, **kwargs: str(tmp_path / "cache"))
    built = parser._lark.__wrapped__()  # builds the tables and writes them
    written = list((tmp_path / "cache").iterdir())
    assert [p.suffix for p in written] == [".lark"]
    read = parser._lark.__wrapped__()  # reads them back
    assert list((tmp_path / "cache").iterdir()) == written
    plain = Lark.open(
        "grammar/qx.lark",
        rel_to=parser.__file__,
        parser="lalr",
        lexer="contextual",
        postlex=parser._Newlines(),
        propagate_positions=True,
        maybe_placeholders=True,
    )
    specs = sorted((Path(__file__).parent.parent / "specs").glob("*.qx"))
    for path in specs:
        text = path.read_text(encoding="utf-8")
        try:
            expected = plain.parse(text)
        except Exception:
            continue  # a template; parsed after rendering
        for cached in (built, read):
            tree = cached.parse(text)
            assert tree == expected
            assert [n.meta.line for n in tree.iter_subtrees()] == [n.meta.line for n in expected.iter_subtrees()]


def test_an_unwritable_cache_directory_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    from qpurun.language import parser

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *args, **kwargs: str(blocker / "cache"))
    assert parser._lark.__wrapped__().parse('experiment "x"\n')


def test_warnings_from_building_jobs_are_located_not_leaked() -> None:
    # pytest runs with filterwarnings=error: a warning escaping validation would fail this test.
    spec = with_preamble("""\
var t: int
sequence {
  add pulse(amplitude = constant(t, 1 rad/us)) on ryd
  measure ground-rydberg
}
runs 10
sweep { t = 100 ns .. 105 ns step 1 ns }
""")
    experiment = qpurun.loads(spec, filename="w.qx")
    rounded = [w for w in experiment.warnings if "rounded up" in w.message]
    assert [w.message.split(":")[0] for w in rounded] == [
        "job 1 (t = 101)",
        "job 2 (t = 102)",
        "job 3 (t = 103)",
        "job 5 (t = 105)",
    ]
    assert all(w.span is not None and w.span.line == 7 for w in rounded)
