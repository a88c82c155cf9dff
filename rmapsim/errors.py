"""Errors that are the user's, not the simulator's: the CLI prints them as one line, exit 2."""


class UserError(Exception):
    """A mistake in the input or the configuration; its str() is the whole one-line message."""


class TraceError(UserError):
    """A malformed, truncated or unreadable trace, located by line or byte offset."""

    def __init__(self, path, message, line=None, offset=None):
        self.path, self.line, self.offset = str(path), line, offset
        if line is not None:
            where = f"{self.path}:{line}: "
        elif offset is not None:
            where = f"{self.path}: byte offset {offset}: "
        else:
            where = f"{self.path}: "
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
