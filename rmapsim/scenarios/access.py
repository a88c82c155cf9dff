"""Access phases and file I/O: a phase's access patterns resolved (values, regions, checks) into
a mix instance and planned slice by slice; ``read_file``/``write_file`` as window mappings swept
page by page.
"""
from __future__ import annotations

import math

from rmapsim.scenarios.address import READ_WINDOW, WRITE_WINDOW
from rmapsim.scenarios.expressions import Num
from rmapsim.scenarios.plan import K_HOTCOLD, K_SWEEP, K_UNIFORM, K_ZIPF, KINDS, O_ASC, ORDERS
from rmapsim.scenarios.processes import SLICE


class AccessPhases:
    """The engine's access phases and file I/O (a part of ``Engine``)."""

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
