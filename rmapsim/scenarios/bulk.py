"""Bulk generation: a planned batch turned into events by a handful of numpy calls over the whole
batch (pages by pattern, run lengths, word offsets, write bits), with the single events put in
their places.
"""
from __future__ import annotations

import numpy as np

from rmapsim.scenarios.plan import K_HOTCOLD, K_SWEEP, K_UNIFORM, K_ZIPF, O_DESC, O_RANDOM
from rmapsim.trace.events import EVENT_DTYPE, PAGE_SIZE


class BulkGeneration:
    """The engine's generation of a batch's events (a part of ``Engine``)."""

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
