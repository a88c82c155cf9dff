"""The address spaces of the simulated processes: where programs, libraries, mmaps, stacks and
the file I/O windows are placed, and exec, mmap and munmap as planned events.
"""
from __future__ import annotations

from rmapsim.trace.events import (MAP_FILE, MAP_SHARED, OP_EXEC, OP_MMAP, OP_MUNMAP, PAGE_SIZE,
                                  PROT_WRITE)

PROG_BASE = 0x0804_8000
LIB_BASE = 0x4000_0000
MMAP_BASE = 0x6000_0000
READ_WINDOW = 0xA000_0000
WRITE_WINDOW = 0xA800_0000
STACK_TOP = 0xC000_0000


class Region:
    __slots__ = ("name", "base", "pages", "writable", "fid", "pgoff")

    def __init__(self, name, base, pages, writable, fid=0, pgoff=0):
        self.name, self.base, self.pages, self.writable = name, base, pages, writable
        self.fid, self.pgoff = fid, pgoff


class AddressSpaces:
    """The engine's exec, mmap and munmap (a part of ``Engine``)."""

    def map(self, p, name, addr, pages, fid=0, pgoff=0, shared=False, write=False, vmas=1):
        """Region ``name``: one mmap, or ``vmas`` mmaps of consecutive parts side by side, each
        a vma of its own (the kernel model never merges vmas)."""
        flags = (MAP_SHARED if shared else 0) | (MAP_FILE if fid else 0) | (PROT_WRITE if write else 0)
        for j in range(vmas):
            lo, hi = pages * j // vmas, pages * (j + 1) // vmas
            self.single(OP_MMAP, p.pid, addr + lo * PAGE_SIZE, (hi - lo) * PAGE_SIZE, file=fid,
                        pgoff=pgoff + lo if fid else pgoff, flags=flags)
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
        vmas = self.ival(a["vmas"], ns, lo=1)
        if vmas > pages:
            self.fail(path, f"vmas {vmas} is more than the {pages} pages of the mapping")
        addr = p.next_mmap
        if addr + pages * PAGE_SIZE > READ_WINDOW:
            self.fail(path, f"the mmap area of process {p.tmpl['name']} (0x{MMAP_BASE:x}.."
                            f"0x{READ_WINDOW:x}) is full")
        p.next_mmap += (pages + 1) * PAGE_SIZE
        self.map(p, name, addr, pages, fid=fid, pgoff=pgoff, shared=a["shared"], write=a["write"],
                 vmas=vmas)
        p.budget -= vmas

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
