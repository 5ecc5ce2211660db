"""`include "lib/pulses.qx"`: declarations shared between specs.

An included file holds declarations only (`var`, `let`, `waveform`, `pulse`,
and further `include`s); they take the place of the `include` line. Paths are
relative to the including file and must stay inside the top spec's directory
tree (or a directory allowed with `--allow-path`), so that a spec cannot read
arbitrary files of whoever runs it. Cycles and names declared twice are
reported at the `include` line. Spans of included statements carry their own
file, so errors inside a library point into the library.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from qpurun.language import ast
from qpurun.language.errors import QxError, QxNameError, QxSyntaxError, Source, Span, raise_all
from qpurun.language.parser import parse
from qpurun.language.visitor import NodeTransformer

_DECLARATIONS = (ast.VarDecl, ast.Let, ast.WaveformDecl, ast.PulseDecl, ast.Include)


class _WithSource(NodeTransformer):
    """A copy of a syntax tree whose spans all name `source` as their file."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def generic_visit(self, node: ast.Node) -> ast.Node:
        node = super().generic_visit(node)
        span = node.span
        if span is None:
            return node
        return dataclasses.replace(node, span=Span(span.line, span.column, span.end_line, span.end_column, self.source))


def _declared_name(statement: ast.Statement) -> str | None:
    if isinstance(statement, ast.VarDecl | ast.Let | ast.WaveformDecl | ast.PulseDecl):
        return statement.name.name
    return None


MAX_FILE_BYTES = 10_000_000
"""A file a spec names (an include, a device, a layout) larger than this is refused unread."""
MAX_INCLUDED_FILES = 1_000
"""More libraries than any spec needs: a generated include tree this large is a mistake."""


def read_named_file(written: str, spec: Source, allowed: Sequence[str | Path], what: str, span: Span | None) -> str:
    """The text of a file a spec names, under the rule every such file follows (as `include` does).

    Relative to the spec, inside its directory unless `--allow-path` allows
    another, a regular file (not a FIFO or a device) of bounded size, read
    once, as UTF-8. Errors name the file, never echo what it holds.
    """
    directory = Path(spec.name).parent  # the spec's own name places it, even for text not read from disk
    roots = [directory.resolve(), *(Path(a).resolve() for a in allowed)]
    path = confined(written, directory, roots, f"{what} `{written}`", span)
    return _read_bounded(path, written, what, span)


def confined(written: str, base: Path, roots: Sequence[Path], label: str, span: Span | None) -> Path:
    """The one rule for every file a spec names: `written` relative to `base` (the naming file's
    directory), resolved (symlinks too) inside one of `roots` (the spec's directory first, then
    `--allow-path`); an absolute path only inside an allowed directory."""
    path = Path(written)
    if path.is_absolute() and not any(path.resolve().is_relative_to(root) for root in roots[1:]):
        raise QxNameError(
            f"{label} is an absolute path",
            span,
            hint="name files by a path relative to the spec, or allow a directory with --allow-path DIR",
        )
    resolved = (base / path).resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise QxNameError(
            f"{label} is outside the spec's directory ({roots[0]})",
            span,
            hint="keep it beside the spec, or allow its directory with --allow-path DIR",
        )
    return resolved


def _read_bounded(path: Path, written: str, what: str, span: Span | None) -> str:
    """A regular file (not a FIFO or a device) of at most MAX_FILE_BYTES, as UTF-8."""
    label = f"{what} `{written}`" if what else f"`{written}`"
    try:
        if not path.is_file():
            raise QxNameError(
                f"{label} is not a regular file"
                if path.exists()
                else f"cannot read {label}: No such file or directory",
                span,
            )
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise QxNameError(f"{label} is {size:,} bytes; at most {MAX_FILE_BYTES:,} are read", span)
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise QxNameError(f"cannot read {label}: {error.strerror or error}", span) from None
    if len(data) > MAX_FILE_BYTES:
        raise QxNameError(f"{label} is larger than {MAX_FILE_BYTES:,} bytes", span)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise QxNameError(f"{label} is not UTF-8 text", span) from None


class _Resolver:
    def __init__(self, root: Path, allowed: Sequence[Path]) -> None:
        self.roots = [root.resolve(), *(Path(a).resolve() for a in allowed)]
        self.errors: list[QxError] = []
        self.included: set[Path] = set()
        """Each file is included once: two libraries sharing a third (a diamond) bring it once."""

    def path_for(self, include: ast.Include, directory: Path) -> Path:
        return confined(include.path.name, directory, self.roots, f"`{include.path}`", include.span)

    def expand(
        self, statements: tuple[ast.Statement, ...], directory: Path, chain: tuple[Path, ...], seen: dict[str, str]
    ) -> list[ast.Statement]:
        result: list[ast.Statement] = []
        for statement in statements:
            if not isinstance(statement, ast.Include):
                name = _declared_name(statement)
                if name is not None:
                    seen.setdefault(name, _where(statement))
                result.append(statement)
                continue
            try:
                result.extend(self.include(statement, directory, chain, seen))
            except QxError as error:
                self.errors.append(error)
        return result

    def include(
        self, include: ast.Include, directory: Path, chain: tuple[Path, ...], seen: dict[str, str]
    ) -> list[ast.Statement]:
        path = self.path_for(include, directory)
        if path in chain:
            cycle = " -> ".join(p.name for p in (*chain[chain.index(path) :], path))
            raise QxNameError(f"include cycle: {cycle}", include.span, hint="a library cannot include itself")
        if path in self.included:
            return []
        if len(self.included) >= MAX_INCLUDED_FILES:
            raise QxNameError(
                f"more than {MAX_INCLUDED_FILES} files are included", include.span, hint="merge some libraries"
            )
        self.included.add(path)
        text = _read_bounded(path, include.path.name, "", include.span)
        source = Source(str(path), text)
        try:
            library = parse(text, filename=str(path))
        except QxError as error:
            raise error.located(source) from None
        located = _WithSource(source).visit(library)
        assert isinstance(located, ast.Spec)
        statements = located.statements
        kept: list[ast.Statement] = []
        for statement in statements:
            if not isinstance(statement, _DECLARATIONS):
                self.errors.append(
                    QxSyntaxError(
                        "an included file holds declarations only (var, let, waveform, pulse, include)",
                        statement.span,
                        hint=f"move this into the spec that includes `{include.path}`",
                    )
                )
                continue
            name = _declared_name(statement)
            if name is not None and name in seen:
                self.errors.append(
                    QxNameError(
                        f"`{include.path}` declares `{name}`, already declared at {seen[name]}",
                        include.span,
                        hint="rename one of them",
                    )
                )
                continue
            kept.append(statement)
        return self.expand(tuple(kept), path.parent, (*chain, path), seen)


def _where(statement: ast.Statement) -> str:
    span = statement.span
    if span is None:
        return "an earlier line"
    return f"{span.source.name}:{span.line}" if span.source is not None else f"line {span.line}"


def resolve(spec: ast.Spec, source: Source, *, allow_paths: Sequence[str | Path] = ()) -> ast.Spec:
    """The spec with every `include` replaced by the declarations it brings."""
    if not any(isinstance(s, ast.Include) for s in spec.statements):
        return spec
    real = Path(source.name)
    directory = real.parent  # the spec's name places it, even for text not read from disk
    resolver = _Resolver(directory, [Path(p) for p in allow_paths])
    top = (real.resolve(),) if real.exists() else ()
    # Names the spec itself declares, wherever: an included twin is reported at the include.
    declared = {n: _where(s) for s in spec.statements if (n := _declared_name(s)) is not None}
    statements = resolver.expand(spec.statements, directory, top, declared)
    for error in resolver.errors:
        error.located(source)
    raise_all(resolver.errors)
    return dataclasses.replace(spec, statements=tuple(statements))
