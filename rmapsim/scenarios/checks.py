"""Checking one value of a scenario file at its place: every mistake is raised as ``_Fail``
with the key path of the value (``processes[2].phases[0].pattern: ...``), which
``rmapsim.scenarios.spec`` turns into a ``ConfigError`` naming the file.
"""
from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+-]*$")


class _Fail(Exception):
    pass


def _err(path, msg):
    raise _Fail(f"{path}: {msg}" if path else msg)


def _tname(v):
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(v), type(v).__name__)


def _check_keys(d, path, allowed, required=()):
    if not isinstance(d, dict):
        _err(path, f"must be a table, not {_tname(d)}")
    for k in d:
        if k not in allowed:
            near = [a for a in allowed if a.lower() == k.lower() or a.replace("_", "") == k.replace("_", "")]
            hint = f" (did you mean {near[0]!r}?)" if near else f" (allowed: {', '.join(sorted(allowed))})"
            _err(_join(path, k), f"unknown key{hint}")
    for k in required:
        if k not in d:
            _err(path, f"missing key {k!r}")


def _join(path, key):
    return f"{path}.{key}" if path else key


def _str(d, key, path, default=None, choices=None, required=False):
    if key not in d:
        if required:
            _err(path, f"missing key {key!r}")
        return default
    v = d[key]
    p = _join(path, key)
    if not isinstance(v, str):
        _err(p, f"must be a string, not {_tname(v)}")
    if choices is not None and v not in choices:
        _err(p, f"{v!r} is not one of {', '.join(choices)}")
    return v


def _bool(d, key, path, default=False):
    if key not in d:
        return default
    v = d[key]
    if not isinstance(v, bool):
        _err(_join(path, key), f"must be true or false, not {_tname(v)}")
    return v


def _name(v, path, what="name"):
    if not isinstance(v, str):
        _err(path, f"must be a string, not {_tname(v)}")
    if not _NAME.match(v):
        _err(path, f"{v!r} is not a valid {what} (letters, digits, _ . + -)")
    return v

