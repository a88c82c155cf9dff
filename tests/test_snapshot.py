"""Live-machine snapshots: capture this machine, load it, compare with kpagecount, replay on top.

The capture tests need root and /proc/kpagecount (CONFIG_PROC_PAGE_MONITOR); they are skipped,
with the reason, where it cannot be read. The synthetic-snapshot tests run everywhere.
"""
import json
import os

import numpy as np
import pytest

import rmapsim
from rmapsim.cli import main
from rmapsim.sim import snapshot as S
from rmapsim.trace.events import EVENT_DTYPE, OP_MMAP, OP_READ, OP_WRITE, PROT_WRITE


def _kpagecount_unreadable():
    try:
        with open("/proc/kpagecount", "rb") as f:
            f.read(8)
        with open("/proc/kpageflags", "rb") as f:
            f.read(8)
    except OSError as e:
        return f"/proc/kpagecount cannot be read here ({e.strerror}): a snapshot needs root " \
               f"on Linux with CONFIG_PROC_PAGE_MONITOR"
    return None


needs_kpagecount = pytest.mark.skipif(_kpagecount_unreadable() is not None,
                                      reason=_kpagecount_unreadable() or "")

ANON, ZERO, DIRTY = S._kpf("ANON"), S._kpf("ZERO_PAGE"), S._kpf("DIRTY")
P = S.PM_PRESENT


def _synthetic():
    """Two processes after a fork: a shared library page pair, a COW-shared anonymous page,
    one private anonymous page each, the ZERO_PAGE; plus a file page the kernel counts three
    mappings of (a process the snapshot does not hold) and one whose count moved."""
    lib = 0x400000
    snap = {
        "proc_pid": np.array([100, 101], np.int64),
        "vma_proc": np.array([0, 0, 1, 1], np.int32),
        "vma_start": np.array([lib, 0x600000, lib, 0x600000], np.uint64),
        "vma_end": np.array([lib + 0x4000, 0x604000] * 2, np.uint64),
        "vma_prot": np.array([5, 3, 5, 3], np.uint8),
        "vma_pgoff": np.zeros(4, np.uint64),
        "vma_dev": np.array([8 << 32 | 1, 0] * 2, np.uint64),
        "vma_inode": np.array([42, 0] * 2, np.uint64),
        "vma_vmflags": np.zeros(4, np.uint32),
        "vma_names": np.frombuffer(b"/lib/x.so\n\n/lib/x.so\n", np.uint8),
    }
    # (vma, page in vma, pfn)
    ptes = [(0, 0, 1000), (0, 1, 1001), (2, 0, 1000), (2, 1, 1001),     # library, shared
            (1, 0, 2000), (3, 0, 2000),                                   # COW-shared anon
            (1, 1, 2001), (3, 1, 2002),                                   # private anon
            (1, 2, 50), (3, 2, 50),                                       # ZERO_PAGE
            (0, 2, 3000), (0, 3, 3001)]
    snap["pte_vma"] = np.array([v for v, _, _ in ptes], np.int32)
    snap["pte_addr"] = np.array([int(snap["vma_start"][v]) + 4096 * i for v, i, _ in ptes],
                                np.uint64)
    # pagemap: present, the frame number, bit 61 for a page-cache page
    snap["pte_entry"] = np.array([int(P) | pfn | (int(S.PM_FILE) if pfn in (1000, 1001, 3000, 3001)
                                                  else 0) for _, _, pfn in ptes], np.uint64)
    frames = {50: (0, 0, ZERO), 1000: (2, 2, 0), 1001: (2, 2, DIRTY), 2000: (2, 2, ANON),
              2001: (1, 1, ANON), 2002: (1, 1, ANON), 3000: (3, 3, 0), 3001: (2, 1, 0)}
    pfns = sorted(frames)
    snap["frame_pfn"] = np.array(pfns, np.uint64)
    snap["frame_count"] = np.array([frames[p][0] for p in pfns], np.int64)
    snap["frame_count0"] = np.array([frames[p][1] for p in pfns], np.int64)
    snap["frame_flags"] = np.array([int(frames[p][2]) for p in pfns], np.uint64)
    snap["header"] = {"format": S.FORMAT, "version": S.VERSION, "kernel": "synthetic",
                      "time": "-", "seconds": 0, "processes": 2, "kernel_threads": 0,
                      "unreadable": [], "exited": [], "vanished": [], "appeared": []}
    return snap


def test_synthetic_snapshot_shares_frames_and_reports_agreement(tmp_path):
    path = tmp_path / "syn.npz"
    S.save(path, _synthetic())
    pol, pvals, m, st, s, loaded = S.load(path, check=True)
    r = loaded.report
    sim = dict(zip(loaded.plan.frame_pfn.tolist(), loaded.sim_frames.tolist()))
    mapc = {pfn: int(st.page_mapcount[f]) for pfn, f in sim.items() if pfn != 50}
    assert mapc == {1000: 2, 1001: 2, 2000: 2, 2001: 1, 2002: 1, 3000: 1, 3001: 1}
    assert sim[50] == int(st.g[8])                        # G_ZERO_FRAME
    assert r["invariants"] == "ok"
    assert (r["frames_mapped"], r["frames_agreeing"]) == (7, 5)
    assert r["disagreements"] == {
        "count changed during capture": {"frames": 1, "kernel_minus_sim": 1},
        "mapped by processes not captured": {"frames": 1, "kernel_minus_sim": 2}}
    assert r["zero_page_ptes"] == 2
    # the library's two frames are one page-cache object's pages 0 and 1
    f0, f1 = sim[1000], sim[1001]
    assert st.page_mapping[f0] == st.page_mapping[f1] >= 0
    assert (st.page_index[f0], st.page_index[f1]) == (0, 1)
    # a write by the child breaks COW of the shared anonymous page; both processes go on
    ev = np.zeros(4, EVENT_DTYPE)
    ev[0] = (OP_WRITE, 0, 0, 101, 0x600000, 0, 0, 0, 0)
    ev[1] = (OP_READ, 0, 0, 100, 0x600000, 0, 0, 0, 0)
    ev[2] = (OP_WRITE, 0, 0, 100, 0x601000, 0, 0, 0, 0)   # private: no fault
    ev[3] = (OP_WRITE, 0, 0, 100, 0x602000, 0, 0, 0, 0)   # ZERO_PAGE: COW
    res = rmapsim.run(ev, from_snapshot=path, check=True)
    assert res.violation is None
    assert (res["cow_faults"], res["faults"]) == (2, 2)
    assert res["snapshot_frames_agreeing"] == 5


def test_corrupt_snapshot_is_one_line_exit_2(tmp_path, capsys):
    good = tmp_path / "good.npz"
    S.save(good, _synthetic())
    data = good.read_bytes()
    bad = {"garbage.npz": b"not a snapshot at all\n" * 10,
           "truncated.npz": data[: len(data) // 2],
           "empty.npz": b""}
    wrong = _synthetic()
    wrong["header"]["format"] = "something else"
    S.save(tmp_path / "header.npz", wrong)
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    for name in list(bad) + ["header.npz", "missing.npz"]:
        assert main(["run", "--from-snapshot", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("rmapsim: error: ") and err.count("\n") == 1, err
        assert name in err
    assert main(["run"]) == 2
    assert "TRACE" in capsys.readouterr().err


def test_snapshot_too_small_memory_is_config_error(tmp_path, capsys):
    path = tmp_path / "syn.npz"
    S.save(path, _synthetic())
    assert main(["run", "--from-snapshot", str(path), "--frames", "45"]) == 2
    assert "needs at least" in capsys.readouterr().err


@needs_kpagecount
def test_snapshot_of_this_machine(tmp_path, capsys):
    """Capture this machine and load it: the simulated rmap's mapcount agrees with kpagecount
    on at least 99% of the frames whose count stood still during the capture (of all mapped
    frames, on a quiet machine), every disagreement has its kind; then a trace applies memory
    pressure on top, in check mode."""
    path = tmp_path / "live.npz"
    assert main(["snapshot", "-o", str(path), "--attempts", "3"]) == 0
    capsys.readouterr()
    # RAM for the snapshot and 1200 frames above the high watermark; then a new process
    # writes 6000 pages, in check mode
    frames = S.frames_for(path, spare=1200)
    n = 6000
    ev = np.zeros(n + 1, EVENT_DTYPE)
    base = 0x7000_0000_0000
    ev[0] = (OP_MMAP, PROT_WRITE, 0, 4_000_000, base, n * 4096, 0, 0, 0)
    ev["op"][1:] = OP_WRITE
    ev["pid"][1:] = 4_000_000
    ev["addr"][1:] = base + 4096 * np.arange(n, dtype=np.uint64)
    res = rmapsim.run(ev, from_snapshot=path, frames=frames, check=True)
    r = res.snapshot
    assert r["invariants"] == "ok"
    assert r["frames_mapped"] > 1000
    # every disagreeing frame is put in a kind that explains it
    assert set(r["disagreements"]) <= set(S.DISAGREEMENTS)
    assert sum(d["frames"] for d in r["disagreements"].values()) \
        == r["frames_mapped"] - r["frames_agreeing"]
    # the frames the machine left alone while it was read agree; all of them do when it was
    # quiet (other jobs forking, faulting and exiting move counts mid-capture)
    assert r["steady_agreement"] >= 0.99, S.format_report(r)
    if r["changed_frames"] <= 0.002 * r["frames_mapped"]:
        assert r["agreement"] >= 0.99, S.format_report(r)
    # the pressure: reclaim took snapshot pages, nothing lost, nobody killed
    assert res.violation is None
    assert res["pages_freed"] >= 4000
    assert res["oom_kills"] == 0


def test_cli_run_trace_on_snapshot(tmp_path, capsys):
    from rmapsim.trace import write_trace
    snap = tmp_path / "syn.npz"
    S.save(snap, _synthetic())
    ev = np.zeros(3, EVENT_DTYPE)
    ev[0] = (OP_READ, 0, 0, 100, 0x400000, 0, 0, 0, 0)       # the library page: a hit
    ev[1] = (OP_WRITE, 0, 0, 101, 0x600000, 0, 0, 0, 0)      # COW break
    ev[2] = (OP_WRITE, 0, 0, 7, 0x1000, 0, 0, 0, 0)          # a new process: segfault
    trace = tmp_path / "t.bin"
    write_trace(trace, ev)
    assert main(["run", str(trace), "--from-snapshot", str(snap), "--check"]) == 0
    out, err = capsys.readouterr()
    assert "agreement with kpagecount: 5 / 7 frames" in err
    d = dict(kv.split("=", 1) for kv in out.split())
    assert (d["references"], d["faults"], d["cow_faults"], d["segfaults"]) == ("2", "1", "1", "1")
    assert d["snapshot_frames_mapped"] == "7" and d["snapshot_agreement"] == "0.714286"
    # no trace: the loaded state and its agreement are the output
    assert main(["run", "--from-snapshot", str(snap), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["frames_agreeing"], r["frames_mapped"], r["processes"]) == (5, 7, 2)


def test_snapshot_without_kpagecount_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    real_open = os.open

    def deny(path, *a, **k):
        if str(path).startswith("/proc/kpage"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *a, **k)
    monkeypatch.setattr(os, "open", deny)
    out = tmp_path / "s.npz"
    assert main(["snapshot", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/proc/kpagecount" in err and "root" in err, err
    assert not out.exists()


def test_opt_on_a_snapshot(tmp_path, capsys):
    """opt knows the future from the trace: a bare trace on a snapshot works (the snapshot's
    pages are never used again, so they go first); an event trace is refused in one line."""
    from rmapsim.trace import from_pages
    snap = tmp_path / "syn.npz"
    S.save(snap, _synthetic())
    frames = S.frames_for(snap, spare=20)
    res = rmapsim.run(from_pages(np.arange(60) % 40), from_snapshot=snap, frames=frames,
                      policy="opt", check=True)
    assert res.violation is None and res["faults"] == 40 and res["pages_freed"] > 0
    from rmapsim.trace import write_trace
    ev = np.zeros(1, EVENT_DTYPE)
    ev[0] = (OP_READ, 0, 0, 100, 0x400000, 0, 0, 0, 0)
    write_trace(tmp_path / "t.bin", ev)
    assert main(["run", str(tmp_path / "t.bin"), "--from-snapshot", str(snap),
                 "--policy", "opt"]) == 2
    assert "bare page trace" in capsys.readouterr().err
