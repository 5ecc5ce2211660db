"""`python -m qpurun ...` is the `qpurun` command."""

import sys

from qpurun.cli import main

sys.exit(main())
