"""A progress bar on stderr for long replays (rich), silent when stderr is not a terminal."""
import sys


class Progress:
    def __init__(self, trace, enabled=True):
        self.trace = trace
        self.enabled = enabled and sys.stderr.isatty() and bool(getattr(trace, "total_bytes", None))
        self._bar = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (BarColumn, Progress as RichProgress, TextColumn,
                                       TimeRemainingColumn)
            self._bar = RichProgress(TextColumn("replaying"), BarColumn(),
                                     TextColumn("{task.percentage:>3.0f}%"),
                                     TimeRemainingColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("replay", total=self.trace.total_bytes)
        return self

    def update(self):
        if self._bar is not None:
            self._bar.update(self._task, completed=self.trace.bytes_done)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False
