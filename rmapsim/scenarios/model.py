"""The checked form of a scenario file: ``Spec`` (the whole file), ``Phase`` (one step of a
process), ``Comp`` (one access pattern) and the names the format allows for patterns, orders and
phases. ``rmapsim.scenarios.schema`` builds them; ``rmapsim.scenarios.engine`` runs them.
"""
from __future__ import annotations

RANDOM_PATTERNS = ("uniform", "random", "zipf", "hotcold")
SWEEP_PATTERNS = ("sequential", "loop", "stride")
PATTERNS = RANDOM_PATTERNS + SWEEP_PATTERNS
ORDERS = ("random", "ascending", "descending")
PHASE_KINDS = ("mix", "access", "pattern", "fork", "exec", "exit", "kill", "wait", "mmap",
               "munmap", "read_file", "write_file", "repeat", "choose", "alloc", "free")


class Comp:
    """One access pattern over one region (or a page range of it)."""
    __slots__ = ("path", "region", "pattern", "weight", "write", "alpha", "order", "hot",
                 "hot_prob", "stride", "first", "count", "per_page", "run")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    @property
    def sweep(self):
        return self.pattern in SWEEP_PATTERNS


class Phase:
    """One step of a process's behaviour; ``kind`` is one of ``PHASE_KINDS`` (``access`` for the
    three ways of giving references) and ``a`` holds its checked keys."""
    __slots__ = ("kind", "path", "a")

    def __init__(self, kind, path, a):
        self.kind, self.path, self.a = kind, path, a

    def __repr__(self):
        return f"Phase({self.kind}, {self.path})"


class Spec:
    """A checked scenario file."""

    def __init__(self, source):
        self.source = source
        self.name = self.description = self.machine = self.mem = None
        self.slice = 400
        self.refs = None
        self.comments = ""
        self.params = {}          # name -> Num, in order
        self.programs = {}        # name -> dict(text, data, bss, device, id)
        self.files = {}           # name -> dict(pages: Num, count: Num | None, device, id)
        self.mixes = {}           # name -> [Comp]
        self.processes = {}       # name -> dict(...), in order; the first is init
