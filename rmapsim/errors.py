"""Errors that are the user's, not the simulator's: the CLI prints them as one line, exit 2."""
import contextlib
import contextvars
import difflib


class UserError(Exception):
    """A mistake in the input or the configuration; its str() is the whole one-line message."""


class TraceError(UserError):
    """A malformed, truncated or unreadable trace, located by line or byte offset."""

    def __init__(self, path, message, line=None, offset=None):
        self.path, self.line, self.offset = str(path), line, offset
        name = "<stdin>" if self.path == "-" else self.path       # trace path - is stdin
        if line is not None:
            where = f"{name}:{line}: "
        elif offset is not None:
            where = f"{name}: byte offset {offset}: "
        else:
            where = f"{name}: "
        self.message = message
        super().__init__(where + message)

    def relocate(self, location: str) -> "TraceError":
        """The same error placed at ``location`` ("line 12" or "byte offset 4096")."""
        if location.startswith("line "):
            return TraceError(self.path, self.message, line=int(location[5:]))
        if location.startswith("byte offset "):
            return TraceError(self.path, self.message, offset=int(location[12:]))
        return TraceError(self.path, f"{location}: {self.message}")


class ConfigError(UserError):
    """An impossible machine, unknown policy or parameter, or a conflicting option."""


class Note(UserWarning):
    """What the user should know of a choice made for them (a warning from Python; the CLI
    prints it as one line, ``rmapsim: note: ...``)."""


def did_you_mean(name, known, aliases=None) -> str:
    """'; did you mean X?' for the name in ``known`` (or the name an alias of ``aliases``, a
    dict, stands for) closest to ``name`` ignoring case; '' if none is close."""
    folded = {str(k).lower(): k for k in known}
    for spelling, meant in (aliases or {}).items():
        folded.setdefault(str(spelling).lower(), meant)
    near = difflib.get_close_matches(str(name).lower(), list(folded), n=1, cutoff=0.6)
    return f"; did you mean {folded[near[0]]}?" if near else ""


# How messages name an argument: ``mem=`` to a caller of the Python API, ``--mem`` on the command
# line (``cli.main`` sets it while it runs), so that each is told what it can change.
_CLI_NAMES = contextvars.ContextVar("rmapsim_cli_names", default=False)
_FLAGS = {"params": "--param"}


@contextlib.contextmanager
def cli_names():
    """Messages raised inside name command-line options."""
    token = _CLI_NAMES.set(True)
    try:
        yield
    finally:
        _CLI_NAMES.reset(token)


_UNSET = object()


def option(name: str, value=_UNSET, raw: bool = False) -> str:
    """The argument ``name`` of ``rmapsim.run`` as the user gave it: ``--mem 16`` on the command
    line, ``mem='16'`` from Python (``raw``: ``value`` is a placeholder, not repr'd there; True
    is a flag's value: ``--cache-mode``, ``cache_mode=True``)."""
    if _CLI_NAMES.get():
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        return flag if value is _UNSET or value is True else f"{flag} {value}"
    if value is _UNSET:
        return f"{name}="
    return f"{name}={value if raw else repr(value)}"
