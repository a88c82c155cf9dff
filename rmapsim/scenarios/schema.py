"""The schema of a scenario file: its tables checked key by key (what each may hold, which
names it may refer to) and compiled into a ``Spec`` by ``_Loader``.
"""
from __future__ import annotations

import re

from rmapsim.trace.events import ALLOC_KINDS
from rmapsim.scenarios.checks import _bool, _check_keys, _err, _join, _name, _str, _tname
from rmapsim.scenarios.expressions import FUNCTIONS, _num, _opt_num
from rmapsim.scenarios.model import ORDERS, PATTERNS, PHASE_KINDS, Comp, Phase, Spec
from rmapsim.trace.events import DEV_NAMES

_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = set(FUNCTIONS) | {"scale", "i", "now"}
_TOP = {"scenario", "params", "programs", "files", "mixes", "processes"}
_SCEN = {"name", "description", "machine", "mem", "slice", "refs", "run"}
_PROG = {"name", "text", "data", "bss", "device", "id"}
_FILE = {"name", "pages", "device", "count", "id"}
_COMP = {"region", "pattern", "weight", "write", "alpha", "order", "hot", "hot_prob", "stride",
         "first", "count", "per_page", "run"}
_PROC = {"name", "program", "libs", "heap", "stack", "share", "slice", "startup", "mappings",
         "phases"}
_MAPPING = {"name", "pages", "file", "index", "pgoff", "shared", "write", "vmas"}


class _Loader:
    def __init__(self, source):
        self.spec = Spec(source)

    def load(self, doc, text):
        s = self.spec
        _check_keys(doc, "", _TOP, required=("scenario", "processes"))
        sc = doc["scenario"]
        _check_keys(sc, "scenario", _SCEN, required=("name",))
        s.name = _name(sc["name"], "scenario.name", "scenario name")
        s.description = _str(sc, "description", "scenario", default="")
        s.machine = _str(sc, "machine", "scenario", default="modern")
        s.mem = _str(sc, "mem", "scenario", default=None)
        s.comments = "\n".join(l[1:].strip() for l in text.splitlines()[:80]
                               if l.startswith("#")).strip()
        # params: in order, each may use scale and the params before it
        params = doc.get("params", {})
        _check_keys(params, "params", set(params))
        scope = {"scale"}
        for k, v in params.items():
            p = _join("params", k)
            if not _VAR.match(k) or k in _RESERVED:
                _err(p, f"{k!r} cannot name a parameter (a name of letters, digits and _, not "
                        f"one of {', '.join(sorted(_RESERVED))})")
            s.params[k] = _num(v, p, scope, allow_dist=False)
            scope.add(k)
        self.scope = frozenset(scope | {"now"})
        s.slice = _num(sc.get("slice", 400), "scenario.slice", self.scope, lo=1, allow_dist=False)
        s.refs = _opt_num(sc, "refs", "scenario", self.scope, lo=0, allow_dist=False)
        s.run = _num(sc.get("run", 1), "scenario.run", (), lo=1, allow_dist=False).const
        # programs and files share one namespace of file names
        for j, pr in enumerate(self._list(doc, "programs")):
            p = f"programs[{j}]"
            _check_keys(pr, p, _PROG, required=("name", "text"))
            name = self._new_file_name(pr, p)
            s.programs[name] = dict(
                text=_num(pr["text"], _join(p, "text"), (), lo=1, integer=True, allow_dist=False).const,
                data=_num(pr.get("data", 0), _join(p, "data"), (), lo=0, integer=True, allow_dist=False).const,
                bss=_num(pr.get("bss", 0), _join(p, "bss"), (), lo=0, integer=True, allow_dist=False).const,
                device=DEV_NAMES.index(_str(pr, "device", p, "disk", DEV_NAMES)),
                id=self._id(pr, p), path=p)
        for j, fl in enumerate(self._list(doc, "files")):
            p = f"files[{j}]"
            _check_keys(fl, p, _FILE, required=("name", "pages"))
            name = self._new_file_name(fl, p)
            count = None
            if "count" in fl:
                count = _num(fl["count"], _join(p, "count"), self.scope, lo=0, allow_dist=False)
            s.files[name] = dict(
                pages=_num(fl["pages"], _join(p, "pages"), self.scope | {"i"}, lo=1),
                count=count, device=DEV_NAMES.index(_str(fl, "device", p, "disk", DEV_NAMES)),
                id=self._id(fl, p), path=p)
        mixes = doc.get("mixes", {})
        _check_keys(mixes, "mixes", set(mixes))
        for k, v in mixes.items():
            p = _join("mixes", k)
            _name(k, p, "mix name")
            if not isinstance(v, list) or not v:
                _err(p, "must be a non-empty array of access tables")
            s.mixes[k] = [self._comp(c, f"{p}[{j}]", _AnyScope(), None)
                          for j, c in enumerate(v)]
        procs = self._list(doc, "processes")
        if not procs:
            _err("processes", "needs at least one process (the first is init, pid 1)")
        names = []
        for j, pr in enumerate(procs):
            p = f"processes[{j}]"
            _check_keys(pr, p, _PROC, required=("name",))
            name = _name(pr["name"], _join(p, "name"), "process name")
            if name in names:
                _err(_join(p, "name"), f"process {name!r} is defined twice")
            names.append(name)
        self.proc_names = names
        for j, pr in enumerate(procs):
            s.processes[pr["name"]] = self._process(pr, f"processes[{j}]", j == 0)
        return s

    # -- helpers --
    def _list(self, doc, key):
        v = doc.get(key, [])
        if not isinstance(v, list) or any(not isinstance(x, dict) for x in v):
            _err(key, f"must be an array of tables ([[{key}]])")
        return v

    def _new_file_name(self, d, p):
        name = _name(d["name"], _join(p, "name"), "file name")
        if name in self.spec.programs or name in self.spec.files:
            _err(_join(p, "name"), f"file {name!r} is defined twice")
        return name

    def _id(self, d, p):
        if "id" not in d:
            return None
        return _num(d["id"], _join(p, "id"), (), lo=1, hi=(1 << 31), integer=True,
                    allow_dist=False).const

    def _file_ref(self, v, p):
        if not isinstance(v, str):
            _err(p, f"must be a string naming a program or a file, not {_tname(v)}")
        if v not in self.spec.programs and v not in self.spec.files:
            known = list(self.spec.programs) + list(self.spec.files)
            _err(p, f"no program or file {v!r} (known: {', '.join(known) or 'none'})")
        return v

    def _program_ref(self, v, p):
        if not isinstance(v, str):
            _err(p, f"must be a string, not {_tname(v)}")
        if v not in self.spec.programs:
            _err(p, f"no program {v!r} (known: {', '.join(self.spec.programs) or 'none'})")
        return v

    def _index(self, d, p, scope, fname):
        """The ``index`` of a member of a file family: an expression or ``{zipf = alpha}``."""
        fam = self.spec.files.get(fname, {}).get("count") is not None
        if "index" not in d:
            if fam:
                _err(p, f"file {fname!r} is a family of {self.spec.files[fname]['count'].text} "
                        f"files: give index")
            return None
        ip = _join(p, "index")
        if not fam:
            _err(ip, f"file {fname!r} is a single file, not a family (it has no count)")
        v = d["index"]
        if isinstance(v, dict) and "zipf" in v:
            _check_keys(v, ip, {"zipf"})
            return ("zipf", _num(v["zipf"], _join(ip, "zipf"), scope, lo=0, allow_dist=False))
        return ("num", _num(v, ip, scope, lo=0))

    def _comp(self, c, p, scope, write_default):
        _check_keys(c, p, _COMP, required=("region",))
        comp = Comp(path=p)
        comp.region = _name(c["region"], _join(p, "region"), "region name")
        comp.pattern = _str(c, "pattern", p, "uniform", PATTERNS)
        if comp.pattern == "random":
            comp.pattern = "uniform"
        comp.weight = _num(c.get("weight", 1), _join(p, "weight"), scope, lo=0, allow_dist=False)
        if "write" in c:
            comp.write = _num(c["write"], _join(p, "write"), scope, lo=0, hi=1, allow_dist=False)
        else:
            comp.write = write_default
        only = {"alpha": ("zipf",), "hot": ("hotcold",), "hot_prob": ("hotcold",),
                "stride": ("stride",), "order": ("zipf", "hotcold")}
        for k, pats in only.items():
            if k in c and comp.pattern not in pats:
                _err(_join(p, k), f"applies to pattern {' or '.join(pats)}, not {comp.pattern}")
        comp.alpha = _num(c.get("alpha", 1.0), _join(p, "alpha"), scope, lo=0, hi=20, allow_dist=False)
        comp.order = _str(c, "order", p, "random", ORDERS)
        comp.hot = _num(c.get("hot", 0.1), _join(p, "hot"), scope, lo=0, hi=1, allow_dist=False)
        comp.hot_prob = _num(c.get("hot_prob", 0.9), _join(p, "hot_prob"), scope, lo=0, hi=1,
                             allow_dist=False)
        if comp.pattern == "stride" and "stride" not in c:
            _err(p, "pattern stride needs stride (pages between two references)")
        comp.stride = _num(c.get("stride", 1), _join(p, "stride"), scope, lo=1, integer=True,
                           allow_dist=False)
        comp.first = _num(c.get("first", 0), _join(p, "first"), scope, lo=0, integer=True, allow_dist=False)
        comp.count = _opt_num(c, "count", p, scope, lo=1, integer=True, allow_dist=False)
        comp.per_page = _opt_num(c, "per_page", p, scope, lo=1, hi=1 << 20, integer=True, allow_dist=False)
        comp.run = _opt_num(c, "run", p, scope, lo=1, allow_dist=False)
        return comp

    def _process(self, pr, p, is_init):
        d = dict(name=pr["name"], path=p, init=is_init)
        scope = self.scope | {"i"}
        prog = pr.get("program")
        if prog is None:
            d["program"] = None
        elif isinstance(prog, list):
            if not prog:
                _err(_join(p, "program"), "must not be an empty array")
            d["program"] = [self._program_ref(x, f"{p}.program[{j}]") for j, x in enumerate(prog)]
        else:
            d["program"] = [self._program_ref(prog, _join(p, "program"))]
        d["libs"] = self._libs(pr, p)
        for k in ("libs", "heap", "stack", "startup"):
            if k in pr and d["program"] is None:
                _err(_join(p, k), "applies to a process with a program")
        d["heap"] = _num(pr.get("heap", 8), _join(p, "heap"), scope, lo=0)
        d["stack"] = _num(pr.get("stack", 4), _join(p, "stack"), scope, lo=1)
        d["startup"] = _bool(pr, "startup", p, True)
        d["share"] = _num(pr.get("share", 1), _join(p, "share"), (), lo=0, allow_dist=False).const
        if d["share"] <= 0:
            _err(_join(p, "share"), "must be above 0")
        d["slice"] = _opt_num(pr, "slice", p, self.scope, lo=1, allow_dist=False)
        maps = pr.get("mappings", [])
        if not isinstance(maps, list):
            _err(_join(p, "mappings"), f"must be an array of tables, not {_tname(maps)}")
        d["mappings"] = [self._mapping(m, f"{p}.mappings[{j}]", scope, need_name=True)
                         for j, m in enumerate(maps)]
        phases = pr.get("phases", [])
        d["phases"] = self._phases(phases, _join(p, "phases"), scope)
        return d

    def _libs(self, d, p):
        libs = d.get("libs", [])
        if not isinstance(libs, list):
            _err(_join(p, "libs"), f"must be an array of program names, not {_tname(libs)}")
        return [self._program_ref(x, f"{p}.libs[{j}]") for j, x in enumerate(libs)]

    def _mapping(self, m, p, scope, need_name):
        _check_keys(m, p, _MAPPING if need_name else _MAPPING - {"name"} | {"mmap"},
                    required=("name",) if need_name else ())
        a = {"name": _name(m["name" if need_name else "mmap"], _join(p, "name" if need_name else "mmap"),
                           "region name")}
        a["file"] = self._file_ref(m["file"], _join(p, "file")) if "file" in m else None
        a["index"] = self._index(m, p, scope, a["file"]) if a["file"] else None
        if a["file"] is None and "index" in m:
            _err(_join(p, "index"), "applies to a file mapping")
        if a["file"] is None and "pages" not in m:
            _err(p, "an anonymous mapping needs pages")
        if a["file"] is None and "pgoff" in m:
            _err(_join(p, "pgoff"), "applies to a file mapping")
        a["pages"] = _opt_num(m, "pages", p, scope, lo=1)
        a["pgoff"] = _opt_num(m, "pgoff", p, scope, lo=0, default=0)
        a["shared"] = _bool(m, "shared", p)
        a["write"] = _bool(m, "write", p)
        a["vmas"] = _opt_num(m, "vmas", p, scope, lo=1, default=1, allow_dist=False)
        return a

    def _phases(self, phases, p, scope):
        if not isinstance(phases, list) or any(not isinstance(x, dict) for x in phases):
            _err(p, "must be an array of tables")
        return [self._phase(ph, f"{p}[{j}]", scope) for j, ph in enumerate(phases)]

    def _phase(self, ph, p, scope):
        kinds = [k for k in PHASE_KINDS if k in ph]
        if "wait" in ph and "fork" in ph:
            kinds.remove("wait")
        if not kinds:
            _err(p, f"a phase needs one of {', '.join(PHASE_KINDS)}")
        if len(kinds) > 1:
            _err(p, f"a phase is one of {', '.join(PHASE_KINDS)}; this one has "
                    f"{' and '.join(kinds)}")
        kind = kinds[0]
        a = {}
        if kind in ("mix", "access", "pattern"):
            keys = {"mix", "access", "runs", "refs", "run", "write"}
            if kind == "pattern":
                keys = (keys - {"mix", "access"}) | _COMP
            _check_keys(ph, p, keys)
            if "runs" in ph and "refs" in ph:
                _err(p, "give runs or refs, not both")
            a["runs"] = _opt_num(ph, "runs", p, scope, lo=0)
            a["refs"] = _opt_num(ph, "refs", p, scope, lo=0)
            a["run"] = _opt_num(ph, "run", p, scope, lo=1, allow_dist=False)
            wdef = _opt_num(ph, "write", p, scope, lo=0, hi=1, allow_dist=False) if kind != "pattern" else None
            if kind == "mix":
                if not isinstance(ph["mix"], str) or ph["mix"] not in self.spec.mixes:
                    _err(_join(p, "mix"), f"no mix {ph['mix']!r} (known: "
                                          f"{', '.join(self.spec.mixes) or 'none'})")
                a["mix"] = ph["mix"]
                a["comps"] = self.spec.mixes[ph["mix"]]
                a["write"] = wdef
            elif kind == "access":
                acc = ph["access"]
                if not isinstance(acc, list) or not acc:
                    _err(_join(p, "access"), "must be a non-empty array of access tables")
                a["comps"] = [self._comp(c, f"{p}.access[{j}]", scope, wdef) for j, c in enumerate(acc)]
            else:
                a["comps"] = [self._comp({k: v for k, v in ph.items() if k in _COMP}, p, scope, None)]
            comps = a["comps"]
            if a["runs"] is None and a["refs"] is None and not (len(comps) == 1 and comps[0].sweep):
                _err(p, "needs runs or refs (only a single sequential, loop or stride pattern "
                        "defaults to one pass)")
            if all(c.weight.is_const for c in comps) and sum(c.weight.const for c in comps) <= 0:
                _err(p, "the weights of its patterns add up to 0")
        elif kind == "fork":
            _check_keys(ph, p, {"fork", "count", "jobs", "wait", "index"})
            tgt = ph["fork"]
            if not isinstance(tgt, str) or tgt not in self.proc_names:
                _err(_join(p, "fork"), f"no process {tgt!r} (known: {', '.join(self.proc_names)})")
            if tgt == self.proc_names[0]:
                _err(_join(p, "fork"), f"{tgt!r} is init (the first process); it cannot be forked")
            a["proc"] = tgt
            a["count"] = _num(ph.get("count", 1), _join(p, "count"), scope, lo=0, forever=True)
            a["numbered"] = "count" in ph or "index" in ph
            a["jobs"] = _opt_num(ph, "jobs", p, scope, lo=1, allow_dist=False)
            a["wait"] = _bool(ph, "wait", p)
            a["index"] = _opt_num(ph, "index", p, scope, lo=0)
            if a["count"] == "forever" and a["jobs"] is None:
                _err(_join(p, "count"), '"forever" needs jobs (how many children at most at once)')
        elif kind == "exec":
            _check_keys(ph, p, {"exec", "libs", "heap", "stack", "startup"})
            prog = ph["exec"]
            if isinstance(prog, list):
                if not prog:
                    _err(_join(p, "exec"), "must not be an empty array")
                a["program"] = [self._program_ref(x, f"{p}.exec[{j}]") for j, x in enumerate(prog)]
            else:
                a["program"] = [self._program_ref(prog, _join(p, "exec"))]
            a["libs"] = self._libs(ph, p)
            a["heap"] = _num(ph.get("heap", 8), _join(p, "heap"), scope, lo=0)
            a["stack"] = _num(ph.get("stack", 4), _join(p, "stack"), scope, lo=1)
            a["startup"] = _bool(ph, "startup", p, True)
        elif kind in ("exit", "wait"):
            _check_keys(ph, p, {kind})
            if ph[kind] is not True:
                _err(_join(p, kind), "must be true")
        elif kind == "kill":
            _check_keys(ph, p, {"kill"})
            if not isinstance(ph["kill"], str) or ph["kill"] not in self.proc_names:
                _err(_join(p, "kill"), f"no process {ph['kill']!r} (known: {', '.join(self.proc_names)})")
            a["proc"] = ph["kill"]
        elif kind == "mmap":
            a = self._mapping(ph, p, scope, need_name=False)
        elif kind == "munmap":
            _check_keys(ph, p, {"munmap"})
            a["name"] = _name(ph["munmap"], _join(p, "munmap"), "region name")
        elif kind == "alloc":
            _check_keys(ph, p, {"alloc", "order", "count", "kind"}, required=("order",))
            a["name"] = _name(ph["alloc"], _join(p, "alloc"), "block name")
            a["order"] = _num(ph["order"], _join(p, "order"), scope, lo=0, hi=20, integer=True,
                              allow_dist=False)
            a["count"] = _opt_num(ph, "count", p, scope, lo=0, default=1)
            a["kind"] = ph.get("kind", "kernel")
            if a["kind"] not in ALLOC_KINDS:
                _err(_join(p, "kind"), f"must be one of {', '.join(ALLOC_KINDS)}, not {a['kind']!r}")
        elif kind == "free":
            _check_keys(ph, p, {"free"})
            a["name"] = _name(ph["free"], _join(p, "free"), "block name")
        elif kind in ("read_file", "write_file"):
            other = "into" if kind == "read_file" else "from"
            _check_keys(ph, p, {kind, "index", "first", "count", other, "at", "window"})
            a["file"] = self._file_ref(ph[kind], _join(p, kind))
            a["index"] = self._index(ph, p, scope, a["file"])
            a["first"] = _opt_num(ph, "first", p, scope, lo=0, default=0)
            a["count"] = _opt_num(ph, "count", p, scope, lo=0)
            a["buf"] = _name(ph[other], _join(p, other), "region name") if other in ph else None
            if "at" in ph and a["buf"] is None:
                _err(_join(p, "at"), f"applies with {other}")
            a["at"] = _opt_num(ph, "at", p, scope, lo=0, default=0)
            a["window"] = _num(ph.get("window", 16), _join(p, "window"), scope, lo=1, hi=1 << 16,
                               integer=True, allow_dist=False)
        elif kind == "repeat":
            _check_keys(ph, p, {"repeat", "var", "phases"}, required=("phases",))
            a["count"] = _num(ph["repeat"], _join(p, "repeat"), scope, lo=0, forever=True)
            var = ph.get("var", "k")
            if not isinstance(var, str) or not _VAR.match(var) or var in _RESERVED or var in self.spec.params:
                _err(_join(p, "var"), f"{var!r} cannot name a loop variable")
            a["var"] = var
            a["phases"] = self._phases(ph["phases"], _join(p, "phases"), scope | {var})
        elif kind == "choose":
            _check_keys(ph, p, {"choose"})
            alts = ph["choose"]
            if not isinstance(alts, list) or not alts:
                _err(_join(p, "choose"), "must be a non-empty array of {weight, phases} tables")
            a["alts"] = []
            for j, alt in enumerate(alts):
                ap = f"{p}.choose[{j}]"
                _check_keys(alt, ap, {"weight", "phases"}, required=("phases",))
                w = _num(alt.get("weight", 1), _join(ap, "weight"), (), lo=0, allow_dist=False).const
                a["alts"].append((w, self._phases(alt["phases"], _join(ap, "phases"), scope)))
            if sum(w for w, _ in a["alts"]) <= 0:
                _err(_join(p, "choose"), "the weights add up to 0")
        return Phase("access" if kind in ("mix", "access", "pattern") else kind, p, a)


class _AnyScope(frozenset):
    """The scope of a mix: it may be used inside any loop, so any name is accepted when the
    file is read and an unknown one is reported when the mix runs."""

    def __contains__(self, item):
        return True
