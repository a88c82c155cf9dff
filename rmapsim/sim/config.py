"""The simulated machine: RAM, page-table geometry, swap, kernel reserve and the cost model.

A ``Machine`` is plain data. Presets give the two machines the project cares about (the seed's
1997 486 and a present-day server); every field of a preset can be overridden by name, which is
how ``--param k=v`` reaches it.  Nothing here depends on numba.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, replace

from rmapsim.errors import ConfigError, did_you_mean, option

PAGE_SIZE = 4096


@dataclass(frozen=True)
class Costs:
    """Simulated nanoseconds charged per kernel action.

    A major fault costs ``minor_fault_ns`` plus the read latency of the device the page comes
    from; a write-back costs the write latency of its device. kswapd's work (pages scanned, ptes
    visited, pages written) is charged to kswapd's CPU time, direct reclaim to the process.
    """
    reference_ns: float = 1.0        # one memory reference that hits (TLB/cache average)
    minor_fault_ns: float = 1000.0   # trap, handle_mm_fault, return, no I/O
    pte_visit_ns: float = 10.0       # test-and-clear or replace one pte found through rmap or a walk
    rmap_step_ns: float = 10.0       # one step along a pte chain or an anon_vma's list of vmas
    vma_visit_ns: float = 10.0       # look for a page in one vma (its address, a page-table walk)
    page_scan_ns: float = 20.0       # examine one struct page in a reclaim scan
    page_copy_ns: float = 400.0      # copy 4 KiB (COW break, migration)
    page_zero_ns: float = 250.0      # clear 4 KiB (demand-zero fault)
    swap_read_ns: float = 20_000.0
    swap_write_ns: float = 20_000.0
    disk_read_ns: float = 80_000.0
    disk_write_ns: float = 80_000.0
    nfs_read_ns: float = 300_000.0
    nfs_write_ns: float = 300_000.0


# The seed's machine: "my 8 meg 486 with nfs mounted /usr". A 33 MHz 486DX executes about
# 15-25 MIPS, so an average instruction with a memory reference costs ~60 ns; its memory copies
# at ~30 MB/s (4 KiB in ~130 us). A Linux 2.0 page fault on a 486 costs some tens of
# microseconds. An IDE disk of 1997 needs ~15 ms (seek + half a rotation at 4500 rpm) for a
# random 4 KiB read; NFS over 10 Mbit/s Ethernet spends ~3.5 ms on the wire for 4 KiB plus RPC and
# server time. These are assumptions for a model, stated so a user can change them.
I486_1997 = Costs(
    reference_ns=60.0, minor_fault_ns=25_000.0, pte_visit_ns=400.0, page_scan_ns=600.0,
    rmap_step_ns=400.0, vma_visit_ns=400.0,
    page_copy_ns=130_000.0, page_zero_ns=70_000.0,
    swap_read_ns=14_000_000.0, swap_write_ns=14_000_000.0,
    disk_read_ns=15_000_000.0, disk_write_ns=15_000_000.0,
    nfs_read_ns=8_000_000.0, nfs_write_ns=20_000_000.0,
)
MODERN = Costs()

GEOMETRIES = {
    # name: (levels, bits per level, page shift); i386 2-level has the pmd folded (1024 x 1024)
    "x86-64": (4, 9, 12),
    "i386": (2, 10, 12),
}


@dataclass(frozen=True)
class Machine:
    frames: int                          # RAM in 4 KiB frames
    geometry: str = "x86-64"
    swap_pages: int | None = None        # None: 2 x RAM in kernel mode, unbounded in cache mode
    max_order: int = 10                  # buddy orders 0..max_order
    cache_mode: bool = False
    zero_page: bool = True               # reads of never-written anonymous memory map ZERO_PAGE
    kernel_image_pages: int = 0          # kernel text/data and firmware holes, never allocatable
    struct_page_bytes: int = 64          # mem_map costs this much RAM per frame
    costs: Costs = field(default_factory=Costs)

    # ---- derived ---------------------------------------------------------------------------
    @property
    def kernel_reserved(self) -> int:
        """Frames the kernel owns at boot: its image plus mem_map. None in cache mode."""
        if self.cache_mode:
            return 0
        mem_map = -(-self.frames * self.struct_page_bytes // PAGE_SIZE)
        return self.kernel_image_pages + mem_map + 1          # + the zero page

    @property
    def watermarks(self) -> tuple[int, int, int]:
        """(min, low, high) free pages as Linux 2.2 free_area_init: min = clamp(pages/128, 10,
        256), low = 2 min, high = 3 min. No watermarks in cache mode."""
        if self.cache_mode:
            return (0, 0, 0)
        m = min(max(self.frames // 128, 10), 256)
        return (m, 2 * m, 3 * m)

    @property
    def swap_size(self) -> int:
        if self.swap_pages is not None:
            return self.swap_pages
        return 0 if self.cache_mode else 2 * self.frames

    def validate(self) -> "Machine":
        if self.geometry not in GEOMETRIES:
            raise ConfigError(f"unknown page-table geometry {self.geometry!r}"
                              f"{did_you_mean(self.geometry, GEOMETRIES)} "
                              f"(known: {', '.join(GEOMETRIES)})")
        if self.frames < 1:
            raise ConfigError(f"memory of {self.frames} frames is impossible")
        if not 0 <= self.max_order <= 20:
            raise ConfigError(f"max_order {self.max_order} outside 0..20")
        if self.swap_pages is not None and self.swap_pages < 0:
            raise ConfigError(f"swap of {self.swap_pages} pages is impossible")
        if not self.cache_mode:
            need = self.kernel_reserved + self.watermarks[2] + 8
            if self.frames < need:
                raise ConfigError(
                    f"RAM of {self.frames} frames is below what the kernel needs: "
                    f"{self.kernel_reserved} reserved + {self.watermarks[2]} free pages (high "
                    f"watermark) + 8 for page tables and a process = {need} frames (or "
                    f"{option('cache_mode', True)}: a cache of the trace's pages alone)")
            if self.swap_pages is not None and 0 < self.swap_pages < 8:
                raise ConfigError(f"swap of {self.swap_pages} pages is too small to hold "
                                  f"anything useful (need at least 8)")
        for f in dataclasses.fields(self.costs):
            if getattr(self.costs, f.name) < 0:
                raise ConfigError(f"cost {f.name} must not be negative")
        return self


PRESETS = {
    "modern": dict(geometry="x86-64", costs=MODERN),
    "i486-1997": dict(geometry="i386", costs=I486_1997, kernel_image_pages=416,
                      struct_page_bytes=32, swap_pages=4096),
}
DEFAULT_MEM = {"modern": None, "i486-1997": 8 << 20}

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
          "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def parse_size(text: str, name: str = "mem") -> int:
    """'8M', '512KiB', '1g', '4096' -> bytes (``name``: the argument, for the message)."""
    m = re.fullmatch(r"\s*([-+]?)(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(3).lower() not in _UNITS:
        raise ConfigError(f"{option(name, text)}: cannot read a memory size (use e.g. 8M, 512KiB, "
                          f"2G)")
    if m.group(1) == "-" and float(m.group(2)):
        raise ConfigError(f"{option(name, text)}: a memory size cannot be negative")
    return int(float(m.group(2)) * _UNITS[m.group(3).lower()])


def _mem_frames(mem) -> int:
    """Frames of RAM in ``mem`` (bytes, or a size such as '16M'); a size below one frame is an
    error that says what it was read as, and guesses MiB were meant."""
    if isinstance(mem, str):
        nbytes = parse_size(mem)
    else:
        nbytes = int(mem)
        if nbytes < 0:
            raise ConfigError(f"{option('mem', mem)}: a memory size cannot be negative")
    if 0 < nbytes < PAGE_SIZE:
        meant = f"{str(mem).strip()}M"
        raise ConfigError(f"{option('mem', mem)} is {nbytes} bytes, below the minimum of one "
                          f"4 KiB frame; did you mean {option('mem', meant)}?")
    return nbytes // PAGE_SIZE


def machine_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(Machine)} - {"costs", "frames"}


def cost_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(Costs)}


def check_param_names(names, policies) -> None:
    """A ConfigError for the first of ``names`` that is neither a parameter of one of the policy
    modules ``policies`` nor a machine or cost parameter: it names the policies, lists their
    parameters, suggests a close spelling and says which other policies have the name."""
    machine = machine_fields() | cost_fields()
    for k in names:
        if k in machine or any(k in m.PARAMS for m in policies):
            continue
        from rmapsim.mm.vmscan import POLICIES
        who = (f"policy {policies[0].NAME} has no" if len(policies) == 1 else
               f"no policy of {', '.join(m.NAME for m in policies)} has a")
        theirs = "; ".join(f"{m.NAME}: {', '.join(m.PARAMS) or 'none'}" for m in policies)
        hint = did_you_mean(k, [p for m in policies for p in m.PARAMS] + sorted(machine))
        others = [name for name, m in POLICIES.items() if k in m.PARAMS]
        elsewhere = f"; {k} is a parameter of {', '.join(others)}" if others else ""
        raise ConfigError(f"{who} parameter {k!r}, and it is no machine or cost parameter{hint} "
                          f"(policy parameters: {theirs}{elsewhere}; machine and cost parameters: "
                          f"`rmapsim run --help`)")


def _coerce(name, value, like):
    try:
        if isinstance(like, bool):
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(like, int) or like is None:
            return int(value)
        if isinstance(like, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"parameter {name}={value!r}: expected {type(like).__name__}") from None


def build_machine(preset: str = "modern", mem: str | int | None = None, frames: int | None = None,
                  cache_mode: bool = False, overrides: dict | None = None) -> Machine:
    """Machine from a preset, a RAM size (``mem`` bytes or ``frames``) and named overrides of
    machine fields or cost constants."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown machine preset {preset!r}{did_you_mean(preset, PRESETS)} "
                          f"(known: {', '.join(PRESETS)})")
    if mem is not None and frames is not None:
        raise ConfigError(f"give either {option('mem')} or {option('frames')}, not both")
    if frames is None:
        if mem is None:
            mem = DEFAULT_MEM[preset]
        if mem is None:
            raise ConfigError(f"memory size needed: {option('mem', 'SIZE', raw=True)} (e.g. "
                              f"{option('mem', '16M')}) or {option('frames', 'N', raw=True)}")
        frames = _mem_frames(mem)
    elif int(frames) < 0:
        raise ConfigError(f"{option('frames', frames)}: a number of frames cannot be negative")
    kw = dict(PRESETS[preset])
    costs = kw.pop("costs")
    cost_over = {}
    for k, v in (overrides or {}).items():
        if k in cost_fields():
            cost_over[k] = _coerce(k, v, getattr(costs, k))
        elif k in machine_fields():
            default = kw.get(k, getattr(Machine, k, None))
            kw[k] = _coerce(k, v, default if default is not None else 0)
        else:
            raise ConfigError(f"unknown machine or cost parameter {k!r}"
                              f"{did_you_mean(k, sorted(machine_fields() | cost_fields()))}")
    if cache_mode:
        kw.setdefault("zero_page", False)
        if "swap_pages" in kw and "swap_pages" not in (overrides or {}):
            del kw["swap_pages"]
    m = Machine(frames=int(frames), cache_mode=cache_mode, costs=replace(costs, **cost_over), **kw)
    if cache_mode and m.zero_page:
        raise ConfigError("cache mode keeps every page in a frame of its own: zero_page must be off")
    return m.validate()
