"""The language: `.qx` text to a checked syntax tree and back, with no Pulser imported.

grammar/qx.lark  the grammar (lark, LALR)
parser.py        text to lark tree, with located syntax errors
transformer.py   lark tree to the syntax tree of `ast.py`
ast.py           the syntax tree: one frozen dataclass per construct
visitor.py       `visit_<Node>` dispatch and the generic walk
catalog.py       every Pulser construct a spec can name: waveforms, shapes, devices, units
types.py         expression typing and argument binding
evaluate.py      expressions to numbers, arrays or symbolic variable expressions
checker.py       names, units, kinds and structure, every problem at once
printer.py       the syntax tree as canonical text (`qpurun fmt`)
includes.py      `include` resolved into one tree
templates.py     Jinja templates rendered in the sandbox
errors.py        the error family: located, with the hint apart
"""
