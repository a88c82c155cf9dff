"""Running a scenario file: processes as coroutines under a lottery scheduler, references
planned as compact descriptors and generated in bulk.

Two seeded streams (``numpy.random.Generator``, PCG64) drive everything: the *control* stream
(scheduling, ``choose``, distributions, popularity orders, file sizes) is drawn while the
processes run; the *bulk* stream is drawn only when a batch of planned references is turned into
addresses. Planning a reference run costs a few list appends; the addresses, run lengths, write
bits and word offsets of a whole batch (a few million references) come from a handful of numpy
calls, so generation runs at millions of references a second whatever the scenario.

A batch: *items* (pid, mix instance, runs, start) and *single* events (MMAP, FORK, ...) in the
order they happened. A *mix instance* is a set of *component instances* with weights; a
component instance is one pattern over one page range at one address (``base``), e.g. "Zipf 1.1
over the 165 pages of libX11 mapped at 0x40091000 with this popularity order".

The engine's parts: ``plan`` (planning), ``processes`` (processes and their scheduling),
``access`` (access phases, file I/O), ``address`` (address spaces), ``bulk`` (bulk generation);
this module holds its state, its seeded streams, the values of the file and its files.
"""
from __future__ import annotations

import math

import numpy as np

from rmapsim.errors import ConfigError
from rmapsim.scenarios.access import AccessPhases
from rmapsim.scenarios.address import AddressSpaces
from rmapsim.scenarios.bulk import BulkGeneration
from rmapsim.scenarios.expressions import _SAFE_GLOBALS
from rmapsim.scenarios.model import Spec
from rmapsim.scenarios.plan import BATCH_REFS, Planner, _Grow
from rmapsim.scenarios.processes import Processes
from rmapsim.trace.events import OP_FILE


class Engine(Processes, AccessPhases, AddressSpaces, Planner, BulkGeneration):
    def __init__(self, spec: Spec, seed: int, scale: float, batch_refs: int = BATCH_REFS):
        self.spec = spec
        self.src = spec.source
        self.ctrl = np.random.default_rng([seed, 0x5CE4A])
        self.bulk = np.random.default_rng([seed, 0xB01C])
        self.batch_refs = batch_refs
        self.g = dict(_SAFE_GLOBALS)
        self.g["pages"] = self._pages
        self.g["total"] = self._total
        self.base_vars = {"scale": float(scale)}
        for k, num in spec.params.items():
            self.base_vars[k] = self.val(num, self.base_vars)
        self.slice = self.val(spec.slice, self.base_vars)
        self.run_default = float(spec.run)
        self.limit = None if spec.refs is None else self.val(spec.refs, self.base_vars)
        self.now = 0.0                      # expected references planned so far
        self.nevents = 0                    # other events so far
        self.next_handle = 0                # the last handle of an ALLOC phase
        self.base_vars["now"] = 0.0
        # plan of the current batch
        self.it_pid, self.it_mix, self.it_runs, self.it_start = [], [], [], []
        self.singles, self.single_before = [], []
        self.pending = 0.0
        # component and mix instances (kept across batches)
        self.c_cols = {k: [] for k in ("base", "lo", "n", "kind", "param", "hotp", "ord", "ooff",
                                       "write", "run", "pp")}
        self.c_cache = {}
        self.m_off, self.m_n, self.m_eref = [], [], []
        self.me_comp, self.me_cdf, self.me_frac = [], [], []
        self.m_cache = {}
        self.m_np = None
        self.c_grow = {k: _Grow(t) for k, t in (
            ("base", np.uint64), ("lo", np.int64), ("n", np.int64), ("kind", np.int8),
            ("param", np.float64), ("hotp", np.float64), ("ord", np.int8), ("ooff", np.int64),
            ("write", np.float64), ("run", np.float64), ("pp", np.int64))}
        self.orders, self.order_g = {}, _Grow(np.int64)
        # Zipf groups (n, alpha): shifted CDFs (cdf + group) and guide tables, appended
        self.zipf_groups, self.zipf_parts = {}, []
        self.zcdf, self.zguide = _Grow(np.float64), _Grow(np.int32)
        self.zoff, self.zgoff, self.zgk = _Grow(np.int64), _Grow(np.int64), _Grow(np.float64)
        self.dyn = {}
        self._files()
        self.next_pid = 2
        self.rq, self.rq_cum = [], None
        self.uniform_shares = len({p["share"] for p in spec.processes.values()}) == 1
        self._u, self._ui = self.ctrl.random(4096), 0

    # ---- values -----------------------------------------------------------------------------
    def fail(self, path, msg):
        raise ConfigError(f"{self.src}: {path}: {msg}")

    def val(self, num, ns, integer=False, lo=None):
        if num.code is None and num.dist is None:
            v = num.const
        elif num.code is not None:
            if "now" in ns:
                ns["now"] = self.now
            try:
                v = eval(num.code, self.g, ns)
            except ConfigError:
                raise
            except NameError as e:
                self.fail(num.path, f"{num.text}: {e}")
            except Exception as e:
                self.fail(num.path, f"{num.text}: {type(e).__name__}: {e}")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                self.fail(num.path, f"{num.text} gives {v!r}, not a finite number")
        else:
            kind, args, mn, mx = num.dist
            if kind == "uniform":
                a, b = (self.val(x, ns) for x in args)
                if a > b:
                    self.fail(num.path, f"uniform low {a} is above high {b}")
                if float(a).is_integer() and float(b).is_integer():
                    v = int(self.ctrl.integers(int(a), int(b) + 1))
                else:
                    v = float(self.ctrl.uniform(a, b))
            elif kind == "lognormal":
                med, sig = (self.val(x, ns) for x in args)
                if med <= 0:
                    self.fail(num.path, f"lognormal median must be above 0, not {med}")
                v = float(self.ctrl.lognormal(math.log(med), sig))
                if mn is not None:
                    v = max(v, self.val(mn, ns))
                if mx is not None:
                    v = min(v, self.val(mx, ns))
            else:
                v = self.val(args[int(self.ctrl.integers(len(args)))], ns)
        if integer:
            v = int(round(v))
        if lo is not None and v < lo:
            self.fail(num.path, f"{num.text} gives {v}, below the least allowed, {lo}")
        return v

    def ival(self, num, ns, lo=0):
        return self.val(num, ns, integer=True, lo=lo)

    def rand(self):
        if self._ui >= len(self._u):
            self._u, self._ui = self.ctrl.random(4096), 0
        u = self._u[self._ui]
        self._ui += 1
        return u

    # ---- files ------------------------------------------------------------------------------
    def _pages(self, name, index=None):
        f = self.file_info.get(name)
        if f is None:
            raise NameError(f"pages({name!r}): no such program or file (yet)")
        if isinstance(f, list):
            if index is None:
                raise NameError(f"pages({name!r}): a family of files needs an index")
            if not 0 <= int(index) < len(f):
                raise NameError(f"pages({name!r}, {index}): index out of range 0..{len(f) - 1}")
            return f[int(index)][1]
        return f[1]

    def _total(self, name):
        f = self.file_info.get(name)
        if f is None:
            raise NameError(f"total({name!r}): no such program or file (yet)")
        return sum(m[1] for m in f) if isinstance(f, list) else f[1]

    def _files(self):
        s = self.spec
        self.file_info = {}                 # name -> (fid, pages) or [(fid, pages), ...]
        self.family_order = {}
        used = {}
        nxt = 1

        def take(fid, n, path):
            nonlocal nxt
            if fid is None:
                fid = nxt
            for f in range(fid, fid + n):
                if f in used:
                    self.fail(path, f"file id {f} is already used by {used[f]}")
                used[f] = path
            nxt = max(nxt, fid + n)
            return fid

        for name, pr in s.programs.items():
            fid = take(pr["id"], 1, pr["path"])
            self.file_info[name] = (fid, pr["text"] + pr["data"])
            self.single(OP_FILE, file=fid, length=pr["text"] + pr["data"], arg=pr["device"])
        for name, fl in s.files.items():
            if fl["count"] is None:
                pages = self.ival(fl["pages"], dict(self.base_vars), lo=1)
                fid = take(fl["id"], 1, fl["path"])
                self.file_info[name] = (fid, pages)
                self.single(OP_FILE, file=fid, length=pages, arg=fl["device"])
                continue
            count = self.ival(fl["count"], dict(self.base_vars), lo=0)
            fid = take(fl["id"], count, fl["path"])
            members = []
            self.file_info[name] = members
            ns = dict(self.base_vars)
            for i in range(count):
                ns["i"] = i
                pages = self.ival(fl["pages"], ns, lo=1)
                members.append((fid + i, pages))
                self.single(OP_FILE, file=fid + i, length=pages, arg=fl["device"])
            self.family_order[name] = self.ctrl.permutation(count) if count else np.zeros(0, int)

    def resolve(self, name, index, ns, path):
        """(fid, pages) of a program, a file or a member of a family."""
        f = self.file_info[name]
        if not isinstance(f, list):
            return f
        if not f:
            self.fail(path, f"file family {name!r} has no members")
        kind, num = index
        if kind == "zipf":
            alpha = self.val(num, ns)
            rank = int(np.searchsorted(self._zipf_cdf(len(f), alpha), self.rand(), side="right"))
            idx = int(self.family_order[name][min(rank, len(f) - 1)])
        else:
            idx = self.ival(num, ns)
            if idx >= len(f):
                self.fail(path, f"index {idx} is past the last of the {len(f)} {name!r} files")
        return f[idx]
