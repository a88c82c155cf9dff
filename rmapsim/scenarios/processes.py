"""The processes of a scenario: each a coroutine running its phases (fork, exec, wait, exit,
kill, repeat, choose, ...), yielding at the end of its slice, under a lottery scheduler whose
run loop hands out the batches of events.
"""
from __future__ import annotations

import math

import numpy as np

from rmapsim.errors import ConfigError
from rmapsim.scenarios.address import MMAP_BASE
from rmapsim.trace.events import ALLOC_HUGE, OP_ALLOC, OP_EXIT, OP_FORK, OP_FREE

SLICE, BLOCK = 1, 2
RUNAWAY = 1e10


class Proc:
    __slots__ = ("pid", "tmpl", "parent", "vars", "regions", "next_mmap", "nchildren",
                 "children", "alive", "wait_limit", "gen", "share", "slice", "budget", "slot",
                 "blocks")

    def __init__(self, pid, tmpl, parent, vars_):
        self.pid, self.tmpl, self.parent = pid, tmpl, parent
        self.vars = vars_
        self.vars["size"] = self._size
        self.regions = {}
        self.blocks = {}            # name -> the handles of its high-order blocks
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


class Processes:
    """The engine's processes and their scheduling (a part of ``Engine``)."""

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
        for name in list(p.blocks):        # the kernel frees what an exiting task held
            self.free_blocks(p, name, None)
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
            elif k == "alloc":
                self.alloc_blocks(p, a, ph.path)
            elif k == "free":
                self.free_blocks(p, a["name"], ph.path)
            elif k in ("read_file", "write_file"):
                yield from self.file_io(p, a, ph.path, k == "read_file")

    # ---- high-order blocks (ALLOC/FREE events, mm/highorder.py) ---------------------------
    def alloc_blocks(self, p, a, path):
        if a["name"] in p.blocks:
            self.fail(path, f"process {p.tmpl['name']} already holds blocks {a['name']!r}")
        n = self.ival(a["count"], p.vars)
        handles = p.blocks[a["name"]] = []
        for _ in range(n):
            self.next_handle += 1
            handles.append(self.next_handle)
            self.single(OP_ALLOC, p.pid, self.next_handle, arg=a["order"].const,
                        flags=ALLOC_HUGE if a["kind"] == "huge" else 0)
        p.budget -= 1

    def free_blocks(self, p, name, path):
        handles = p.blocks.pop(name, None)
        if handles is None:
            self.fail(path, f"process {p.tmpl['name']} holds no blocks {name!r} to free")
        for h in handles:
            self.single(OP_FREE, p.pid, h)
        p.budget -= 1

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
