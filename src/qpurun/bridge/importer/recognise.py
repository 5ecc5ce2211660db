"""Devices, layouts and register shapes that Pulser names, recognised in its JSON.

A device equal to one of `pulser.devices` (up to the Pulser version that wrote
it) is written by name; a layout Pulser's lattice classes build, or one the
device calibrated, by its name; a register Pulser's generators make, as the
generator's call. Every table here is the catalog's.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from typing import Any

import numpy as np

from qpurun.language import ast
from qpurun.language.catalog import LATTICES, SHAPES, devices


def strip_versions(value: Any) -> Any:
    """A device or layout JSON without the Pulser version that wrote it."""
    if isinstance(value, dict):
        return {k: strip_versions(v) for k, v in value.items() if k != "pulser_version"}
    if isinstance(value, list):
        return [strip_versions(v) for v in value]
    return value


@functools.cache
def known_devices() -> dict[str, str]:
    """The `pulser.devices` devices by name, as abstract-representation JSON (made once: it is slow)."""
    return {name: str(device.to_abstract_repr()) for name, device in devices().items()}


def register_shape(register: list[dict[str, Any]]) -> ast.RegisterShape | None:
    """`register square(3, spacing = 5 um)` when Pulser's generator (with ids q0, q1, ...) gives exactly this."""
    count = len(register)
    if count < 2 or "z" in register[0] or [q["name"] for q in register] != [f"q{i}" for i in range(count)]:
        return None
    points = np.array([[q["x"], q["y"]] for q in register], dtype=float)
    gaps = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    spacing = round(float(gaps[~np.eye(count, dtype=bool)].min()), 9)
    if spacing <= 0:
        return None
    candidates: list[tuple[str, tuple[int, ...]]] = []
    side = math.isqrt(count)
    if side * side == count:
        candidates.append(("square", (side,)))
    pairs = [(rows, count // rows) for rows in range(1, count + 1) if count % rows == 0]
    candidates += [("rectangle", pair) for pair in pairs]
    candidates += [("triangular", pair) for pair in pairs]
    layers = next((n for n in range(1, 20) if 1 + 3 * n * (n + 1) == count), None)
    if layers is not None:
        candidates.append(("hexagon", (layers,)))
    written: int | float = int(spacing) if spacing.is_integer() else spacing
    for shape, sizes in candidates:
        if not SHAPES[shape].importable:
            continue
        made = SHAPES[shape].build(list(sizes), {"spacing": written}, None)
        coordinates = np.array([made.qubits[f"q{i}"].as_array() for i in range(count)], dtype=float)
        if coordinates.shape == points.shape and np.allclose(coordinates, points, rtol=0, atol=1e-9):
            arguments = tuple(ast.Argument(None, ast.Number(n)) for n in sizes)
            return ast.RegisterShape(
                ast.Identifier(shape),
                (*arguments, ast.Argument(ast.Identifier("spacing"), ast.Quantity(ast.Number(written), ast.Unit.UM))),
            )
    return None


def _distance(value: float) -> ast.Expr:
    return ast.Quantity(ast.Number(int(value) if value.is_integer() else value), ast.Unit.UM)


def same_layout(candidate: Any, layout: dict[str, Any]) -> bool:
    """Whether a Pulser layout is the one in the JSON, whichever Pulser version wrote it."""
    return bool(strip_versions(json.loads(candidate.to_abstract_repr())) == strip_versions(layout))


def lattice_layout(layout: dict[str, Any]) -> ast.LatticeLayout | None:
    """`layout triangular(61, spacing = 5 um)` when the layout is the one Pulser's lattice class names so."""
    slug = layout.get("slug")
    if not isinstance(slug, str):
        return None
    for shape, lattice in LATTICES.items():
        match = lattice.slug.match(slug)
        if match is None:
            continue
        params = lattice.signature.params
        counts = [p for p in params if p.dimension is None]
        distances = [p for p in params if p.dimension is not None]
        numbers = match.groups()
        sizes = [int(n) for n in numbers[: len(counts)]]
        spacings = [float(n) for n in numbers[len(counts) :]]
        # The name lists the spacings in its own order: try each assignment to the parameters.
        for order in itertools.permutations(spacings):
            values: dict[str, int | float] = {p.name: v for p, v in zip(counts, sizes, strict=True)}
            values |= {p.name: v for p, v in zip(distances, order, strict=True)}
            try:
                candidate = lattice.build(values)
            except ValueError:
                continue
            if same_layout(candidate, layout):
                arguments = [ast.Argument(None, ast.Number(n)) for n in sizes]
                arguments += [
                    ast.Argument(ast.Identifier(p.name), _distance(v)) for p, v in zip(distances, order, strict=True)
                ]
                return ast.LatticeLayout(ast.Identifier(shape), tuple(arguments))
    return None


def calibrated_layout(layout: dict[str, Any], device: Any) -> ast.CalibratedLayout | None:
    """`layout calibrated "NAME"` when the layout is one the device calibrated."""
    for calibrated in getattr(device, "pre_calibrated_layouts", ()) if device is not None else ():
        if same_layout(calibrated, layout):
            return ast.CalibratedLayout(getattr(calibrated, "slug", None) or str(calibrated))
    return None
