"""The runner's fixtures (a private store per test, the CLI in this process) for the cloud tests too."""

from run.conftest import home, qpurun  # noqa: F401
