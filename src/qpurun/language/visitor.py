"""Walking the syntax tree: `visit_<NodeName>` dispatch and the generic walk over dataclass fields.

jinja's `visitor.py` and openqasm3's `QASMVisitor` are the models. A visitor
handles the node kinds it cares about and lets `generic_visit` walk the rest,
so the include resolver, the language server's name index and the tests do
not each hand-write the tree walk. Passes that must handle every kind (the
printer, the checker, the lowering) dispatch with `match` ending in
`assert_never` instead, so that mypy fails when a kind is left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from qpurun.language import ast

T = TypeVar("T")


def _child_values(value: Any) -> Iterator[ast.Node]:
    if isinstance(value, ast.Node):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _child_values(item)


def children(node: ast.Node) -> Iterator[ast.Node]:
    """The nodes directly under `node`, in field order (names, expressions, statements)."""
    for field in dataclasses.fields(node):
        if field.name != "span":
            yield from _child_values(getattr(node, field.name))


def walk(node: ast.Node) -> Iterator[ast.Node]:
    """`node` and every node under it, parents before children, in the order written."""
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(reversed(list(children(current))))


class NodeVisitor(Generic[T]):
    """Calls `visit_<NodeName>(node)` when defined, else `generic_visit(node)`."""

    def visit(self, node: ast.Node) -> T | None:
        method: Callable[[Any], T | None] | None = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            return self.generic_visit(node)
        return method(node)

    def generic_visit(self, node: ast.Node) -> T | None:
        """Visit every child; what they return is dropped."""
        for child in children(node):
            self.visit(child)
        return None


class NodeTransformer:
    """Rebuilds the tree: `visit_<NodeName>` returns the node to put in its place.

    `generic_visit` rebuilds a node from its transformed children (nodes are
    frozen), keeping the node itself when nothing under it changed.
    """

    def visit(self, node: ast.Node) -> ast.Node:
        method: Callable[[Any], ast.Node] | None = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            return self.generic_visit(node)
        return method(node)

    def generic_visit(self, node: ast.Node) -> ast.Node:
        changes: dict[str, Any] = {}
        for field in dataclasses.fields(node):
            if field.name == "span":
                continue
            value = getattr(node, field.name)
            new = self._transform(value)
            if new is not value:
                changes[field.name] = new
        return dataclasses.replace(node, **changes) if changes else node

    def _transform(self, value: Any) -> Any:
        if isinstance(value, ast.Node):
            return self.visit(value)
        if isinstance(value, tuple):
            items = tuple(self._transform(item) for item in value)
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        return value
