"""What the spec's device and its files hold: the errors only they can raise, located.

The checker knows everything a spec says; what a device offers (its
channels, its calibrated layouts, which limits it sets) and what a file
holds are known only once they are loaded. Those lookups are here, each
raising a located error in the spec's words, so that lowering only builds
Pulser objects and translates Pulser's own refusals.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qpurun.language import ast
from qpurun.language.catalog import devices, real_devices
from qpurun.language.errors import QxDeviceError, QxNameError, Source, Span
from qpurun.language.evaluate import MAX_TRAPS
from qpurun.language.includes import read_named_file

if TYPE_CHECKING:
    from pulser.register import RegisterLayout

    from qpurun.language.catalog import BaseDevice

RemoteDevices = Callable[[], Mapping[str, "BaseDevice"]]
"""Where `device remote "NAME"` looks: a connection's `fetch_available_devices`."""


def load_device(
    statement: ast.Device, source: Source, remote_devices: RemoteDevices | None, allowed: Sequence[str | Path] = ()
) -> BaseDevice:
    """The device a `device` statement names: Pulser's by name, a JSON file beside the spec, or the connection's."""
    name = statement.name.name
    if statement.remote:
        # The connection's own specs: what the QPU is calibrated to today.
        available = dict(remote_devices() if remote_devices else real_devices())
        if name not in available:
            raise QxNameError(
                f"the connection offers no device `{name}`",
                statement.span,
                source,
                hint="available: "
                + (", ".join(sorted(available)) or "none")
                + "; `qpurun backends --refresh` fetches the specs of a cloud's devices (e.g. a QPU's)",
            )
        return available[name]
    if statement.is_file:
        from pulser.json.abstract_repr.deserializer import deserialize_device

        text = read_named_file(name, source, allowed, "device file", statement.span)
        device: BaseDevice = _from_pulser_json(deserialize_device, text, f"device file `{name}`", statement.span)
        return device
    known = devices()
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=1)
        raise QxNameError(
            f"unknown device `{name}`",
            statement.span,
            source,
            hint=f"did you mean `{close[0]}`?" if close else "devices: " + ", ".join(sorted(known)),
        )
    return known[name]


def layout_file(layout: ast.FileLayout, source: Source, allowed: Sequence[str | Path] = ()) -> RegisterLayout:
    """`layout "FILE"`: a layout's abstract representation beside the spec."""
    from pulser.register import RegisterLayout

    text = read_named_file(layout.path, source, allowed, "layout file", layout.span)
    found: RegisterLayout = _from_pulser_json(
        RegisterLayout.from_abstract_repr, text, f"layout file `{layout.path}`", layout.span
    )
    return found


def _from_pulser_json(build: Callable[[str], Any], text: str, label: str, span: Span | None) -> Any:
    """Pulser's object from a file's abstract representation, or a located error naming the file
    and the entry at fault. Pulser validates against its JSON schema; the schema's messages quote
    the file, so they are rewritten to its path and rule, never its content."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise QxDeviceError(
            f"{label} is not JSON: {error.msg} (line {error.lineno}, column {error.colno})", span
        ) from None
    except RecursionError:
        raise QxDeviceError(f"{label} is nested too deeply to be Pulser's JSON", span) from None
    if not isinstance(document, dict):
        raise QxDeviceError(f"{label} holds a JSON {type(document).__name__}, not an object", span)
    sizes = [len(c) for c in _coordinate_lists(document)]
    if sizes and max(sizes) > MAX_TRAPS:
        raise QxDeviceError(f"{label} has a layout of {max(sizes):,} traps (at most {MAX_TRAPS:,})", span)
    try:
        return build(text)
    except Exception as error:
        raise QxDeviceError(
            f"{label} is not what Pulser expects: {_reason(error)}",
            span,
            hint="write it with Pulser's `to_abstract_repr()`",
        ) from None


def _coordinate_lists(document: Any) -> list[list[Any]]:
    """Every `coordinates` list of a layout document (a device's calibrated layouts included)."""
    found: list[list[Any]] = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("coordinates"), list):
                found.append(node["coordinates"])
            stack.extend(v for k, v in node.items() if k != "coordinates")
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _reason(error: BaseException) -> str:
    """Why Pulser refused a file, in words that name entries and rules but quote no value."""
    causes: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in causes:
        if hasattr(cause, "validator") and hasattr(cause, "json_path"):  # jsonschema's, through Pulser
            return _schema_reason(cause)
    deepest = causes[-1]
    if isinstance(deepest, ValueError | TypeError) and str(deepest):
        return str(deepest)  # Pulser's own check of a schema-valid field, e.g. "'max_atom_num' must be ..."
    return type(deepest).__name__


def _schema_reason(error: Any) -> str:
    """The schema rule one entry breaks: in an `anyOf` (a device or a virtual device), the branch
    that fails least is the one the file meant."""
    for _ in range(20):  # anyOf inside anyOf (a channel is one of several kinds): go down each
        branches: dict[Any, list[Any]] = {}
        for sub in error.context or ():
            branches.setdefault(sub.schema_path[0] if sub.schema_path else None, []).append(sub)
        if not branches:
            break
        fewest = min(branches.values(), key=lambda errors: len(errors))
        error = max(fewest, key=lambda sub: len(sub.absolute_path))  # the deepest
    where = error.json_path
    value = error.validator_value
    rules: dict[str, Callable[[], str]] = {
        "required": lambda: "is missing " + ", ".join(f"`{k}`" for k in value if k not in (error.instance or {})),
        "type": lambda: f"should be of type {value}",
        "enum": lambda: "should be one of " + ", ".join(map(str, value))[:200],
        "const": lambda: f"should be {value!r}",
        "minimum": lambda: f"should be at least {value}",
        "maximum": lambda: f"should be at most {value}",
        "minItems": lambda: f"should have at least {value} items",
        "maxItems": lambda: f"should have at most {value} items",
        "additionalProperties": lambda: "has an entry the schema does not know",
    }
    rule: Callable[[], str] | None = rules.get(error.validator)
    return f"`{where}` " + (rule() if rule is not None else f"breaks the schema's `{error.validator}` rule")


def calibrated_layout(device: BaseDevice, layout: ast.CalibratedLayout) -> RegisterLayout:
    """`layout calibrated "NAME"`: one of the device's pre-calibrated layouts, by name or slug."""
    known = {str(c): c for c in getattr(device, "pre_calibrated_layouts", ())}
    known |= {getattr(c, "slug", None) or str(c): c for c in known.values()}
    if layout.name not in known:
        raise QxNameError(
            f"the device has no calibrated layout `{layout.name}`",
            layout.span,
            hint="calibrated layouts: " + (", ".join(sorted(known)) or "none"),
        )
    result: RegisterLayout = known[layout.name]
    return result


def channel_id(device: BaseDevice, statement: ast.Channel) -> str:
    """The channel id a `channel` statement declares, if the device has it."""
    wanted = statement.channel_id.name
    if wanted not in device.channels:
        names = sorted(device.channels)
        close = difflib.get_close_matches(wanted, names, n=1)
        raise QxNameError(
            f"{device.name} has no channel `{wanted}`",
            statement.span,
            hint=f"did you mean `{close[0]}`?" if close else "its channels are " + ", ".join(names),
        )
    return wanted


def trap_of(written_traps: list[int] | None, number: int, span: Span | None, traps: int | None = None) -> int:
    """Pulser's id for trap `number` as the spec numbers it (in writing order for a `traps {}`
    layout), after checking that the layout of `traps` traps has it."""
    count = len(written_traps) if written_traps is not None else traps
    if count is not None and not 0 <= number < count:
        raise QxNameError(
            f"there is no trap {number}: the layout has {count} traps, numbered 0 to {count - 1}",
            span,
            hint="use a trap of the layout, or a larger layout",
        )
    return number if written_traps is None else written_traps[number]


def property_of(device: BaseDevice, channels: Mapping[str, ast.Channel], expr: ast.Attribute) -> Any:
    """`device.<name>` or `<channel>.<name>`: the value the device sets (the checker knows the name exists)."""
    owner = expr.value
    assert isinstance(owner, ast.Name)
    name = expr.name.name
    if owner.id == "device":
        found = getattr(device, name)
        if found is None:
            raise QxNameError(
                f"{device.name} sets no `{name}`", expr.span, hint="this limit is unbounded on this device"
            )
        return found
    wanted = channels[owner.id].channel_id.name
    if wanted not in device.channels:
        raise QxNameError(f"the device has no channel `{wanted}`", owner.span)
    value = getattr(device.channels[wanted], name)
    if value is None:
        raise QxNameError(
            f"channel `{owner.id}` sets no `{name}`", expr.span, hint="this limit is unbounded on this device"
        )
    return value
