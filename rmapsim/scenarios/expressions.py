"""The numbers of a scenario file: constants, expressions (strings over the params, ``scale``,
``i``, loop variables and the functions of ``FUNCTIONS``) and distributions, checked and compiled
into ``Num`` objects when the file is read and evaluated by the engine when they are used.
"""
from __future__ import annotations

import ast
import math

from rmapsim.scenarios.checks import _Fail, _check_keys, _err, _join, _tname

FUNCTIONS = ("min", "max", "round", "int", "abs", "floor", "ceil", "sqrt", "log", "exp",
             "pages", "total", "size")


class Num:
    """A number of the file: a constant, an expression (a string) or a distribution (a table
    ``{uniform = [lo, hi]}``, ``{lognormal = [median, sigma], min =, max =}``,
    ``{choice = [...]}``), evaluated by the engine when it is used."""
    __slots__ = ("const", "code", "dist", "text", "path")

    def __init__(self, path, const=None, code=None, dist=None, text=None):
        self.path, self.const, self.code, self.dist, self.text = path, const, code, dist, text

    @property
    def is_const(self):
        return self.code is None and self.dist is None

    @property
    def is_random(self):
        return self.dist is not None

    def __repr__(self):
        return f"Num({self.text})"


_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd)


def _compile_expr(text, path, scope):
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        _err(path, f"bad expression {text!r}: {e.msg}")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.Load)) or isinstance(node, _OPS):
            continue
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float, str)):
                _err(path, f"bad expression {text!r}: constant {node.value!r}")
            continue
        if isinstance(node, ast.Name):
            if node.id not in scope and node.id not in FUNCTIONS:
                _err(path, f"bad expression {text!r}: unknown name {node.id!r} (known: "
                           f"{', '.join(sorted(scope)) or 'none'})")
            continue
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                _err(path, f"bad expression {text!r}: only the functions "
                           f"{', '.join(FUNCTIONS)} may be called")
            continue
        _err(path, f"bad expression {text!r}: {type(node).__name__} not allowed")
    return compile(tree, f"<{path}>", "eval")


def _num(v, path, scope, *, lo=None, hi=None, integer=False, allow_dist=True, forever=False):
    """A ``Num`` from a TOML value; constants are checked against lo/hi/integer now."""
    if forever and v == "forever":
        return "forever"
    if isinstance(v, bool):
        _err(path, "must be a number, not a boolean")
    if isinstance(v, (int, float)):
        if not math.isfinite(v):
            _err(path, f"must be a finite number, not {v}")
        if integer and float(v) != int(v):
            _err(path, f"must be a whole number, not {v}")
        if lo is not None and v < lo:
            _err(path, f"must be at least {lo}, not {v}")
        if hi is not None and v > hi:
            _err(path, f"must be at most {hi}, not {v}")
        return Num(path, const=int(v) if integer else v, text=repr(v))
    if isinstance(v, str):
        code = _compile_expr(v, path, scope)
        try:                                # an expression of constants only: fold it now
            if not (_names(v) - {"min", "max", "round", "int", "abs", "floor", "ceil", "sqrt",
                                 "log", "exp"}):
                c = eval(code, dict(_SAFE_GLOBALS), {})
                return _num(c, path, scope, lo=lo, hi=hi, integer=integer, allow_dist=False)
        except _Fail:
            raise
        except Exception as e:
            _err(path, f"bad expression {v!r}: {e}")
        return Num(path, code=code, text=v)
    if isinstance(v, dict) and allow_dist:
        kinds = [k for k in ("uniform", "lognormal", "choice") if k in v]
        if len(kinds) != 1:
            _err(path, "a distribution table needs exactly one of uniform, lognormal, choice")
        kind = kinds[0]
        if kind == "lognormal":
            _check_keys(v, path, {"lognormal", "min", "max"})
        else:
            _check_keys(v, path, {kind})
        args = v[kind]
        p = _join(path, kind)
        if not isinstance(args, list):
            _err(p, f"must be an array, not {_tname(args)}")
        if kind == "uniform":
            if len(args) != 2:
                _err(p, "must be [low, high]")
            a = [_num(x, f"{p}[{j}]", scope, allow_dist=False) for j, x in enumerate(args)]
            if a[0].is_const and a[1].is_const and a[0].const > a[1].const:
                _err(p, f"low {a[0].const} is above high {a[1].const}")
            dist = ("uniform", a, None, None)
        elif kind == "lognormal":
            if len(args) != 2:
                _err(p, "must be [median, sigma]")
            a = [_num(args[0], f"{p}[0]", scope, lo=0, allow_dist=False),
                 _num(args[1], f"{p}[1]", scope, lo=0, allow_dist=False)]
            if a[0].is_const and a[0].const <= 0:
                _err(f"{p}[0]", "the median must be above 0")
            mn = _num(v["min"], _join(path, "min"), scope, allow_dist=False) if "min" in v else None
            mx = _num(v["max"], _join(path, "max"), scope, allow_dist=False) if "max" in v else None
            dist = ("lognormal", a, mn, mx)
        else:
            if not args:
                _err(p, "must not be empty")
            dist = ("choice", [_num(x, f"{p}[{j}]", scope, allow_dist=False)
                               for j, x in enumerate(args)], None, None)
        return Num(path, dist=dist, text=repr(v))
    what = "a number or an expression" + (", a distribution" if allow_dist else "") + \
        (' or "forever"' if forever else "")
    _err(path, f"must be {what}, not {_tname(v)}")


def _names(text):
    try:
        return {n.id for n in ast.walk(ast.parse(text.strip(), mode="eval")) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


_SAFE_GLOBALS = {"__builtins__": {}, "min": min, "max": max, "round": round, "int": int,
                 "abs": abs, "floor": math.floor, "ceil": math.ceil, "sqrt": math.sqrt,
                 "log": math.log, "exp": math.exp}


def _opt_num(d, key, path, scope, default=None, **kw):
    if key not in d:
        return default if default is None or isinstance(default, (Num, str)) else \
            Num(_join(path, key), const=default, text=repr(default))
    return _num(d[key], _join(path, key), scope, **kw)

