"""Imported first in the worker forkserver: one BLAS/OpenMP thread per worker process.

N workers on N cores must not each start N BLAS threads; the variables only
take effect if set before numpy is imported, hence this module of its own.
"""

from __future__ import annotations

import os

from qpurun.run.executor import SINGLE_THREAD_ENV

os.environ.update(SINGLE_THREAD_ENV)
