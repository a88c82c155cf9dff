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
"""
from __future__ import annotations

import math

import numpy as np

from rmapsim.errors import ConfigError
from rmapsim.scenarios.spec import _SAFE_GLOBALS, Num, Spec
from rmapsim.trace.events import (EVENT_DTYPE, MAP_FILE, MAP_SHARED, OP_EXEC, OP_EXIT, OP_FILE,
                                  OP_FORK, OP_MMAP, OP_MUNMAP, PAGE_SIZE, PROT_WRITE)

PROG_BASE = 0x0804_8000
LIB_BASE = 0x4000_0000
MMAP_BASE = 0x6000_0000
READ_WINDOW = 0xA000_0000
WRITE_WINDOW = 0xA800_0000
STACK_TOP = 0xC000_0000

K_UNIFORM, K_ZIPF, K_HOTCOLD, K_SWEEP = 0, 1, 2, 3
KINDS = {"uniform": K_UNIFORM, "zipf": K_ZIPF, "hotcold": K_HOTCOLD, "sequential": K_SWEEP,
         "loop": K_SWEEP, "stride": K_SWEEP}
O_RANDOM, O_ASC, O_DESC = 0, 1, 2
ORDERS = {"random": O_RANDOM, "ascending": O_ASC, "descending": O_DESC}
BATCH_REFS = 1 << 16          # expected references per generated batch (small: cache-friendly)
SLICE, BLOCK = 1, 2
RUNAWAY = 1e10


class _Grow:
    """An append-only numpy array (capacity doubling): tables that grow during a run without
    being rebuilt for every batch."""

    def __init__(self, dtype):
        self.a = np.zeros(256, dtype)
        self.n = 0

    def extend(self, x):
        x = np.asarray(x, self.a.dtype)
        need = self.n + len(x)
        if need > len(self.a):
            b = np.zeros(max(need, 2 * len(self.a)), self.a.dtype)
            b[:self.n] = self.a[:self.n]
            self.a = b
        self.a[self.n:need] = x
        self.n = need

    def append(self, v):
        if self.n == len(self.a):
            self.extend([v])
        else:
            self.a[self.n] = v
            self.n += 1

    @property
    def view(self):
        return self.a[:self.n]


class Region:
    __slots__ = ("name", "base", "pages", "writable", "fid", "pgoff")

    def __init__(self, name, base, pages, writable, fid=0, pgoff=0):
        self.name, self.base, self.pages, self.writable = name, base, pages, writable
        self.fid, self.pgoff = fid, pgoff


class Proc:
    __slots__ = ("pid", "tmpl", "parent", "vars", "regions", "next_mmap", "nchildren",
                 "children", "alive", "wait_limit", "gen", "share", "slice", "budget", "slot")

    def __init__(self, pid, tmpl, parent, vars_):
        self.pid, self.tmpl, self.parent = pid, tmpl, parent
        self.vars = vars_
        self.vars["size"] = self._size
        self.regions = {}
        self.next_mmap = MMAP_BASE
        self.nchildren = 0
        self.children = []
        self.alive = True
        self.wait_limit = None
        self.gen = None
        self.budget = 0.0
        self.slot = -1

    def _size(self, name):
        r = self.regions.get(name)
        if r is None:
            raise NameError(f"size({name!r}): process {self.tmpl['name']} has no region {name!r}")
        return r.pages


class Engine:
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

    # ---- plan primitives --------------------------------------------------------------------
    def single(self, op, pid=0, addr=0, length=0, file=0, arg=0, pgoff=0, flags=0):
        self.nevents += 1
        self.singles.append((op, flags, 0, pid, addr, length, file, arg, pgoff))
        self.single_before.append(len(self.it_pid))

    def _zipf_cdf(self, n, alpha):
        key = (n, float(alpha))
        g = self.zipf_groups.get(key)
        if g is None:
            cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -float(alpha))
            cdf /= cdf[-1]
            cdf[-1] = 1.0
            g = len(self.zipf_parts)
            self.zipf_groups[key] = g
            self.zipf_parts.append(cdf)
            self.zoff.append(self.zcdf.n)
            self.zcdf.extend(cdf + g)
            # guide table: bucket b (u in [b/k, (b+1)/k)) gives the rank of its low end if no
            # rank boundary falls inside it, else -1 (then a binary search)
            k = min(8 * n, 1 << 22)
            lo = np.searchsorted(cdf, np.arange(k) / k, side="right")
            hi = np.searchsorted(cdf, np.arange(1, k + 1) / k, side="left")
            self.zgoff.append(self.zguide.n)
            self.zgk.append(k)
            self.zguide.extend(np.where(lo == hi, lo, -1))
        return self.zipf_parts[g]

    def _order(self, key, n):
        off = self.orders.get(key)
        if off is None:
            off = self.order_g.n
            self.orders[key] = off
            self.order_g.extend(self.ctrl.permutation(n))
        return off

    def comp_instance(self, region, lo, n, kind, param, hotp, order, write, run, pp):
        """The id of a component instance (created on first use)."""
        okey = None
        if kind != K_SWEEP and order == O_RANDOM:
            okey = ("f", region.fid, region.pgoff + lo, n) if region.fid else ("a", region, lo, n)
        key = (region.base, lo, n, kind, param, hotp, order, okey, write, run, pp)
        cid = self.c_cache.get(key)
        if cid is None:
            ooff = self._order(okey, n) if okey is not None else 0
            if kind == K_ZIPF:
                self._zipf_cdf(n, param)
                param = self.zipf_groups[(n, float(param))]
            c, cg = self.c_cols, self.c_grow
            cid = len(c["base"])
            for k, v in (("base", region.base), ("lo", lo), ("n", n), ("kind", kind),
                         ("param", param), ("hotp", hotp), ("ord", order), ("ooff", ooff),
                         ("write", write), ("run", run), ("pp", pp)):
                c[k].append(v)
                cg[k].append(v)
            self.c_cache[key] = cid
        return cid

    def mix_instance(self, cids, weights):
        key = (tuple(cids), tuple(weights))
        mi = self.m_cache.get(key)
        if mi is None:
            w = np.asarray(weights, np.float64)
            tot = w.sum()
            cdf = np.cumsum(w / tot)
            cdf[-1] = 1.0
            mi = len(self.m_off)
            self.m_off.append(len(self.me_comp))
            self.m_n.append(len(cids))
            c = self.c_cols
            eref = 0.0
            for cid, wi, ci in zip(cids, w, cdf):
                self.me_comp.append(cid)
                self.me_cdf.append(float(ci) + mi)
                self.me_frac.append(wi / tot)
                eref += wi / tot * (c["pp"][cid] or c["run"][cid])
            self.m_eref.append(eref)
            self.m_cache[key] = mi
            self.m_np = None
        return mi

    def emit(self, p, mi, runs, start=0):
        if runs <= 0:
            return 0.0
        self.it_pid.append(p.pid)
        self.it_mix.append(mi)
        self.it_runs.append(runs)
        self.it_start.append(start)
        e = runs * self.m_eref[mi]
        self.pending += e
        self.now += e
        p.budget -= e
        return e

    def sweep(self, p, region, first, count, write, per_page=0, start=0, runs=None):
        """References to pages first..first+count-1 of a region in address order, ``per_page``
        each (1 if 0): ``runs`` pages (one pass if None) from page ``start`` of the range on,
        wrapping."""
        count = min(count, region.pages - first)
        if count <= 0:
            return
        cid = self.comp_instance(region, first, count, K_SWEEP, 1, 0.0, O_ASC, float(write),
                                 1.0, per_page)
        self.emit(p, self.mix_instance([cid], [1.0]), count if runs is None else runs, start)

    def touch(self, p, region, runs, alpha=1.0):
        cid = self.comp_instance(region, 0, region.pages, K_ZIPF if alpha else K_UNIFORM,
                                 float(alpha), 0.0, O_RANDOM, 0.0, self.run_default, 0)
        self.emit(p, self.mix_instance([cid], [1.0]), runs)

    # ---- address spaces ---------------------------------------------------------------------
    def map(self, p, name, addr, pages, fid=0, pgoff=0, shared=False, write=False):
        flags = (MAP_SHARED if shared else 0) | (MAP_FILE if fid else 0) | (PROT_WRITE if write else 0)
        self.single(OP_MMAP, p.pid, addr, pages * PAGE_SIZE, file=fid, pgoff=pgoff, flags=flags)
        r = Region(name, addr, pages, write, fid, pgoff)
        p.regions[name] = r
        return r

    def exec(self, p, a, path, fresh=False):
        ns = p.vars
        progs = a["program"]
        prog = progs[int(self.ctrl.integers(len(progs)))] if len(progs) > 1 else progs[0]
        heap = self.ival(a["heap"], ns)
        stack = self.ival(a["stack"], ns, lo=1)
        if not fresh:
            self.single(OP_EXEC, p.pid)
        p.regions = {}
        p.next_mmap = MMAP_BASE
        P = self.spec.programs
        pr = P[prog]
        fid = self.file_info[prog][0]
        addr = PROG_BASE
        text = self.map(p, "text", addr, pr["text"], fid=fid)
        addr += pr["text"] * PAGE_SIZE
        data = None
        if pr["data"]:
            data = self.map(p, "data", addr, pr["data"], fid=fid, pgoff=pr["text"], write=True)
            addr += pr["data"] * PAGE_SIZE
        hp = None
        if pr["bss"] + heap:
            hp = self.map(p, "heap", addr, pr["bss"] + heap, write=True)
        addr = LIB_BASE
        libs = []
        for lib in a["libs"]:
            lr = P[lib]
            lfid = self.file_info[lib][0]
            lt = self.map(p, lib, addr, lr["text"], fid=lfid)
            addr += lr["text"] * PAGE_SIZE
            ld = None
            if lr["data"]:
                ld = self.map(p, lib + ".data", addr, lr["data"], fid=lfid, pgoff=lr["text"], write=True)
                addr += lr["data"] * PAGE_SIZE
            if lr["bss"]:
                self.map(p, lib + ".bss", addr, lr["bss"], write=True)
                addr += lr["bss"] * PAGE_SIZE
            addr += PAGE_SIZE
            libs.append((lt, ld))
        if addr >= MMAP_BASE:
            self.fail(path, f"the libraries of process {p.tmpl['name']} do not fit below "
                            f"0x{MMAP_BASE:x}")
        st = self.map(p, "stack", STACK_TOP - stack * PAGE_SIZE, stack, write=True)
        if not a["startup"]:
            return
        # start-up: the stack, ld.so relocating the libraries, the program's first code and data
        self.sweep(p, st, 0, min(stack, 2), 1.0)
        for lt, ld in libs:
            self.touch(p, lt, max(4, lt.pages // 8))
            if ld is not None:
                self.sweep(p, ld, 0, ld.pages, 1.0)
        self.touch(p, text, max(4, text.pages // 4))
        if data is not None:
            half = (data.pages + 1) // 2
            self.sweep(p, data, 0, half, 1.0)
            self.sweep(p, data, half, data.pages - half, 0.0)
        if hp is not None:
            self.sweep(p, hp, 0, min(hp.pages, pr["bss"] + 2), 1.0)

    def mmap(self, p, a, path):
        ns = p.vars
        name = a["name"]
        if name in p.regions:
            self.fail(path, f"process {p.tmpl['name']} already has a region {name!r} (munmap it first)")
        fid = 0
        pgoff = self.ival(a["pgoff"], ns)
        if a["file"] is not None:
            fid, fpages = self.resolve(a["file"], a["index"], ns, path)
            if pgoff >= fpages:
                self.fail(path, f"pgoff {pgoff} is past the end of file {a['file']!r} ({fpages} pages)")
            pages = fpages - pgoff if a["pages"] is None else self.ival(a["pages"], ns, lo=1)
            if pgoff + pages > fpages:
                self.fail(path, f"pages {pgoff}..{pgoff + pages - 1} run past the end of file "
                                f"{a['file']!r} ({fpages} pages)")
        else:
            pages = self.ival(a["pages"], ns, lo=1)
        addr = p.next_mmap
        if addr + pages * PAGE_SIZE > READ_WINDOW:
            self.fail(path, f"the mmap area of process {p.tmpl['name']} (0x{MMAP_BASE:x}.."
                            f"0x{READ_WINDOW:x}) is full")
        p.next_mmap += (pages + 1) * PAGE_SIZE
        self.map(p, name, addr, pages, fid=fid, pgoff=pgoff, shared=a["shared"], write=a["write"])
        p.budget -= 1

    def munmap(self, p, name, path):
        r = p.regions.pop(name, None)
        if r is None:
            self.fail(path, f"process {p.tmpl['name']} has no region {name!r} to munmap")
        self.single(OP_MUNMAP, p.pid, r.base, r.pages * PAGE_SIZE)
        p.budget -= 1

    def region(self, p, name, path):
        r = p.regions.get(name)
        if r is None:
            self.fail(path, f"process {p.tmpl['name']} (pid {p.pid}) has no region {name!r} "
                            f"(it has {', '.join(p.regions) or 'none'})")
        return r

    # ---- access phases ----------------------------------------------------------------------
    def _dyn(self, comp):
        d = self.dyn.get(id(comp))
        if d is None:
            d = tuple(k for k in ("weight", "write", "alpha", "hot", "hot_prob", "stride", "first",
                                  "count", "per_page", "run")
                      if isinstance(getattr(comp, k), Num) and not getattr(comp, k).is_const)
            self.dyn[id(comp)] = (d, comp)        # keep comp alive: its id stays unique
            return d
        return d[0]

    def access_mix(self, p, a, path):
        ns = p.vars
        comps = a["comps"]
        info = self.dyn.get(id(a))
        if info is None:
            dyn = tuple((c, k) for c in comps for k in self._dyn(c))
            info = (tuple(c.region for c in comps), dyn, a)     # a: keeps its id unique
            self.dyn[id(a)] = info
        names, dyn, _ = info
        wdef = a.get("write")
        if wdef is not None:
            wdef = self.val(wdef, ns)
        rdef = None if a["run"] is None else self.val(a["run"], ns)
        get = p.regions.get
        regs = tuple([get(n) for n in names])
        key = (id(comps), wdef, rdef, regs,
               tuple([self.val(getattr(c, k), ns) for c, k in dyn]) if dyn else ())
        mi = self.m_cache.get(key)
        if mi is not None:
            return mi
        cids, weights = [], []
        for c, r in zip(comps, regs):
            if r is None:
                self.region(p, c.region, c.path)

            def v(k, integer=False, lo=None):
                x = getattr(c, k)
                return None if x is None else self.val(x, ns, integer=integer, lo=lo)
            first = v("first", True, 0)
            count = v("count", True, 1)
            if first >= r.pages:
                self.fail(c.path, f"first page {first} is past the end of region {c.region!r} "
                                  f"of process {p.tmpl['name']} ({r.pages} pages)")
            n = r.pages - first if count is None else count
            if first + n > r.pages:
                self.fail(c.path, f"pages {first}..{first + n - 1} run past the end of region "
                                  f"{c.region!r} of process {p.tmpl['name']} ({r.pages} pages)")
            write = v("write") if c.write is not None else (wdef or 0.0)
            if not 0 <= write <= 1:
                self.fail(c.path, f"write fraction {write} is not in 0..1")
            if write > 0 and not r.writable:
                self.fail(c.path, f"region {c.region!r} of process {p.tmpl['name']} is read-only; "
                                  f"it cannot be written (write = {write})")
            kind = KINDS[c.pattern]
            sweep = kind == K_SWEEP
            pp = v("per_page", True, 1) or 0
            run = v("run") if c.run is not None else (rdef if rdef is not None else
                                                      (1.0 if sweep else self.run_default))
            if run < 1:
                self.fail(c.path, f"run {run} is below 1")
            param, hotp, order = 0.0, 0.0, ORDERS[c.order]
            if kind == K_ZIPF:
                param = v("alpha")
                if param == 0:
                    kind = K_UNIFORM
            elif kind == K_HOTCOLD:
                param = min(n, max(1, int(round(v("hot") * n))))
                hotp = v("hot_prob")
            elif sweep:
                param = v("stride", True, 1) if c.pattern == "stride" else 1
                order = O_ASC
            if kind == K_UNIFORM:
                order = O_ASC
            cids.append(self.comp_instance(r, first, n, kind, param, hotp, order, float(write),
                                           float(run), pp))
            weights.append(v("weight"))
        if sum(weights) <= 0:
            self.fail(path, "the weights of its patterns add up to 0")
        mi = self.mix_instance(cids, weights)
        self.m_cache[key] = mi
        return mi

    def run_access(self, p, a, path):
        mi = self.access_mix(p, a, path)
        ns = p.vars
        eref = self.m_eref[mi]
        if a["runs"] is not None:
            runs = self.ival(a["runs"], ns)
        elif a["refs"] is not None:
            runs = int(round(self.val(a["refs"], ns, lo=0) / eref))
        else:                                   # one pass of a single sweep
            runs = self.c_cols["n"][self.me_comp[self.m_off[mi]]]
        done = 0
        while done < runs:
            if p.budget <= 0:
                yield SLICE
            k = min(runs - done, max(1, int(math.ceil(p.budget / eref))))
            self.emit(p, mi, k, done)
            done += k

    def file_io(self, p, a, path, reading):
        ns = p.vars
        fid, fpages = self.resolve(a["file"], a["index"], ns, path)
        first = self.ival(a["first"], ns)
        count = fpages - first if a["count"] is None else self.ival(a["count"], ns)
        if first + count > fpages:
            self.fail(path, f"pages {first}..{first + count - 1} run past the end of file "
                            f"{a['file']!r} ({fpages} pages)")
        buf = self.region(p, a["buf"], path) if a["buf"] else None
        if buf is not None and reading and not buf.writable:
            self.fail(path, f"region {a['buf']!r} of process {p.tmpl['name']} is read-only")
        at = self.ival(a["at"], ns)
        window = a["window"].const
        done = 0
        while done < count:
            if p.budget <= 0:
                yield SLICE
            n = min(window, count - done)
            if reading:
                w = self.map(p, "_read", READ_WINDOW, n, fid=fid, pgoff=first + done)
                self.sweep(p, w, 0, n, 0.0)
                if buf is not None:
                    self.sweep(p, buf, 0, buf.pages, 1.0, start=at + done, runs=n)
                self.munmap(p, "_read", path)
            else:
                if buf is not None:
                    self.sweep(p, buf, 0, buf.pages, 0.0, start=at + done, runs=n)
                w = self.map(p, "_write", WRITE_WINDOW, n, fid=fid, pgoff=first + done,
                             shared=True, write=True)
                self.sweep(p, w, 0, n, 1.0)
                self.munmap(p, "_write", path)
            done += n

    # ---- processes --------------------------------------------------------------------------
    def spawn(self, parent, tmpl, index):
        pid = self.next_pid
        self.next_pid += 1
        vars_ = dict(parent.vars)
        if index is not None:
            vars_["i"] = index
        child = Proc(pid, tmpl, parent, vars_)
        child.regions = dict(parent.regions)
        child.next_mmap = parent.next_mmap
        self.single(OP_FORK, parent.pid, arg=pid)
        parent.nchildren += 1
        parent.children.append(child)
        self.start(child)
        parent.budget -= 1
        return child

    def start(self, p):
        t = p.tmpl
        p.share = t["share"]
        p.slice = self.slice if t["slice"] is None else self.val(t["slice"], p.vars)
        p.gen = self.main(p)
        self.rq_add(p)

    def main(self, p):
        t = p.tmpl
        if t["program"] is not None:
            self.exec(p, t, t["path"], fresh=t["init"])
        for m in t["mappings"]:
            self.mmap(p, m, t["path"] + ".mappings")
        yield from self.phases(p, t["phases"])
        yield from self.wait(p, 0)
        self.exit(p)

    def wait(self, p, limit, kids=None):
        """Block until at most ``limit`` children are alive (of ``kids`` if given)."""
        def done():
            if kids is None:
                return p.nchildren <= limit
            return sum(c.alive for c in kids) <= limit
        while not done():
            p.wait_limit = done
            yield BLOCK
        p.wait_limit = None

    def exit(self, p):
        if not p.alive:
            return
        self.single(OP_EXIT, p.pid)
        p.alive = False
        p.regions = {}
        self.rq_remove(p)
        par = p.parent
        if par is not None:
            par.nchildren -= 1
            par.children.remove(p)
            if par.alive and par.wait_limit is not None and par.wait_limit():
                par.wait_limit = None
                self.rq_add(par)

    def phases(self, p, phases):
        for ph in phases:
            if p.budget <= 0:
                yield SLICE
            k = ph.kind
            a = ph.a
            if k == "access":
                yield from self.run_access(p, a, ph.path)
            elif k == "repeat":
                count = a["count"]
                n = math.inf if count == "forever" else self.ival(count, p.vars)
                j = 0
                while j < n:
                    p.vars[a["var"]] = j
                    p.budget -= 1
                    yield from self.phases(p, a["phases"])
                    j += 1
            elif k == "choose":
                alts = a["alts"]
                tot = sum(w for w, _ in alts)
                u = self.rand() * tot
                for w, body in alts:
                    u -= w
                    if u < 0:
                        break
                p.budget -= 1
                yield from self.phases(p, body)
            elif k == "fork":
                tmpl = self.spec.processes[a["proc"]]
                count = a["count"]
                n = math.inf if count == "forever" else self.ival(count, p.vars)
                jobs = None if a["jobs"] is None else self.ival(a["jobs"], p.vars, lo=1)
                j = 0
                kids = []
                while j < n:
                    if jobs is not None:
                        yield from self.wait(p, jobs - 1)
                    if p.budget <= 0:
                        yield SLICE
                    if not a["numbered"]:
                        idx = None                      # the child keeps the parent's i
                    elif a["index"] is None:
                        idx = j
                    else:
                        idx = self.ival(a["index"], p.vars)
                    c = self.spawn(p, tmpl, idx)
                    if a["wait"]:
                        kids.append(c)
                    j += 1
                if a["wait"]:
                    yield from self.wait(p, 0, kids)
            elif k == "wait":
                yield from self.wait(p, 0)
            elif k == "exec":
                self.exec(p, a, ph.path)
            elif k == "exit":
                self.exit(p)
                yield BLOCK                           # never resumed
            elif k == "kill":
                for c in [c for c in p.children if c.tmpl["name"] == a["proc"] and c.alive]:
                    c.gen.close()
                    self.exit(c)
                p.budget -= 1
            elif k == "mmap":
                self.mmap(p, a, ph.path)
            elif k == "munmap":
                self.munmap(p, a["name"], ph.path)
            elif k in ("read_file", "write_file"):
                yield from self.file_io(p, a, ph.path, k == "read_file")

    # ---- the run queue (lottery scheduling) ------------------------------------------------
    def rq_add(self, p):
        if p.slot < 0 and p.alive:
            p.slot = len(self.rq)
            self.rq.append(p)
            self.rq_cum = None

    def rq_remove(self, p):
        if p.slot >= 0:
            last = self.rq.pop()
            if last is not p:
                self.rq[p.slot] = last
                last.slot = p.slot
            p.slot = -1
            self.rq_cum = None

    def pick(self):
        u = self.rand()
        if self.uniform_shares:
            return self.rq[min(int(u * len(self.rq)), len(self.rq) - 1)]
        if self.rq_cum is None:
            self.rq_cum = np.cumsum([q.share for q in self.rq])
        j = int(np.searchsorted(self.rq_cum, u * self.rq_cum[-1], side="right"))
        return self.rq[min(j, len(self.rq) - 1)]

    def chunks(self):
        t = self.spec.processes[next(iter(self.spec.processes))]
        init = Proc(1, t, None, dict(self.base_vars))
        init.vars["i"] = 0
        self.start(init)
        limit = self.limit
        idle = 0
        while self.rq and (limit is None or self.now < limit):
            if self.now > RUNAWAY:
                raise ConfigError(f"{self.src}: more than {RUNAWAY:.0e} references and no end: "
                                  f"a process loops forever; set scenario.refs or kill it")
            p = self.pick()
            p.budget = p.slice
            before = (self.now, self.nevents)
            try:
                status = next(p.gen)
            except StopIteration:
                status = BLOCK
            if status == BLOCK:
                self.rq_remove(p)
            if (self.now, self.nevents) == before:
                idle += 1
                if idle > 1000:
                    raise ConfigError(f"{self.src}: {p.tmpl['path']}: process {p.tmpl['name']} "
                                      f"loops without making references or events")
            else:
                idle = 0
            if self.pending >= self.batch_refs or len(self.singles) >= self.batch_refs // 4:
                yield self.flush()
        yield self.flush()

    # ---- bulk generation --------------------------------------------------------------------
    def _tables(self):
        C = {k: g.view for k, g in self.c_grow.items()}
        if self.m_np is None:
            self.m_np = dict(off=np.array(self.m_off, np.int64), n=np.array(self.m_n, np.int64),
                             comp=np.array(self.me_comp, np.int64),
                             cdf=np.array(self.me_cdf, np.float64),
                             frac=np.array(self.me_frac, np.float64))
        return C, self.m_np

    def flush(self):
        rng = self.bulk
        singles = np.array(self.singles, dtype=EVENT_DTYPE) if self.singles else np.zeros(0, EVENT_DTYPE)
        sb = np.array(self.single_before, np.int64)
        J = len(self.it_pid)
        if J == 0:
            out = singles
        else:
            C, M = self._tables()
            runs = np.array(self.it_runs, np.int64)
            item = np.repeat(np.arange(J, dtype=np.int64), runs)
            T = len(item)
            mix = np.array(self.it_mix, np.int64)[item]
            if (M["n"][mix] == 1).all():
                ce = M["off"][mix]
            else:
                u = rng.random(T)
                ce = np.searchsorted(M["cdf"], u + mix, side="right")
                np.minimum(ce, len(M["cdf"]) - 1, out=ce)
            comp = M["comp"][ce]
            kind = C["kind"][comp]
            n = C["n"][comp]
            page = np.empty(T, np.int64)
            u2 = rng.random(T)
            present = np.bincount(kind, minlength=4)
            if present[K_UNIFORM] == T:
                page[:] = (u2 * n).astype(np.int64)
                rnd = None
            else:
                rnd = np.zeros(T, np.int64)
                m = kind == K_UNIFORM
                if present[K_UNIFORM]:
                    rnd[m] = (u2[m] * n[m]).astype(np.int64)
                if present[K_ZIPF]:
                    m = np.flatnonzero(kind == K_ZIPF)
                    g = C["param"][comp[m]].astype(np.int64)
                    um = u2[m]
                    r = self.zguide.view[self.zgoff.view[g] +
                                         (um * self.zgk.view[g]).astype(np.int64)].astype(np.int64)
                    amb = np.flatnonzero(r < 0)
                    if len(amb):
                        ga = g[amb]
                        r[amb] = np.searchsorted(self.zcdf.view, um[amb] + ga, side="right") - \
                            self.zoff.view[ga]
                    rnd[m] = r
                if present[K_HOTCOLD]:
                    m = np.flatnonzero(kind == K_HOTCOLD)
                    cm = comp[m]
                    hot = C["param"][cm].astype(np.int64)
                    inhot = rng.random(len(m)) < C["hotp"][cm]
                    nm = n[m]
                    rnd[m] = np.where(inhot, (u2[m] * hot).astype(np.int64),
                                      hot + (u2[m] * (nm - hot)).astype(np.int64))
                np.minimum(rnd, n - 1, out=rnd)
                np.maximum(rnd, 0, out=rnd)
                order = C["ord"][comp]
                page[:] = rnd
                m = (order == O_RANDOM) & (kind != K_SWEEP)
                if m.any():
                    page[m] = self.order_g.view[C["ooff"][comp[m]] + rnd[m]]
                m = (order == O_DESC) & (kind != K_SWEEP)
                if m.any():
                    page[m] = n[m] - 1 - rnd[m]
                if present[K_SWEEP]:
                    m = np.flatnonzero(kind == K_SWEEP)
                    key = item[m] * (len(C["n"]) + 1) + comp[m]
                    if len(key) > 1 and (np.diff(key) < 0).any():
                        srt = np.argsort(key, kind="stable")
                    else:
                        srt = None
                    ks = key if srt is None else key[srt]
                    newgrp = np.ones(len(ks), bool)
                    newgrp[1:] = ks[1:] != ks[:-1]
                    grpstart = np.flatnonzero(newgrp)
                    cnt = np.arange(len(ks)) - np.repeat(grpstart, np.diff(np.append(grpstart, len(ks))))
                    if srt is not None:
                        cc = np.empty_like(cnt)
                        cc[srt] = cnt
                        cnt = cc
                    start = np.array(self.it_start, np.int64)[item[m]]
                    pos = cnt + np.floor(start * M["frac"][ce[m]]).astype(np.int64)
                    stride = C["param"][comp[m]].astype(np.int64)
                    page[m] = (pos * stride) % n[m]
            page += C["lo"][comp]
            addr = C["base"][comp] + page.astype(np.uint64) * np.uint64(PAGE_SIZE)
            # run lengths
            pp = C["pp"][comp]
            run = C["run"][comp]
            L = np.where(pp > 0, pp, 1)
            g = (pp == 0) & (run > 1)
            if g.any():
                L[g] = rng.geometric(1.0 / run[g])
            R = int(L.sum())
            firsts = np.cumsum(runs) - runs
            per_item = np.add.reduceat(L, firsts)
            raddr = np.repeat(addr, L)
            off = rng.integers(0, PAGE_SIZE // 8, R, dtype=np.uint64)
            off <<= np.uint64(3)
            raddr += off
            wp = C["write"][comp]
            if (wp > 0).any():
                wr = rng.random(R) < np.repeat(wp, L)
            else:
                wr = np.zeros(R, bool)
            pids = np.repeat(np.array(self.it_pid, np.uint32), per_item)
            S = len(singles)
            out = np.zeros(S + R, EVENT_DTYPE)
            refs_before = np.concatenate(([0], np.cumsum(per_item)))
            if S:
                out[np.arange(S) + refs_before[sb]] = singles
                sing_before_item = np.searchsorted(sb, np.arange(J), side="right")
                rpos = np.arange(R) + np.repeat(sing_before_item, per_item)
                out["op"][rpos] = wr.astype(np.uint8)
                out["pid"][rpos] = pids
                out["addr"][rpos] = raddr
            else:
                out["op"] = wr.astype(np.uint8)
                out["pid"] = pids
                out["addr"] = raddr
        self.it_pid, self.it_mix, self.it_runs, self.it_start = [], [], [], []
        self.singles, self.single_before = [], []
        self.pending = 0.0
        return out
