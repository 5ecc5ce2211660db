"""`python -m qpurun ...` is the `qpurun` command."""

from qpurun.cli import entry

entry()
