"""Progress bars, status lines, warnings and errors for long work, on stderr so stdout stays parseable.

Nothing here reads rich markup: messages carry paths, column names, labels and recipe keys
("quantize.precisions: [int8]") in which rich would take `[int8]` for a style tag and drop
it. Styles come from Text spans on the label only; the message is printed as given.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console(stderr=True, markup=False)


@contextmanager
def progress_bar(description: str, total: int) -> Iterator["Bar"]:
    """A bar with step count, elapsed, ETA and a free-text field (e.g. the loss).

    When stderr is not a terminal (CI logs) rich draws nothing live, so the bar also prints a
    line at every 10% to keep long steps visibly alive.
    """
    with Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total, info="")
        yield Bar(progress, task, description, total)


class Bar:
    def __init__(self, progress: Progress, task, description: str, total: int):
        self._progress, self._task = progress, task
        self._description, self._total = description, max(total, 1)
        self._done, self._next_line = 0, 0.1

    def advance(self, n: int = 1, info: str = "") -> None:
        self._done += n
        self._progress.update(self._task, advance=n, info=info)
        if not console.is_terminal and self._done / self._total >= self._next_line:
            console.print(f"  {self._description}: {self._done}/{self._total} {info}")
            self._next_line += 0.1


def status(message: str) -> None:
    console.print(Text.assemble((">", "bold cyan"), " ", message))


def notice(label: str, style: str, message: str) -> None:
    """One unwrapped line `label message` (the CLI's error and interrupt lines, warnings):
    a single line a script can grep for, the message verbatim."""
    console.print(Text.assemble((label, style), " ", message), highlight=False, soft_wrap=True)


def warning(message: str) -> None:
    """Something the user should know that does not stop the command."""
    notice("warning:", "yellow", message)


def error(message: str) -> None:
    """The one line a user error ends with (the CLI exits 2 after it)."""
    notice("error:", "bold red", message)


@contextmanager
def fds_to(fileobj, fds: tuple[int, ...] = (1, 2)) -> Iterator[None]:
    """Point the process-level file descriptors `fds` at `fileobj` (native code writes there,
    past Python's sys.stdout/sys.stderr), and restore them afterwards."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    for fd in fds:
        os.dup2(fileobj.fileno(), fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)


@contextmanager
def native_output_to(log_path: Path) -> Iterator[None]:
    """Send fd 1/2 (native runtime and converter logs, Python warnings) to a log file.

    The converters print hundreds of lines from C++ (absl, MLIR, XNNPACK); users need them
    only when something fails, and then the error names this file.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log, fds_to(log):
        yield
