"""``rmapsim compare --rmaps``: one trace under every reverse-mapping design (or a grid with
several policies), the design's columns, the line on faults, one-line errors; and the four
built-in scenarios written to set the designs apart (kernel-build, shm-database, objrmap-worst,
forking-server), each shaped as its file says."""
import csv
import io
import json

import pytest

from rmapsim.errors import ConfigError
from rmapsim.mm.rmap import designs, get_design
from rmapsim.scenarios import SCENARIOS, scenario_trace
from rmapsim.sim import compare as cmp
from rmapsim.trace import write_trace
from test_compare import rmapsim_cmd

NAMES = [m.NAME for m in designs()]
SEED_ORDER = get_design("pte-chain").PTE_TABLE_ORDER
# the designs whose page tables take the seed's RAM: their faults must be the seed's exactly
SAME_RAM = [m.NAME for m in designs() if m.PTE_TABLE_ORDER == SEED_ORDER]
SMALL = {"kernel-build": 0.25, "shm-database": 0.3, "objrmap-worst": 0.25, "forking-server": 0.5}


def by_rmap(rs):
    return {r["rmap"]: r for r in rs}


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rmaps") / "ow.rmt"
    write_trace(path, scenario_trace("objrmap-worst", 1, 0.25))
    return path


@pytest.fixture(scope="module")
def runs():
    """Each new scenario at a small scale under every design, in check mode: its rows."""
    out = {}
    for name, scale in SMALL.items():
        d = SCENARIOS[name].DEFAULTS
        out[name] = cmp.rows(cmp.compare(scenario_trace(name, 1, scale), ["clock"], rmaps="all",
                                         machine=d["machine"], mem=d["mem"], check=True))
    return out


def test_parse_rmaps():
    assert cmp.parse_rmaps("all") == NAMES == [m.NAME for m in designs()]
    assert cmp.parse_rmaps("objrmap,pte-chain") == ["objrmap", "pte-chain"]
    assert cmp.parse_rmaps(["pte-chain"]) == ["pte-chain"]
    # the Python API names its argument (rmaps=); the command line's --rmaps is tested below
    for bad, msg in (("pte-chain,nope", "rmaps=: unknown reverse-mapping design 'nope'"),
                     ("", "rmaps= expects a comma-separated list"),
                     ("pte-chain,,objrmap", "rmaps= expects"),
                     ("objrmap,objrmap", "'objrmap' given twice in rmaps="),
                     ("all,objrmap", "unknown reverse-mapping design 'all'")):
        with pytest.raises(ConfigError, match=msg):
            cmp.parse_rmaps(bad)
    with pytest.raises(ConfigError, match="not both"):
        cmp.compare("x.rmt", ["clock"], rmaps="all", rmap="objrmap")


def test_designs_side_by_side(trace_file):
    results = cmp.compare(str(trace_file), "clock", rmaps="all", mem="4M")
    assert [r.rmap for r in results] == NAMES and {r.policy for r in results} == {"clock"}
    rs = cmp.rows(results)
    got = by_rmap(rs)
    seed, obj = got["pte-chain"], got["objrmap"]
    assert seed["pages_freed"] > 0
    for name in SAME_RAM:
        for k in cmp.SAME_UNDER_EVERY_DESIGN:
            assert got[name][k] == seed[k], (name, k)
    for r in rs:
        same_order = [o for o in rs if o["pte_table_order"] == r["pte_table_order"]][0]
        assert r["faults_differ"] == any(r[k] != same_order[k]
                                         for k in cmp.SAME_UNDER_EVERY_DESIGN)
        assert not r["faults_differ"]
    # objrmap keeps a list node per file vma (30 x 30 of them) and walks the vmas instead
    assert obj["rmap_bytes_peak"] >= seed["rmap_bytes_peak"] + 16 * 900
    assert obj["rmap_vmas_visited"] > 100 * max(1, seed["rmap_chain_steps"])
    assert seed["rmap_vmas_visited"] == 0 and obj["rmap_chain_steps"] == 0
    assert obj["ptes_visited"] == seed["ptes_visited"]
    assert obj["sim_time_ns"] > seed["sim_time_ns"]            # the walk's cost is charged

    lines = cmp.format_table(rs).splitlines()
    assert lines[0].startswith("trace ") and lines[0].endswith(", policy clock")
    head = lines[1]
    assert head.split()[0] == "rmap" and "policy" not in head
    for h in ("faults", "misses", "rmap bytes peak", "rmap bytes end", "ptes visited",
              "chain steps", "vmas visited", "total time"):
        assert h in head
    assert [l.split()[0] for l in lines[2:2 + len(NAMES)]] == NAMES
    assert f"{obj['rmap_vmas_visited']:,}" in lines[2 + NAMES.index("objrmap")]
    want = "faults and misses: the same under every rmap design of one page-table order; "
    assert lines[-1].startswith(want) and len(lines) == 3 + len(NAMES)
    order0 = got["pte-chain-direct"]
    assert (f"{seed['pagetable_pages_peak'] - order0['pagetable_pages_peak']:,} more frames of "
            f"page tables at the peak, {seed['faults']:,} faults against "
            f"{order0['faults']:,}") in lines[-1]

    table = list(csv.DictReader(io.StringIO(cmp.format_csv(rs))))
    assert [t["rmap"] for t in table] == NAMES and all(t["policy"] == "clock" for t in table)
    assert cmp.format_csv(rs).splitlines()[0].startswith("rmap,faults,misses,rmap_bytes_peak")
    for t, r in zip(table, rs):
        for k in ("faults", "misses", "rmap_bytes_peak", "rmap_bytes", "ptes_visited",
                  "rmap_chain_steps", "rmap_vmas_visited", "sim_time_ns"):
            assert int(t[k]) == r[k]
        assert t["faults_differ"] == str(r["faults_differ"])
    js = json.loads(cmp.format_json(rs))
    assert [j["rmap"] for j in js] == NAMES and js[0]["faults"] == seed["faults"]
    assert cmp.labels(rs) == NAMES
    png = cmp.plot_png(rs)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_faults_that_differ_are_said():
    """A design that changed the faults against one of the same page-table order is named,
    with its numbers and that design's, on the table's last line; designs of another order
    are compared with the first of theirs, and what their page tables took is said."""
    base = {"policy": "clock", "faults": 10, "misses": 5, "minor_faults": 5, "major_faults": 5,
            "pagetable_pages_peak": 4}

    class R:
        def __init__(self, rmap, **kw):
            self.d = dict(base, rmap=rmap, pages_scanned=0, pages_freed=0, ptes_visited=0,
                          **kw)

        def to_dict(self):
            return dict(self.d)
    rs = cmp.rows([R("pte-chain"), R("objrmap", faults=12, misses=6)], by_rmap=True)
    assert [r["faults_differ"] for r in rs] == [False, True]
    note = cmp.faults_note(rs)
    assert note == ("faults DIFFER between rmap designs of the same page-table order: objrmap "
                    "12 faults / 6 misses against pte-chain's 10 / 5 under clock")
    rs = cmp.rows([R("pte-chain", pagetable_pages_peak=7, faults=12), R("anon-vma")],
                  by_rmap=True)
    assert not any(r["faults_differ"] for r in rs)
    assert cmp.faults_note(rs) == (
        "faults and misses: the same under every rmap design of one page-table order; "
        "order-1 page tables under pte-chain (the seed's next-pte page beside each pte "
        "page): under clock: 3 more frames of page tables at the peak, 12 faults against 10")
    assert cmp.faults_note(cmp.rows([R("pte-chain")])) is None      # not a design comparison


def test_grid_of_policies_and_designs(trace_file):
    results = cmp.compare(str(trace_file), ["clock", "fifo"], rmaps=["pte-chain", "objrmap"],
                          mem="4M")
    assert [(r.policy, r.rmap) for r in results] == [
        ("clock", "pte-chain"), ("clock", "objrmap"), ("fifo", "pte-chain"), ("fifo", "objrmap")]
    rs = cmp.rows(results, "clock")
    assert cmp.labels(rs) == ["clock/pte-chain", "clock/objrmap", "fifo/pte-chain",
                              "fifo/objrmap"]
    # faults are compared within a policy; --relative-to within a design
    assert not any(r["faults_differ"] for r in rs)
    assert rs[0]["faults"] != rs[2]["faults"] or rs[0]["misses"] != rs[2]["misses"]
    assert rs[3]["misses_relative"] == pytest.approx(rs[3]["misses"] / rs[1]["misses"])
    assert rs[1]["misses_relative"] == 1.0
    lines = cmp.format_table(rs).splitlines()
    assert lines[1].split()[:2] == ["policy", "rmap"] and "misses/clock" in lines[1]
    assert [l.split()[:2] for l in lines[2:6]] == [["clock", "pte-chain"], ["clock", "objrmap"],
                                                   ["fifo", "pte-chain"], ["fifo", "objrmap"]]
    assert not lines[0].endswith("policy clock")


def test_cli_compare_rmaps(tmp_path, trace_file):
    r = rmapsim_cmd("compare", trace_file, "--rmaps", "all", "--mem", "4M", "--csv", "out.csv",
                    cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split()[0] == "rmap" and [l.split()[0] for l in lines[2:-1]] == NAMES
    assert lines[-1].startswith("faults")
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [x["rmap"] for x in rows] == NAMES
    # the numbers are run's: objrmap's row is `rmapsim run --rmap objrmap`'s result
    one = rmapsim_cmd("run", trace_file, "--mem", "4M", "--rmap", "objrmap", "--json",
                      cwd=tmp_path)
    want = json.loads(one.stdout)
    j = rmapsim_cmd("compare", trace_file, "--rmaps", "pte-chain,objrmap", "--mem", "4M",
                    "--json", cwd=tmp_path)
    got = json.loads(j.stdout)
    assert {k: got[1][k] for k in want} == want
    assert rows[NAMES.index("objrmap")]["rmap_vmas_visited"] == str(want["rmap_vmas_visited"])


@pytest.mark.parametrize("args,msg", [
    (["--rmaps", "pte-chain,nope"], "--rmaps: unknown reverse-mapping design 'nope'"),
    (["--rmaps", "objrmap,objrmap"], "given twice in --rmaps"),
    (["--rmaps", ""], "--rmaps expects"),
    (["--rmaps", "all", "--rmap", "objrmap"], "--rmap: not allowed with argument --rmaps"),
    ([], "compare needs --policies A,B,..., --rmaps"),
])
def test_cli_rmaps_errors_one_line_exit_2(tmp_path, trace_file, args, msg):
    r = rmapsim_cmd("compare", trace_file, *args, "--mem", "4M", "--csv", "out.csv",
                    cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("rmapsim: error: ")
    assert msg in r.stderr
    assert list(tmp_path.iterdir()) == []


# ---- the scenarios ---------------------------------------------------------------------------

def test_new_scenarios_listed_and_run_clean(runs):
    for name, rs in runs.items():
        assert name in SCENARIOS and "source" in SCENARIOS[name].__doc__.lower()
        assert [r["rmap"] for r in rs] == NAMES
        got = by_rmap(rs)
        for r in rs:
            assert r.get("violation") is None and r["integrity_errors"] == 0, (name, r["rmap"])
            assert r["oom_kills"] == 0 and r["segfaults"] == 0 and r["ignored_events"] == 0
            assert r["pages_freed"] > 0, name                     # under memory pressure
        for d in SAME_RAM:
            for k in cmp.SAME_UNDER_EVERY_DESIGN:
                assert got[d][k] == got["pte-chain"][k], (name, d, k)


def test_objrmap_worst_walks_every_vma_of_the_file(runs):
    got = by_rmap(runs["objrmap-worst"])
    seed, obj = got["pte-chain"], got["objrmap"]
    # every page the clock examines is a page of the file, found by a walk of its 900 vmas
    # (fewer while the mappers start and exit), though at most 30 ptes map it
    assert obj["rmap_vmas_visited"] > 500 * obj["pages_scanned"]
    assert obj["rmap_vmas_visited"] > 50 * obj["ptes_visited"]
    assert obj["rmap_vmas_visited"] > 100 * seed["rmap_chain_steps"] > 0
    assert seed["ptes_visited"] <= 30 * 2 * seed["pages_scanned"]


def test_shm_database_pays_a_chain_entry_per_page_per_mapper(runs):
    got = by_rmap(runs["shm-database"])
    seed, obj = got["pte-chain"], got["objrmap"]
    # 100 backends each map the 1024-page segment: at least 8 bytes per page per mapper
    assert seed["rmap_bytes_peak"] >= 8 * 1024 * 100
    assert seed["ptes_visited"] > 20 * seed["pages_scanned"]     # shared pages, many ptes each
    assert seed["swap_outs"] > 0                                 # shmem pages go to swap
    assert obj["rmap_vmas_visited"] > obj["ptes_visited"]        # the shmem object's 101 vmas


def test_forking_server_cows_its_children_shares(runs):
    got = by_rmap(runs["forking-server"])
    seed, obj = got["pte-chain"], got["objrmap"]
    av, avc = got["anon-vma"], got["anon-vma-chain"]
    assert seed["cow_faults"] == 100 * 48                        # each child copies the vma
    # the COW unlinks the child's pte from an original's chain of ~101
    assert seed["rmap_chain_steps"] > 10 * seed["cow_faults"]
    # all of it anonymous: objrmap is the seed's pte chains here, counter for counter
    assert {k: v for k, v in obj.items() if k != "rmap"} == \
        {k: v for k, v in seed.items() if k != "rmap"}
    # van Riel: anon_vma walks every vma of the family per page (O(N), N = 101 here),
    # anon_vma_chain about one or two ("from O(N) to 2")
    assert av["rmap_vmas_visited"] > 50 * av["ptes_visited"]
    assert avc["rmap_vmas_visited"] < 2 * avc["ptes_visited"]
    assert av["ptes_visited"] == avc["ptes_visited"] > 10_000


def test_kernel_build_anonymous_pages_are_singletons(runs):
    got = by_rmap(runs["kernel-build"])
    seed, obj = got["pte-chain"], got["objrmap"]
    anon = obj["pages_zeroed"] + obj["pages_copied"]
    assert anon > 10_000
    # objrmap keeps chains for anonymous pages only: a page mapped once is unlinked at the
    # chain's head, so the steps are few per page; the long chains are the shared files'
    assert obj["rmap_chain_steps"] < 0.5 * anon
    assert seed["rmap_chain_steps"] > 5 * obj["rmap_chain_steps"]
    assert seed["swap_outs"] > 0
