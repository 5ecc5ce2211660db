"""The statements of a spec rebuilt from Pulser's JSON: register, channels, operations, EOM blocks, jobs.

See the package's docstring for what is written how, and what cannot be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qpurun.bridge.importer import DEFAULT_RUNS, QxImportError
from qpurun.bridge.importer.recognise import (
    calibrated_layout,
    known_devices,
    lattice_layout,
    register_shape,
    strip_versions,
)
from qpurun.bridge.importer.values import WRITTEN_UNIT, coordinate, has_variable, literal
from qpurun.bridge.importer.values import key as json_key
from qpurun.language import ast
from qpurun.language.catalog import (
    BUILTINS,
    MATH,
    OPERATORS,
    VALUE,
    Dimension,
    signatures,
    waveform_duration,
    waveform_for,
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")
_DEFAULT_PROTOCOL = {
    "pulse": "min-delay",
    "pulse_arbitrary_phase": "min-delay",
    "add_eom_pulse": "min-delay",
    "add_dmm_detuning": "no-delay",
}
_T, _F, _A = Dimension.TIME, Dimension.FREQUENCY, Dimension.ANGLE


@dataclass
class _Variable:
    name: str
    dtype: str
    size: int
    scalar: bool
    default: list[Any]
    dimensions: set[Dimension | None] = field(default_factory=set)


@dataclass
class _PulseForm:
    """A pulse op as the `pulse(...)` call that lowers to it: slot -> (JSON, dimension, is waveform)."""

    slots: list[tuple[str, Any, Dimension | None, bool]]


class _Importer:
    def __init__(
        self,
        data: dict[str, Any],
        *,
        jobs: list[dict[str, Any]] | None,
        name: str | None,
        runs: int | None,
        side_files: dict[str, str] | None,
    ) -> None:
        self.data = data
        self.jobs = jobs
        self.name = name
        self.runs = runs
        self.side_files = side_files
        self.qubits: list[str] = []
        self.layout_coordinates: list[list[float]] | None = None
        self.register_coordinates: dict[str, list[float]] = {}
        self.variables: dict[str, _Variable] = {}
        self.channels: dict[str, str] = dict(data.get("channels", {}))
        self.taken: set[str] = set(BUILTINS) | set(signatures())
        self.waveform_count: dict[str, int] = {}
        self.waveform_names: dict[str, str] = {}
        self.pulse_count: dict[str, int] = {}
        self.pulse_names: dict[str, str] = {}
        self.declarations: list[ast.Statement] = []
        self.device_json: dict[str, Any] | None = None
        self.default_traps: dict[str, int] = {}
        self.mappable = False
        self.dmm_configurations: dict[str, int] = {}
        self.detuning_maps: set[str] = set()
        self.slm_dmms: set[str] = set()
        self.fill_in: list[str] = []
        """What the spec leaves for the reader to write (`t = ...`), when the JSON holds no values."""

    # ---- whole file

    def spec(self) -> ast.Spec:
        data = self.data
        statements: list[ast.Statement] = []
        experiment = self.name or (data.get("name") if data.get("name") != "pulser-exported" else None)
        if experiment:
            statements.append(ast.Experiment(str(experiment)))
        statements.append(self.device(data["device"]))
        statements.extend(self.register(data["register"], data.get("layout")))
        self.declare_variables(data.get("variables", {}))
        for channel in self.channels:
            self.check_name(channel, "channel")
            self.taken.add(channel)
        setup, operations = self.split_setup(data["operations"])
        statements.extend(setup)
        if "magnetic_field" in data:
            field_ = ast.Point(tuple(coordinate(c) for c in data["magnetic_field"]))
            statements.append(ast.MagneticField(field_, ast.Unit.GAUSS))
        if "slm_mask_targets" in data:
            statements.append(ast.SlmMask(tuple(self.qubit_id(q) for q in data["slm_mask_targets"])))
        statements.extend(
            ast.VarDecl(ast.Identifier(v.name), ast.Identifier(v.dtype), None if v.scalar else v.size)
            for v in self.variables.values()
        )
        self.count_reuse(operations)
        sequence = self.sequence(operations)
        if data.get("measurement") is not None:
            sequence.append(ast.Measure(ast.Basis(data["measurement"])))
        statements.extend(self.declarations)
        statements.append(ast.SequenceBlock(tuple(sequence)))
        statements.extend(self.job_statements())
        return ast.Spec(tuple(statements))

    def check_name(self, name: str, what: str) -> None:
        if not _NAME.match(name):
            hint = 'give the register named qubits, e.g. Register.square(3, prefix="q")' if what == "qubit" else None
            raise QxImportError(
                f"{what} `{name}` is not a name `.qx` can write (a letter or `_`, then letters, digits, `_`)",
                hint=hint,
            )
        if what != "qubit" and (name in BUILTINS or name in signatures()):
            raise QxImportError(f"{what} `{name}` is a built-in name in `.qx`; rename it in Pulser first")
        if what == "variable" and name == "runs":
            raise QxImportError("a variable named `runs` cannot be given values in `.qx`: `runs` is the job's shots")

    def fresh(self, stem: str, *, plain: bool = False) -> str:
        """An unused name: `w1`, `w2`, ... (or `stem`, then `stem2`, ... when `plain`)."""
        index = 1
        name = stem if plain else f"{stem}1"
        while name in self.taken:
            index += 1
            name = f"{stem}{index}"
        self.taken.add(name)
        return name

    # ---- device, layout, register

    def device(self, device: Any) -> ast.Device:
        known = known_devices()
        if isinstance(device, str):
            if device not in known:
                raise QxImportError(
                    f"`{device}` is not a device of this Pulser version", hint="known: " + ", ".join(known)
                )
            self.device_json = json.loads(known[device])
            return ast.Device(ast.Identifier(device))
        self.device_json = device
        wanted = strip_versions(device)
        for candidate, text in known.items():
            if strip_versions(json.loads(text)) == wanted:
                return ast.Device(ast.Identifier(candidate))
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(device.get("name", "device"))) or "device"
        if device.get("is_virtual") and "dmm_objects" not in device:
            # Pulser leaves out an empty DMM list, and reads a virtual device without one as
            # having its default DMM: the file says "none" so that the device comes back equal.
            device = {**device, "dmm_objects": []}
        name = self.side_file(f"{stem}.json", json.dumps(device, indent=2), "device")
        return ast.Device(ast.Identifier(name), is_file=True)

    def side_file(self, name: str, text: str, what: str) -> str:
        if self.side_files is None:
            raise QxImportError(
                f"the {what} is not one `.qx` can name, so it is written to a file beside the spec",
                hint="give an output file (`qpurun import SEQ.json -o OUT.qx`)",
            )
        self.side_files[name] = text + "\n"
        return name

    def register(self, register: list[dict[str, Any]], layout: dict[str, Any] | None) -> list[ast.Statement]:
        if not register:
            raise QxImportError("the register is empty")
        statements: list[ast.Statement] = []
        if layout is not None:
            statements.append(self.layout(layout))
            self.layout_coordinates = layout["coordinates"]
        if "qid" in register[0]:
            ids = [str(q["qid"]) for q in register]
            expected = [f"q{i}" for i in range(len(ids))]
            if ids != expected:
                raise QxImportError(
                    "a mappable register's qubits are q0, q1, ... in `.qx`; this one has " + ", ".join(ids)
                )
            self.qubits = ids
            # Without a job list, the JSON's default traps place the qubits (those it places).
            self.default_traps = {
                q: int(entry["default_trap"]) for q, entry in zip(ids, register, strict=True) if "default_trap" in entry
            }
            self.mappable = True
            statements.append(ast.RegisterMappable(len(ids)))
            return statements
        axes = ("x", "y", "z") if "z" in register[0] else ("x", "y")
        for qubit in register:
            self.check_name(str(qubit["name"]), "qubit")
            self.qubits.append(str(qubit["name"]))
            self.register_coordinates[str(qubit["name"])] = [qubit[a] for a in axes]
        if layout is not None:
            from pulser.register import RegisterLayout

            traps = RegisterLayout(layout["coordinates"]).get_traps_from_coordinates(
                *(tuple(c) for c in self.register_coordinates.values())
            )
            statements.append(
                ast.RegisterEntries(
                    tuple(ast.TrapEntry(ast.Identifier(q), int(t)) for q, t in zip(self.qubits, traps, strict=True))
                )
            )
        else:
            statements.append(
                register_shape(register)
                or ast.RegisterEntries(
                    tuple(
                        ast.CoordinateEntry(
                            ast.Identifier(q), ast.Point(tuple(coordinate(c) for c in coords)), ast.Unit.UM
                        )
                        for q, coords in self.register_coordinates.items()
                    )
                )
            )
        return statements

    def layout(self, layout: dict[str, Any]) -> ast.Statement:
        from pulser.register import RegisterLayout

        known = lattice_layout(layout) or calibrated_layout(layout, self.device_object())
        if known is not None:
            return known
        coordinates = layout["coordinates"]
        slug = layout.get("slug")
        if slug is None:
            three_d = bool(coordinates) and len(coordinates[0]) == 3
            points = tuple(ast.Point(tuple(coordinate(c) for c in point)) for point in coordinates)
            return ast.TrapsLayout(points, ast.Unit.UM, three_d=three_d)
        text = RegisterLayout(coordinates, slug=slug).to_abstract_repr()
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", slug).strip("_") or "layout"
        return ast.FileLayout(self.side_file(f"{stem}.layout.json", text, f"layout `{slug}`"))

    def device_object(self) -> Any:
        if self.device_json is None:
            return None
        from pulser.json.abstract_repr.deserializer import deserialize_device

        try:
            return deserialize_device(json.dumps(self.device_json))
        except Exception:  # a device the installed Pulser cannot read: no calibrated layouts known
            return None

    def qubit_id(self, qubit: Any) -> ast.Identifier:
        name = str(qubit)
        if name not in self.qubits:
            raise QxImportError(f"qubit `{name}` is not in the register")
        return ast.Identifier(name)

    def qubit_at(self, index: Any) -> ast.Identifier:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.qubits):
            raise QxImportError(f"qubit index {index!r} is outside the register")
        return ast.Identifier(self.qubits[index])

    # ---- variables

    def declare_variables(self, variables: Mapping[str, Any]) -> None:
        bare = self.bare_uses(self.data["operations"])
        for name, description in variables.items():
            self.check_name(name, "variable")
            default = list(description.get("value", [0]))
            size = len(default)
            self.variables[name] = _Variable(name, description["type"], size, size == 1 and name not in bare, default)
            self.taken.add(name)

    def bare_uses(self, value: Any) -> set[str]:
        """Variables used whole somewhere, not as `x[i]`: those are arrays even with one entry."""
        found: set[str] = set()
        if isinstance(value, dict):
            if "variable" in value:
                found.add(value["variable"])
            elif value.get("expression") == "index" and isinstance(value.get("lhs"), dict):
                if "variable" not in value["lhs"]:
                    found |= self.bare_uses(value["lhs"])
                found |= self.bare_uses(value.get("rhs"))
            else:
                for item in value.values():
                    found |= self.bare_uses(item)
        elif isinstance(value, list):
            for item in value:
                found |= self.bare_uses(item)
        return found

    def note_dimension(self, value: Any, dimension: Dimension | None) -> None:
        """Record the slot a variable fills straight (`t`, `2 * t`, `-t`), for units in the jobs."""
        if not isinstance(value, dict):
            if isinstance(value, list):
                for item in value:
                    self.note_dimension(item, None)
            return
        if "variable" in value:
            if value["variable"] in self.variables:
                self.variables[value["variable"]].dimensions.add(dimension)
            return
        expression = value.get("expression")
        if expression == "index" and isinstance(value.get("lhs"), dict) and "variable" in value["lhs"]:
            self.note_dimension(value["lhs"], dimension)
            self.note_dimension(value.get("rhs"), None)
            return
        lhs, rhs = value.get("lhs"), value.get("rhs")
        number = (int, float)
        if expression == "neg" or (expression in ("mul", "div") and isinstance(rhs, number)):
            self.note_dimension(lhs, dimension)
        elif expression == "mul" and isinstance(lhs, number):
            self.note_dimension(rhs, dimension)
        else:
            self.note_dimension(lhs, None)
            self.note_dimension(rhs, None)

    # ---- values

    def value(self, value: Any, dimension: Dimension | None) -> ast.Expr:
        """A slot's value: a literal with its unit, or an expression of variables."""
        self.note_dimension(value, dimension)
        if isinstance(value, list):
            items = tuple(self.expression(v) for v in value)
            unit = WRITTEN_UNIT.get(dimension) if dimension is not None else None
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            # A unit only on a list of numbers: on one holding a variable it would scale a Python list.
            if unit is None or unit is ast.Unit.NS or not numbers or not any(v != 0 for v in value):
                return ast.ListExpr(items)
            return ast.Quantity(ast.ListExpr(items), unit)
        if isinstance(value, dict):
            return self.expression(value)
        return literal(value, dimension)

    def expression(self, value: Any) -> ast.Expr:
        if isinstance(value, bool):
            raise QxImportError(f"expected a number, found {value!r}")
        if isinstance(value, int | float):
            return literal(value, None)
        if isinstance(value, list):
            return ast.ListExpr(tuple(self.expression(v) for v in value))
        if not isinstance(value, dict):
            raise QxImportError(f"cannot read the value {value!r}")
        if "variable" in value:
            name = value["variable"]
            if name not in self.variables:
                raise QxImportError(f"variable `{name}` is used but not declared")
            return ast.Name(name)
        expression = value.get("expression")
        lhs = value.get("lhs")
        if expression == "index":
            if not isinstance(lhs, dict) or "variable" not in lhs:
                raise QxImportError("only a variable can be indexed")
            variable = self.variables.get(lhs["variable"])
            if variable is None:
                raise QxImportError(f"variable `{lhs['variable']}` is used but not declared")
            if variable.scalar and value.get("rhs") == 0:
                return ast.Name(variable.name)
            return ast.Index(ast.Name(variable.name), self.expression(value.get("rhs")))
        if expression in OPERATORS:
            operator = ast.BinaryOperator(OPERATORS[expression])
            return ast.BinaryOp(operator, self.expression(lhs), self.expression(value.get("rhs")))
        if expression == "neg":
            return ast.UnaryOp(ast.UnaryOperator.NEG, self.expression(lhs))
        if expression in MATH:
            return ast.Call(expression, (ast.Argument(None, self.expression(lhs)),))
        if expression == "round":
            raise QxImportError("`round` of a variable cannot be written in `.qx` (and Pulser cannot read it back)")
        raise QxImportError(f"unknown expression {value!r}")

    # ---- waveforms and pulses

    def waveform(self, waveform: dict[str, Any], dimension: Dimension | None) -> ast.Expr:
        """A waveform, by name when it is used more than once."""
        key = json_key([waveform, dimension.name if dimension else None])
        if self.waveform_count.get(key, 0) > 1:
            if key not in self.waveform_names:
                name = self.fresh("w")
                call = self.waveform_call(waveform, dimension)
                self.waveform_names[key] = name
                self.declarations.append(ast.WaveformDecl(ast.Identifier(name), call))
            return ast.Name(self.waveform_names[key])
        return self.waveform_call(waveform, dimension)

    def waveform_call(self, waveform: dict[str, Any], dimension: Dimension | None) -> ast.Call:
        """The catalog's call for the waveform's `kind`, its parameters in signature order."""
        found = waveform_for(str(waveform.get("kind")))
        if found is None:
            raise QxImportError(f"unknown waveform kind {waveform.get('kind')!r}")
        entry, representation = found
        arguments: list[ast.Argument] = []
        for param in entry.signature.params:
            field_name = representation.fields.get(param.name)
            if field_name is None or field_name not in waveform:
                continue
            given = waveform[field_name]
            omitted = representation.omitted.get(param.name)
            if omitted is not None and omitted(given, waveform):
                continue
            if param.variadic:
                arguments.extend(ast.Argument(None, self.waveform(w, dimension)) for w in given)
                continue
            slot = dimension if param.dimension == VALUE else param.dimension
            value = self.value(given, slot if isinstance(slot, Dimension) else None)
            arguments.append(ast.Argument(ast.Identifier(param.name) if param.by_name else None, value))
        return ast.Call(ast.Identifier(entry.signature.name), tuple(arguments))

    def pulse_form(self, op: dict[str, Any]) -> _PulseForm:
        """The `pulse(...)` arguments whose lowering (Pulse, ConstantDetuning, ...) gives `op` back."""
        shift = op.get("post_phase_shift", 0)
        tail: list[tuple[str, Any, Dimension | None, bool]] = [("phase", op.get("phase", 0), _A, False)]
        if op["op"] == "pulse_arbitrary_phase":
            slots: list[tuple[str, Any, Dimension | None, bool]] = [
                ("amplitude", op["amplitude"], _F, True),
                ("phase", op["phase"], _A, True),
            ]
            if shift != 0:
                slots.append(("post_phase_shift", shift, _A, False))
            return _PulseForm(slots)
        if shift != 0 or has_variable(shift):
            tail.append(("post_phase_shift", shift, _A, False))
        amplitude, detuning = op["amplitude"], op["detuning"]
        constant_amplitude = amplitude.get("kind") == "constant"
        constant_detuning = detuning.get("kind") == "constant"
        if constant_amplitude and constant_detuning and amplitude["duration"] == detuning["duration"] != 0:
            return _PulseForm(
                [
                    ("duration", amplitude["duration"], _T, False),
                    ("amplitude", amplitude["value"], _F, False),
                    ("detuning", detuning["value"], _F, False),
                    *tail,
                ]
            )
        static = not has_variable(op)
        if constant_detuning and (
            detuning["duration"] == 0 or (static and detuning["duration"] == waveform_duration(amplitude))
        ):
            return _PulseForm([("amplitude", amplitude, _F, True), ("detuning", detuning["value"], _F, False), *tail])
        if constant_amplitude and (
            amplitude["duration"] == 0 or (static and amplitude["duration"] == waveform_duration(detuning))
        ):
            return _PulseForm([("amplitude", amplitude["value"], _F, False), ("detuning", detuning, _F, True), *tail])
        return _PulseForm([("amplitude", amplitude, _F, True), ("detuning", detuning, _F, True), *tail])

    def count_reuse(self, operations: Iterable[dict[str, Any]]) -> None:
        """How often each pulse and waveform would be written, to name the repeated ones."""

        def count_waveform(waveform: Any, dimension: Dimension | None) -> None:
            key = json_key([waveform, dimension.name if dimension else None])
            self.waveform_count[key] = self.waveform_count.get(key, 0) + 1
            if self.waveform_count[key] == 1 and waveform.get("kind") == "composite":
                for member in waveform["waveforms"]:
                    count_waveform(member, dimension)

        for op in operations:
            if op["op"] in ("pulse", "pulse_arbitrary_phase"):
                form = self.pulse_form(op)
                key = json_key([op["op"], form.slots])
                self.pulse_count[key] = self.pulse_count.get(key, 0) + 1
                if self.pulse_count[key] == 1:
                    for _, value, dimension, is_waveform in form.slots:
                        if is_waveform:
                            count_waveform(value, dimension)
            elif op["op"] == "add_dmm_detuning":
                count_waveform(op["waveform"], _F)

    def pulse(self, op: dict[str, Any]) -> ast.Expr:
        form = self.pulse_form(op)
        key = json_key([op["op"], form.slots])
        if key in self.pulse_names:
            return ast.Name(self.pulse_names[key])
        arguments = tuple(
            ast.Argument(
                ast.Identifier(slot), self.waveform(value, dimension) if is_waveform else self.value(value, dimension)
            )
            for slot, value, dimension, is_waveform in form.slots
        )
        call = ast.Call(ast.Identifier("pulse"), arguments)
        if self.pulse_count.get(key, 0) > 1:
            name = self.fresh("p")
            self.pulse_names[key] = name
            self.declarations.append(ast.PulseDecl(ast.Identifier(name), call))
            return ast.Name(name)
        return call

    # ---- setup and operations

    def split_setup(self, operations: list[dict[str, Any]]) -> tuple[list[ast.Statement], list[dict[str, Any]]]:
        """Channel declarations (with initial targets), detuning maps and the SLM mask, in Pulser's order.

        Setup statements lower before any operation, in the order written: a
        leading `target` op on a channel not used yet is its initial target,
        and channels are declared in the order Pulser lists them.
        """
        setup: list[ast.Statement] = []
        pending = list(self.channels.items())
        declared: set[str] = set()
        rest: list[dict[str, Any]] = []
        leading = True
        for op in operations:
            kind = op["op"]
            if kind in ("config_detuning_map", "config_slm_mask"):
                setup.append(self.config(op))
                continue
            if leading and kind == "target" and op["channel"] not in declared:
                names = [n for n, _ in pending]
                target = op["target"]
                literal = isinstance(target, int) and not isinstance(target, bool)
                literal = literal or (
                    isinstance(target, list) and len(target) > 1 and all(type(t) is int for t in target)
                )
                indices = [target] if isinstance(target, int) else target if literal else []
                literal = literal and "index" not in (self.qubit_at(q).name for q in indices)
                if op["channel"] in names and literal:
                    position = names.index(op["channel"])
                    for channel, channel_id in pending[:position]:
                        setup.append(ast.Channel(ast.Identifier(channel), ast.Identifier(channel_id)))
                        declared.add(channel)
                    channel, channel_id = pending[position]
                    qubits = [target] if isinstance(target, int) else target
                    setup.append(
                        ast.Channel(
                            ast.Identifier(channel), ast.Identifier(channel_id), tuple(self.qubit_at(q) for q in qubits)
                        )
                    )
                    declared.add(channel)
                    pending = pending[position + 1 :]
                    continue
            leading = False
            rest.append(op)
        setup.extend(
            ast.Channel(ast.Identifier(channel), ast.Identifier(channel_id)) for channel, channel_id in pending
        )
        # A channel with no initial target makes no op: declare it with the other
        # channels, ahead of maps and masks, keeping the channels in Pulser's order.
        for index in range(1, len(setup)):
            while (
                index > 0
                and isinstance(setup[index], ast.Channel)
                and not setup[index].targets  # type: ignore[union-attr]
                and isinstance(setup[index - 1], ast.DetuningMap | ast.SlmMask)
            ):
                setup[index - 1], setup[index] = setup[index], setup[index - 1]
                index -= 1
        # Channel ids are names in `.qx`.
        for statement in setup:
            if isinstance(statement, ast.Channel) and not _NAME.match(statement.channel_id.name):
                raise QxImportError(f"channel id `{statement.channel_id}` is not a name `.qx` can write")
        return setup, rest

    def config(self, op: dict[str, Any]) -> ast.Statement:
        if op["op"] == "config_slm_mask":
            if op.get("dmm_id", "dmm_0") != "dmm_0":
                raise QxImportError(
                    f"an SLM mask on `{op['dmm_id']}` cannot be written in `.qx`: `slm_mask` uses dmm_0"
                )
            self.dmm_configurations["dmm_0"] = self.dmm_configurations.get("dmm_0", 0) + 1
            self.slm_dmms.add("dmm_0")
            return ast.SlmMask(tuple(self.qubit_id(q) for q in op["qubits"]))
        detuning_map = op["detuning_map"]
        dmm_id = str(op["dmm_id"])
        if detuning_map.get("slug") is not None:
            raise QxImportError(
                f"the detuning map on `{dmm_id}` is named `{detuning_map['slug']}` "
                f"(`define_detuning_map(..., slug={json.dumps(detuning_map['slug'])})`), which `.qx` cannot write: "
                "`detuning_map NAME` names the map in the spec, not Pulser's slug",
                hint="define the map without a slug in Pulser, or drop `slug` from the JSON",
            )
        if self.dmm_configurations.get(dmm_id, 0):
            # Pulser calls the second configuration of dmm_0 `dmm_0_1`; a spec names a map by its DMM.
            raise QxImportError(
                f"`{dmm_id}` is configured twice (an SLM mask and a detuning map, or two maps), "
                "which `.qx` cannot write: a detuning map is addressed by its DMM"
            )
        self.dmm_configurations[dmm_id] = 1
        self.detuning_maps.add(dmm_id)
        name = self.fresh("detuning", plain=True)
        weights = self.weights(detuning_map["traps"])
        return ast.DetuningMap(ast.Identifier(name), ast.Identifier(dmm_id), weights)

    def weights(self, traps: list[dict[str, Any]]) -> tuple[ast.Weight, ...]:
        """Weights on qubits when every trap holds one, else on layout traps."""

        def find(x: float, y: float, candidates: Iterable[tuple[str | int, list[float]]]) -> str | int | None:
            for target, coordinates in candidates:
                if len(coordinates) == 2 and abs(coordinates[0] - x) < 1e-6 and abs(coordinates[1] - y) < 1e-6:
                    return target
            return None

        on_qubits = [find(t["x"], t["y"], self.register_coordinates.items()) for t in traps]
        if all(q is not None for q in on_qubits):
            targets: list[str | int | None] = list(on_qubits)
        elif self.layout_coordinates is not None:
            targets = [find(t["x"], t["y"], enumerate(self.layout_coordinates)) for t in traps]
        else:
            targets = [None]
        if any(t is None for t in targets):
            raise QxImportError("a detuning map on points that are neither qubits nor layout traps cannot be written")
        return tuple(
            ast.Weight(ast.Identifier(target) if isinstance(target, str) else target, literal(trap["weight"], None))
            for target, trap in zip(targets, traps, strict=True)
            if target is not None
        )

    def sequence(self, operations: list[dict[str, Any]]) -> list[ast.Operation]:
        result: list[ast.Operation] = []
        index = 0
        while index < len(operations):
            op = operations[index]
            if op["op"] == "enable_eom_mode":
                block, index = self.eom(operations, index)
                result.append(block)
                continue
            result.append(self.operation(op))
            index += 1
        return result

    def protocol(self, op: dict[str, Any]) -> ast.Protocol | None:
        protocol = op.get("protocol", _DEFAULT_PROTOCOL[op["op"]])
        return None if protocol == _DEFAULT_PROTOCOL[op["op"]] else ast.Protocol(protocol)

    def operation(self, op: dict[str, Any]) -> ast.Operation:
        kind = op["op"]
        if kind in ("pulse", "pulse_arbitrary_phase"):
            return ast.Add(self.pulse(op), ast.Identifier(op["channel"]), self.protocol(op))
        if kind == "target":
            target = op["target"]
            # `target index ...` is the by-index form: a qubit called `index` is targeted by its number.
            if isinstance(target, int) and not isinstance(target, bool) and self.qubit_at(target).name != "index":
                return ast.Target((self.qubit_at(target),), ast.Identifier(op["channel"]))
            if (
                isinstance(target, list)
                and target
                and all(type(t) is int for t in target)
                and "index" not in (self.qubit_at(t).name for t in target)
            ):
                return ast.Target(tuple(self.qubit_at(t) for t in target), ast.Identifier(op["channel"]))
            return ast.TargetIndex(self.value(target, None), ast.Identifier(op["channel"]))
        if kind == "delay":
            return ast.Delay(self.value(op["time"], _T), ast.Identifier(op["channel"]), bool(op.get("at_rest", False)))
        if kind == "align":
            # Pulser omits `at_rest` when it is the default (True); False is `not_at_rest`.
            return ast.Align(
                tuple(ast.Identifier(c) for c in op["channels"]),
                at_rest=False if op.get("at_rest", True) is False else None,
            )
        if kind == "phase_shift":
            basis = None if op.get("basis", "digital") == "digital" else ast.Basis(op["basis"])
            phase = self.value(op["phi"], _A)
            # No targets is every qubit (Pulser >= 1.4, and its deserialiser): `.qx` writes them out.
            targets = op["targets"] or list(range(len(self.qubits)))
            if all(type(t) is int for t in targets) and "index" not in (self.qubit_at(t).name for t in targets):
                return ast.PhaseShift(phase, tuple(self.qubit_at(t) for t in targets), basis)
            return ast.PhaseShiftIndex(phase, tuple(self.value(t, None) for t in targets), basis)
        if kind == "add_dmm_detuning":
            dmm = str(op["dmm_name"])
            if dmm not in self.detuning_maps and dmm not in self.slm_dmms:
                raise QxImportError(f"`add_dmm_detuning` on `{dmm}`, a DMM with no detuning map, cannot be written")
            return ast.Detune(self.waveform(op["waveform"], _F), ast.Identifier(str(op["dmm_name"])), self.protocol(op))
        if kind == "truncate":
            return ast.Truncate(self.value(op["duration"], _T))
        if kind in ("add_eom_pulse", "modify_eom_setpoint", "disable_eom_mode"):
            raise QxImportError(f"`{kind}` on `{op['channel']}` outside of EOM mode")
        raise QxImportError(f"unknown operation {kind!r}")

    def eom_setpoint(self, op: dict[str, Any]) -> list[ast.Argument]:
        arguments = [
            ast.Argument(ast.Identifier("amplitude"), self.value(op["amp_on"], _F)),
            ast.Argument(ast.Identifier("detuning_on"), self.value(op["detuning_on"], _F)),
        ]
        off = op.get("optimal_detuning_off", 0)
        if off != 0:
            arguments.append(ast.Argument(ast.Identifier("optimal_detuning_off"), self.value(off, _F)))
        return arguments

    def eom(self, operations: list[dict[str, Any]], start: int) -> tuple[ast.Eom, int]:
        """`enable_eom_mode` .. `disable_eom_mode` on one channel: an `eom CH (...) { }` block."""
        enable = operations[start]
        channel = enable["channel"]
        drift = bool(enable.get("correct_phase_drift", False))
        arguments = self.eom_setpoint(enable)
        if drift:
            arguments.append(ast.Argument(ast.Identifier("correct_phase_drift"), ast.Number(1)))
        inner: list[ast.EomOperation] = []
        for index in range(start + 1, len(operations)):
            op = operations[index]
            kind = op["op"]
            if op.get("channel") != channel or kind not in (
                "add_eom_pulse",
                "delay",
                "modify_eom_setpoint",
                "disable_eom_mode",
            ):
                raise QxImportError(
                    f"`{kind}` while `{channel}` is in EOM mode cannot be written in `.qx`: "
                    "an `eom` block holds only that channel's EOM pulses, delays and setpoints"
                )
            if kind == "disable_eom_mode":
                if bool(op.get("correct_phase_drift", False)) != drift:
                    raise QxImportError(
                        f"EOM mode on `{channel}` enabled and disabled with different `correct_phase_drift` cannot be "
                        "written in `.qx`: `eom CH (..., correct_phase_drift = 1)` applies to both"
                    )
                return ast.Eom(ast.Identifier(channel), tuple(arguments), tuple(inner)), index + 1
            if kind == "add_eom_pulse":
                phase = op.get("phase", 0)
                shift = op.get("post_phase_shift", 0)
                inner.append(
                    ast.EomPulse(
                        self.value(op["duration"], _T),
                        None if phase == 0 else self.value(phase, _A),
                        None if shift == 0 else self.value(shift, _A),
                        bool(op.get("correct_phase_drift", False)),
                        self.protocol(op),
                    )
                )
            elif kind == "delay":
                inner.append(ast.EomDelay(self.value(op["time"], _T), at_rest=bool(op.get("at_rest", False))))
            else:
                setpoint = self.eom_setpoint(op)
                if op.get("correct_phase_drift", False):
                    setpoint.append(ast.Argument(ast.Identifier("correct_phase_drift"), ast.Number(1)))
                inner.append(ast.EomSetpoint(tuple(setpoint)))
        raise QxImportError(f"the sequence ends with `{channel}` still in EOM mode, which `.qx` cannot write")

    # ---- jobs

    def job_value(self, variable: _Variable, value: Any) -> ast.Expr:
        dimensions = variable.dimensions
        dimension = next(iter(dimensions)) if len(dimensions) == 1 else None
        if dimension not in (_T, _F):
            dimension = None
        if variable.scalar and isinstance(value, list):
            if len(value) != 1:
                raise QxImportError(f"variable `{variable.name}` takes one value, the job gives {len(value)}")
            value = value[0]
        if dimension is _T and not all(float(v).is_integer() for v in (value if isinstance(value, list) else [value])):
            dimension = None
        if isinstance(value, list):
            items = tuple(literal(v, None) for v in value)
            if dimension is None or not any(v != 0 for v in value):
                return ast.ListExpr(items)
            return ast.Quantity(ast.ListExpr(tuple(ast.Number(v) for v in value)), WRITTEN_UNIT[dimension])
        if dimension is _T and isinstance(value, float):
            value = int(value)
        return literal(value, dimension)

    def defaults_given(self) -> bool:
        """Whether the JSON's variable values were given to `to_abstract_repr`, not Pulser's stand-ins.

        Without defaults Pulser writes zeros (`[0]`, `[0.0, 0.0]`) only so that its
        reader knows the sizes; a job made of them is not one anybody asked for
        (a duration of 0 does not build). Given defaults come with the qubits'
        default traps, and are zeros only by chance: pass `--jobs` to keep them.
        """
        if self.default_traps:
            return True
        return any(any(value != 0 for value in v.default) for v in self.variables.values())

    def job_statements(self) -> list[ast.Statement]:
        jobs = self.jobs
        if not jobs:
            runs = self.runs if self.runs is not None else DEFAULT_RUNS
            statements: list[ast.Statement] = [ast.Runs(ast.Number(runs))]
            given = self.defaults_given()
            placed = bool(self.default_traps) or not self.mappable
            if given and placed:
                bindings: list[ast.Binding | ast.QubitsBinding] = [
                    ast.Binding(ast.Identifier(v.name), self.job_value(v, v.default[0] if v.scalar else v.default))
                    for v in self.variables.values()
                ]
                if self.default_traps:
                    placements = tuple(ast.Placement(ast.Identifier(q), t) for q, t in self.default_traps.items())
                    bindings.append(ast.QubitsBinding(placements))
                if bindings:
                    statements.append(ast.Jobs((ast.Job(tuple(bindings)),)))
                return statements
            # No values to write: a comment says what the jobs must give, and the checker's
            # "declared but no `sweep` or `jobs` gives it values" points at the variable.
            from qpurun.language.printer import expression

            for v in self.variables.values():
                value = self.job_value(v, v.default[0] if v.scalar else v.default) if given else None
                self.fill_in.append(
                    f"{v.name} = " + (expression(value) if value is not None else "..." if v.scalar else "[...]")
                )
            if self.mappable:
                self.fill_in.append("qubits = { " + ", ".join(f"{q}: ..." for q in self.qubits) + " }")
            return statements
        all_runs = [job.get("runs") for job in jobs]
        shared = all_runs[0] if len(set(map(str, all_runs))) == 1 and all_runs[0] is not None else None
        if shared is not None and len(jobs) == 1 and not jobs[0].get("variables"):
            return [ast.Runs(ast.Number(shared))]
        rows: list[ast.Job] = []
        for number, job in enumerate(jobs):
            values = dict(job.get("variables") or {})
            row: list[ast.Binding | ast.QubitsBinding] = []
            for name, value in values.items():
                if name == "qubits":
                    placements = tuple(ast.Placement(self.qubit_id(q), int(t)) for q, t in value.items())
                    row.append(ast.QubitsBinding(placements))
                    continue
                if name not in self.variables:
                    raise QxImportError(f"job {number} gives a value to `{name}`, which the sequence does not declare")
                row.append(ast.Binding(ast.Identifier(name), self.job_value(self.variables[name], value)))
            if shared is None and job.get("runs") is not None:
                row.append(ast.Binding(ast.Identifier("runs"), ast.Number(job["runs"])))
            if not row:
                row.append(ast.Binding(ast.Identifier("runs"), ast.Number(job.get("runs") or DEFAULT_RUNS)))
            rows.append(ast.Job(tuple(row)))
        head: list[ast.Statement] = [ast.Runs(ast.Number(shared))] if shared is not None else []
        return [*head, ast.Jobs(tuple(rows))]
