"""Planning references: component instances (one pattern over one page range at one address),
mix instances (weighted sets of them), the Zipf tables and popularity orders they use, and the
plan of the current batch (*items* and *single* events), appended to in a few list operations.
"""
from __future__ import annotations

import numpy as np

K_UNIFORM, K_ZIPF, K_HOTCOLD, K_SWEEP = 0, 1, 2, 3
KINDS = {"uniform": K_UNIFORM, "zipf": K_ZIPF, "hotcold": K_HOTCOLD, "sequential": K_SWEEP,
         "loop": K_SWEEP, "stride": K_SWEEP}
O_RANDOM, O_ASC, O_DESC = 0, 1, 2
ORDERS = {"random": O_RANDOM, "ascending": O_ASC, "descending": O_DESC}
BATCH_REFS = 1 << 16          # expected references per generated batch (small: cache-friendly)


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


class Planner:
    """The engine's planning of references and single events (a part of ``Engine``)."""

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
