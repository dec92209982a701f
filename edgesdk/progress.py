"""Progress bars and status lines for long work, on stderr so stdout stays parseable."""

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

console = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int) -> Iterator["Bar"]:
    """A bar with step count, elapsed, ETA and a free-text field (e.g. the loss).

    When stderr is not a terminal (CI logs) rich draws nothing live, so the bar also prints a
    line at every 10% to keep long steps visibly alive.
    """
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
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
    console.print(f"[bold cyan]>[/] {message}")


def warning(message: str) -> None:
    """Something the user should know that does not stop the command (one unwrapped line;
    brackets in paths and column names are shown, not read as markup)."""
    from rich.markup import escape

    console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


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
