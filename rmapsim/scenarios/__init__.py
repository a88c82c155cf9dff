"""Workload scenarios: declarative scenario files (TOML, ``docs/scenario-format.md``) turned into
seeded, deterministic native event traces.

The built-in scenarios are files of that format shipped in ``rmapsim/scenarios/builtin/``; any
other file of the format can be given by its path wherever a scenario name is accepted.
``scale`` stretches the run (each file says what it scales: steps, requests, compilations, the
size of a streamed file); the comments at the top of each file state its sizes and sources.

Public API::

    SCENARIOS: dict name -> Scenario (the built-in ones)
    get_scenario(name_or_path) -> Scenario (ConfigError for an unknown name or a bad file)
    load_scenario(path) -> Scenario
    scenario_events(name_or_path, seed=1, scale=1.0) -> np.ndarray
    scenario_chunks(name_or_path, seed=1, scale=1.0) -> iterator of np.ndarray (bounded memory)
    scenario_trace(name_or_path, seed=1, scale=1.0) -> Trace
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from rmapsim.errors import ConfigError, did_you_mean
from rmapsim.scenarios import spec as _spec

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
BUILTIN_ORDER = ("x11-486", "prefork", "build", "stream", "kernel-build", "shm-database",
                 "objrmap-worst", "forking-server")


class Scenario:
    """A loaded scenario file. ``NAME``, ``DESCRIPTION``, ``DEFAULTS`` (``machine``, ``mem``)
    come from its ``[scenario]`` table, ``__doc__`` from the comments at its top."""

    def __init__(self, spec, path):
        self.spec = spec
        self.path = str(path)
        self.NAME = self.name = spec.name
        self.DESCRIPTION = self.description = spec.description
        self.DEFAULTS = {"machine": spec.machine, "mem": spec.mem}
        self.__doc__ = spec.comments

    def engine(self, seed=1, scale=1.0, **kw):
        from rmapsim.scenarios.engine import Engine
        _check_args(seed, scale)
        return Engine(self.spec, seed, float(scale), **kw)

    def chunks(self, seed: int = 1, scale: float = 1.0, **kw):
        """The events in arrays of a few million at most (generated as they are taken)."""
        return self.engine(seed, scale, **kw).chunks()

    def generate(self, seed: int = 1, scale: float = 1.0) -> np.ndarray:
        parts = [c for c in self.chunks(seed, scale) if len(c)]
        return np.concatenate(parts) if parts else np.zeros(0, _events_dtype())

    def file_ids(self, seed: int = 1, scale: float = 1.0) -> dict:
        """name -> file id of each program and file (the first id of a family)."""
        info = self.engine(seed, scale).file_info
        return {k: (v[0][0] if v else None) if isinstance(v, list) else v[0] for k, v in info.items()}

    def __repr__(self):
        return f"Scenario({self.name!r}, {self.path!r})"


def _events_dtype():
    from rmapsim.trace.events import EVENT_DTYPE
    return EVENT_DTYPE


def load_scenario(path) -> Scenario:
    return Scenario(_spec.load(path), path)


def _builtins():
    out = {}
    files = sorted(BUILTIN_DIR.glob("*.toml"),
                   key=lambda p: (BUILTIN_ORDER.index(p.stem) if p.stem in BUILTIN_ORDER
                                  else len(BUILTIN_ORDER), p.stem))
    for f in files:
        s = load_scenario(f)
        if s.name != f.stem:
            raise ConfigError(f"{f}: scenario.name {s.name!r} differs from the file name")
        out[s.name] = s
    return out


SCENARIOS = _builtins()


def is_scenario_file(name: str) -> bool:
    return str(name).lower().endswith(".toml")


def get_scenario(name) -> Scenario:
    """A built-in scenario by name, or a scenario file by its path (ending ``.toml``)."""
    if isinstance(name, Scenario):
        return name
    name = os.fspath(name)
    if name in SCENARIOS:
        return SCENARIOS[name]
    if is_scenario_file(name) or os.path.isfile(name):
        return load_scenario(name)
    raise ConfigError(f"unknown scenario {name!r}{did_you_mean(name, SCENARIOS)} (known: "
                      f"{', '.join(SCENARIOS)}; or give the "
                      f"path of a .toml scenario file)")


def _check_args(seed, scale):
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"scenario seed must be a non-negative integer, not {seed!r}")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0 < scale <= 100):
        raise ConfigError(f"scenario scale must be a number in (0, 100], not {scale!r}")


def scenario_events(name, seed: int = 1, scale: float = 1.0):
    sc = get_scenario(name)
    _check_args(seed, scale)
    return sc.generate(seed=seed, scale=float(scale))


def scenario_chunks(name, seed: int = 1, scale: float = 1.0):
    sc = get_scenario(name)
    _check_args(seed, scale)
    return sc.chunks(seed=seed, scale=float(scale))


def scenario_trace(name, seed: int = 1, scale: float = 1.0):
    """The scenario as an in-memory ``Trace`` (its path reads ``scenario:NAME:seed:scale``)."""
    from rmapsim.trace import from_events
    sc = get_scenario(name)
    t = from_events(scenario_events(sc, seed, scale))
    t.path = f"scenario:{sc.name}:seed={seed}:scale={scale:g}"
    return t


__all__ = ["SCENARIOS", "Scenario", "get_scenario", "load_scenario", "scenario_events",
           "scenario_chunks", "scenario_trace", "is_scenario_file"]
