"""Workload scenarios: seeded, deterministic generators of native event traces.

Each scenario module defines ``NAME``, ``DESCRIPTION``, ``DEFAULTS`` (``machine``: the machine
preset it is meant for, ``mem``: a suggested RAM size) and ``generate(seed=1, scale=1.0)`` ->
an ``EVENT_DTYPE`` array. ``scale`` stretches the run (more steps, requests, compilations or a
bigger streamed file); the module docstring states the sizes and where they come from.

Public API::

    SCENARIOS: dict name -> module
    get_scenario(name) -> module (ConfigError for an unknown name)
    scenario_events(name, seed=1, scale=1.0) -> np.ndarray
    scenario_trace(name, seed=1, scale=1.0) -> Trace
"""
from __future__ import annotations

import math

from rmapsim.errors import ConfigError
from rmapsim.scenarios import build, prefork, stream, x11_486

SCENARIOS = {m.NAME: m for m in (x11_486, prefork, build, stream)}


def get_scenario(name: str):
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    return SCENARIOS[name]


def _check_args(seed, scale):
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"scenario seed must be a non-negative integer, not {seed!r}")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0 < scale <= 100):
        raise ConfigError(f"scenario scale must be a number in (0, 100], not {scale!r}")


def scenario_events(name: str, seed: int = 1, scale: float = 1.0):
    mod = get_scenario(name)
    _check_args(seed, scale)
    return mod.generate(seed=seed, scale=float(scale))


def scenario_trace(name: str, seed: int = 1, scale: float = 1.0):
    """The scenario as an in-memory ``Trace`` (its path reads ``scenario:NAME:seed:scale``)."""
    from rmapsim.trace import from_events
    t = from_events(scenario_events(name, seed, scale))
    t.path = f"scenario:{name}:seed={seed}:scale={scale:g}"
    return t


__all__ = ["SCENARIOS", "get_scenario", "scenario_events", "scenario_trace"]
