"""Scenario files: reading and checking the TOML format described in ``docs/scenario-format.md``.

``load(path)`` / ``loads(text, name)`` give a ``Spec``: the file's tables checked key by key and
compiled (numbers, expressions and distributions into ``Num``, phases into ``Phase`` objects),
ready for ``rmapsim.scenarios.engine`` to run. Every mistake is a ``ConfigError`` of one line:
``FILE: line N: ...`` for a TOML syntax error, ``FILE: KEY.PATH: ...`` (for instance
``FILE: processes[2].phases[0].pattern: ...``) for anything else.

This module reads the TOML and locates its syntax errors; the checking is done by
``rmapsim.scenarios.schema`` (the tables), ``expressions`` (numbers, expressions,
distributions) and ``checks`` (single values), into the objects of ``model``.
"""
from __future__ import annotations

import re

try:
    import tomllib
except ModuleNotFoundError:            # Python 3.10
    import tomli as tomllib            # type: ignore[no-redef]

from rmapsim.errors import ConfigError
from rmapsim.scenarios.checks import _Fail
from rmapsim.scenarios.expressions import FUNCTIONS, Num
from rmapsim.scenarios.model import (ORDERS, PATTERNS, PHASE_KINDS, RANDOM_PATTERNS,
                                     SWEEP_PATTERNS, Comp, Phase, Spec)
from rmapsim.scenarios.schema import _Loader


def loads(text: str, source: str = "<string>") -> Spec:
    """A ``Spec`` from the text of a scenario file (``source`` names it in errors)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            msg = msg[:m.start()].strip()
            raise ConfigError(f"{source}: line {m.group(1)}: {msg[:1].lower() + msg[1:]} "
                              f"(column {m.group(2)})") from None
        m = re.search(r"\(at end of document\)", msg)
        line = text.count("\n") + 1
        raise ConfigError(f"{source}: line {line}: {msg.replace('(at end of document)', '(at end of file)')}") from None
    try:
        return _Loader(source).load(doc, text)
    except _Fail as e:
        raise ConfigError(f"{source}: {e}") from None


def load(path) -> Spec:
    """A ``Spec`` from a scenario file."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read scenario file: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text") from None
    return loads(text, path)


__all__ = ["load", "loads", "Spec", "Phase", "Comp", "Num", "PATTERNS", "RANDOM_PATTERNS",
           "SWEEP_PATTERNS", "ORDERS", "FUNCTIONS", "PHASE_KINDS"]
