"""rmapsim: a deterministic trace-driven simulator of Linux page reclaim and reverse mapping."""
from rmapsim._numba import configure as _configure_numba

_configure_numba()          # before any compiled function is declared

from rmapsim.sim.api import run  # noqa: E402,F401
from rmapsim.sim.result import Result  # noqa: E402,F401

__version__ = "0.1.0"
__all__ = ["run", "Result"]
