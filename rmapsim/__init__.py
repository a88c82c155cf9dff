"""rmapsim: a deterministic trace-driven simulator of Linux page reclaim and reverse mapping."""
from rmapsim.sim.api import run  # noqa: F401
from rmapsim.sim.result import Result  # noqa: F401

__version__ = "0.1.0"
__all__ = ["run", "Result"]
